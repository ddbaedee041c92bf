import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisAdapter } from '../../lib/redis/RedisAdapter';
import { ReplyWatch } from '../../lib/redis/ReplyWatch';
import { newId } from '../helpers/adapterContract';
import { startRedis, type RedisServer } from '../helpers/redisServer';

// The adapter's own client keeps its reply timeout (`readTimeout`) with one timer, ReplyWatch,
// instead of ioredis' per-command `commandTimeout` (issue #17). A private redis-server per test,
// stopped (SIGSTOP) to leave commands unanswered, and stopped for good by PID afterwards.

async function server(t: ExecutionContext): Promise<RedisServer> {
  const started = await startRedis();
  t.teardown(async () => {
    started.resume(); // (SIGCONT to a running server changes nothing)
    await started.stop();
  });
  return started;
}

/** A plain client as the adapter makes its own: no commandTimeout, no offline queue. */
async function plainClient(t: ExecutionContext, port: number): Promise<Redis> {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  t.teardown(() => client.disconnect());
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  return client;
}

const settled = (promise: Promise<unknown>, ms: number) => Promise.race([
  promise.then(() => 'answered', (err: Error) => `rejected: ${err.message}`),
  sleep(ms).then(() => 'waiting'),
]);

test.serial('ReplyWatch › a command left unanswered is rejected as ioredis\' own timeout would, not before the timeout and within 1.25 × it', async (t) => {
  const redis = await server(t);
  const client = await plainClient(t, redis.port);
  const watch = new ReplyWatch(client, 400);
  redis.pause();
  const started = performance.now();
  watch.arm();
  const err = await t.throwsAsync(client.get('k'));
  const took = performance.now() - started;
  t.is(err?.message, 'Command timed out');
  t.true(took >= 400 && took < 750, `${took.toFixed(0)} ms`);
});

test.serial('ReplyWatch › the control: without it, the same client leaves the command waiting past 1.5 × the timeout', async (t) => {
  const redis = await server(t);
  const client = await plainClient(t, redis.port);
  await client.set('k', 'v');
  redis.pause();
  const get = client.get('k');
  t.is(await settled(get, 600), 'waiting');
  redis.resume();
  t.is(await get, 'v');
});

test.serial('ReplyWatch › a reply that comes late but within the timeout is kept', async (t) => {
  const redis = await server(t);
  const client = await plainClient(t, redis.port);
  await client.set('k', 'v');
  const watch = new ReplyWatch(client, 400);
  redis.pause();
  watch.arm();
  const get = client.get('k');
  await sleep(250);
  redis.resume();
  t.is(await get, 'v');
});

test.serial('ReplyWatch › its timer stops once no reply is due, and runs again when armed', async (t) => {
  const redis = await server(t);
  const client = await plainClient(t, redis.port);
  const watch = new ReplyWatch(client, 100);
  watch.arm();
  t.true(watch.armed);
  await client.get('k');
  await sleep(80); // past a look (every 25 ms) that finds the queue empty
  t.false(watch.armed, 'no timer while nothing waits');
  watch.arm();
  t.true(watch.armed);
});

test.serial('ReplyWatch › the adapter\'s own client has no per-command timer, and each of its calls is bounded by readTimeout on a hung Redis', async (t) => {
  const redis = await server(t);
  const adapter = new RedisAdapter({ port: redis.port, readTimeout: 0.4, lockRetries: 1 });
  t.teardown(() => adapter.close());
  t.is((adapter.client.options as { commandTimeout?: number }).commandTimeout, undefined);
  const id = newId();
  await adapter.write(id, 'kept', 60);
  t.is(await adapter.read(id, undefined, 60), 'kept');
  redis.pause();
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['read', () => adapter.read(id, undefined, 60)],
    ['write', () => adapter.write(newId(), 'x', 60)],
    ['lock', () => adapter.lock!(newId(), { wait: 0.1 })],
    ['updateTimestamp', () => adapter.updateTimestamp(id, 'kept', 60)],
    ['validateId', () => adapter.validateId(id)],
    ['destroy', () => adapter.destroy(newId())],
  ];
  for (const [name, call] of calls) {
    const started = performance.now();
    const err = await t.throwsAsync(call(), undefined, name);
    const took = performance.now() - started;
    t.regex(String(err?.message), /timed out/i, name);
    t.true(took >= 400 && took < 750, `${name}: ${took.toFixed(0)} ms`);
  }
  const started = performance.now();
  await adapter.close(); // QUIT is bounded too
  t.true(performance.now() - started < 1000, 'close() on a hung Redis');
  redis.resume();
});

test.serial('ReplyWatch › a ready check a hung Redis never answers is given up: requests fail bounded, the client reconnects, and recovers once Redis answers', async (t) => {
  const redis = await server(t);
  redis.pause(); // the kernel still completes the TCP handshake: 'connect' fires, the ready check (INFO) waits
  const adapter = new RedisAdapter({ port: redis.port, readTimeout: 0.4 });
  t.teardown(() => adapter.close());
  // Without the watch armed by 'connect', nothing would ever give the ready check up (the client
  // has no commandTimeout, and connectTimeout ends at the handshake): it would wait in 'connect'.
  // Given up, ioredis ends the connection (a FIN the stopped server never answers, then a destroy
  // after its disconnectTimeout, 2 s) and connects again.
  const reconnecting = new Promise((resolve) => adapter.client.once('reconnecting', resolve));
  const id = newId();
  const started = performance.now();
  const err = await t.throwsAsync(adapter.read(id, undefined, 60));
  const took = performance.now() - started;
  t.regex(String(err?.message), /not reachable/);
  t.true(took >= 400 && took < 750, `${took.toFixed(0)} ms`);
  t.is(await settled(reconnecting, 3000), 'answered', 'the unanswered ready check ends the connection, and ioredis connects again');
  redis.resume();
  let value: string | null | undefined;
  for (let i = 0; i < 30 && value === undefined; i++) {
    value = await adapter.write(id, 'back', 60).then(() => adapter.read(id, undefined, 60), async () => { await sleep(100); return undefined; });
  }
  t.is(value, 'back', 'the adapter works again once Redis answers');
});
