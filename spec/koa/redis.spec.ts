import test, { type ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import { Redis } from 'ioredis';
import { session } from '../../lib/koa/middleware';
import { sessionPolicy } from '../../lib/koa/policy';
import { RedisAdapter, type RedisAdapterOptions } from '../../lib/redis/RedisAdapter';
import { Client, listen } from '../helpers/http';
import { startRedis, useRedis, type RedisServer } from '../helpers/redisServer';

// One private server for the load and round-trip specs; the fault specs start their own.
const shared = useRedis(test);

async function serve(t: ExecutionContext, server: RedisServer, options: RedisAdapterOptions = {}, locking = true) {
  const adapter = new RedisAdapter({ port: server.port, ...options });
  const app = new Koa();
  app.silent = true;
  app.use(session({ adapter, gc: false, locking }));
  app.use(async (ctx) => {
    if (ctx.path === '/inc') {
      const n = ctx.session.get<number>('n', 0)!;
      if (ctx.query.delay) await sleep(Number(ctx.query.delay));
      ctx.session.set('n', n + 1);
      ctx.body = { n: n + 1 };
    } else if (ctx.path === '/throw') {
      ctx.session.set('thrown', true);
      throw new Error('handler failed');
    } else if (ctx.path === '/read') {
      ctx.body = { n: ctx.session.get('n') };
    } else {
      ctx.body = 'nothing';
    }
  });
  const http = await listen(app);
  t.teardown(async () => {
    await http.close();
    await adapter.close();
  });
  return { adapter, client: new Client(http.url), url: http.url };
}

async function increments(t: ExecutionContext, locking: boolean, count: number): Promise<number> {
  const { client, url } = await serve(t, shared(), { lockingEnabled: locking, lockRetries: 1200 }, locking);
  await client.fetch('/inc');
  const cookie = `sid=${client.jar.get('sid')}`;
  const responses = await Promise.all(Array.from({ length: count }, () => fetch(`${url}/inc?delay=1`, { headers: { cookie } })));
  await Promise.all(responses.map((r) => r.arrayBuffer()));
  t.true(responses.every((r) => r.status === 200));
  return (await client.json('/read')).n - 1;
}

test.serial('Redis › concurrency › 500 concurrent increments of one session with locking end at exactly 500', async (t) => {
  t.is(await increments(t, true, 500), 500);
});

test.serial('Redis › concurrency › with locking off the same load loses updates (so the spec above can fail)', async (t) => {
  const n = await increments(t, false, 500);
  t.log(`without locking: ${n} of 500 increments survived`);
  t.true(n < 500);
});

/** The commands a request sends, as the server sees them (MONITOR), without those run by scripts. */
async function roundTrips(t: ExecutionContext, server: RedisServer, request: () => Promise<unknown>): Promise<string[]> {
  const base = new Redis({ port: server.port, lazyConnect: true });
  const monitor = await base.monitor();
  t.teardown(() => {
    monitor.disconnect();
    base.disconnect();
  });
  const seen: string[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') seen.push(args[0].toLowerCase());
  });
  await sleep(50);
  await request();
  await sleep(50);
  monitor.disconnect();
  return seen;
}

for (const locking of [false, true]) {
  test.serial(`Redis › round trips › locking ${locking ? 'on' : 'off'}: read-only ${locking ? 2 : 1}, writing 2, new visitor storing nothing 0`, async (t) => {
    const server = shared();
    const { client } = await serve(t, server, { lockingEnabled: locking });
    await client.fetch('/inc'); // a session exists; every script is loaded (EVALSHA finds it)
    await client.fetch('/read');
    await client.fetch('/inc');
    const readOnly = await roundTrips(t, server, () => client.fetch('/read'));
    const writing = await roundTrips(t, server, () => client.fetch('/inc'));
    const visitor = await roundTrips(t, server, () => new Client(client.base).fetch('/nothing'));
    t.log({ readOnly, writing, visitor });
    t.is(readOnly.length, locking ? 2 : 1);
    t.is(writing.length, 2);
    t.deepEqual(visitor, []);
    // A read is GETEX; a lock, its release and a fenced or update write are scripts.
    t.true([...readOnly, ...writing].every((c) => c === 'getex' || c === 'evalsha' || c === 'set'));
  });
}

test.serial('Redis › round trips › with locking on, a read-only route costs 1 round trip and a locked write 2', async (t) => {
  const server = shared();
  const adapter = new RedisAdapter({ port: server.port, lockingEnabled: true });
  const app = new Koa();
  app.silent = true;
  app.use(session({ adapter, gc: false, start: 'lazy' }));
  const readOnly = sessionPolicy({ readOnly: true });
  const locked = sessionPolicy();
  app.use((ctx, next) => (ctx.path === '/read' ? readOnly : locked)(ctx, next));
  app.use((ctx) => {
    if (ctx.path === '/inc') ctx.session.set('n', ctx.session.get<number>('n', 0)! + 1);
    ctx.body = { n: ctx.session.get('n') };
  });
  const http = await listen(app);
  t.teardown(async () => {
    await http.close();
    await adapter.close();
  });
  const client = new Client(http.url);
  await client.fetch('/inc');
  await client.fetch('/read');
  await client.fetch('/inc');
  const reads = await roundTrips(t, server, () => client.fetch('/read'));
  const writes = await roundTrips(t, server, () => client.fetch('/inc'));
  t.log({ reads, writes });
  t.deepEqual(reads, ['getex'], 'GET and the sliding TTL in one command, no script');
  t.deepEqual(writes, ['evalsha', 'evalsha']);
  t.deepEqual(await client.json('/read'), { n: 3 });
});

test.serial('Redis › round trips › a new visitor who stores data costs one write', async (t) => {
  const server = shared();
  const { client } = await serve(t, server, { lockingEnabled: true });
  await client.fetch('/inc');
  const fresh = await roundTrips(t, server, () => new Client(client.base).fetch('/inc'));
  t.deepEqual(fresh, ['set']);
});

test.serial('Redis › locking › no lock is left behind by a handler that throws or a client that disconnects', async (t) => {
  const server = shared();
  const { client, url } = await serve(t, server, { lockingEnabled: true });
  await client.fetch('/inc');
  const id = client.jar.get('sid')!;
  const lockKey = `sess-reds-{${id}}.lock`;
  t.is((await client.fetch('/throw')).status, 500);
  t.is((await server.cli('EXISTS', lockKey)).trim(), '0', 'released after the throw');
  const abort = new AbortController();
  const gone = fetch(`${url}/inc?delay=300`, { headers: { cookie: `sid=${id}` }, signal: abort.signal }).catch(() => 'aborted');
  await sleep(100);
  t.is((await server.cli('EXISTS', lockKey)).trim(), '1', 'held while the handler runs');
  abort.abort();
  t.is(await gone, 'aborted');
  await sleep(400);
  t.is((await server.cli('EXISTS', lockKey)).trim(), '0', 'released although the client left');
  t.is((await client.json('/read')).n, 2, 'and the disconnected request still committed');
});

/** Sequential increments until `until()` is true or `limit` ms have passed; what each request got. */
type Result = { status: number; n?: number; ms: number };
async function load(client: Client, until: (results: Result[]) => boolean, limit: number) {
  const results: Result[] = [];
  const end = Date.now() + limit;
  while (!until(results) && Date.now() < end && results.length < 2000) {
    const started = Date.now();
    const res = await client.fetch('/inc');
    const body = res.status === 200 ? (await res.json()) as { n: number } : (await res.text(), undefined);
    results.push({ status: res.status, n: body?.n, ms: Date.now() - started });
  }
  return results;
}

test.serial('Redis › outage › killed and restarted: bounded 503s while down, recovery without restart, nothing written back empty', async (t) => {
  // Append-only with fsync on every write, so a crash keeps what was acknowledged.
  const server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  t.teardown(() => server.stop());
  const { client } = await serve(t, server, { lockingEnabled: true, lockExpiry: 2 });
  const before = await load(client, () => false, 300);
  await server.kill();
  const down = await load(client, () => false, 1500);
  await server.restart();
  const after = await load(client, (results) => results.filter((r) => r.status === 200).length >= 20, 10_000);
  t.log(`before: ${before.length} ok; while down: ${down.length} requests, slowest ${Math.max(...down.map((r) => r.ms))} ms; after: ${after.length} requests`);
  t.true(before.every((r) => r.status === 200));
  t.true(down.length > 0 && down.every((r) => r.status === 503), 'every request while down is a 503');
  t.true(down.every((r) => r.ms < 2500), 'none waits much past a second');
  t.true(after.filter((r) => r.status === 200).length >= 20, 'requests succeed again with no restart of the app');
  const counts = [...before, ...after].filter((r) => r.status === 200).map((r) => r.n!);
  for (let i = 1; i < counts.length; i++) t.true(counts[i] > counts[i - 1], `never reset: ${counts[i - 1]} then ${counts[i]}`);
});

test.serial('Redis › outage › a hung Redis (SIGSTOP) gives the same bounded 503, then works when it resumes', async (t) => {
  const server = await startRedis();
  t.teardown(() => server.stop());
  const { client } = await serve(t, server, { lockingEnabled: true });
  t.is((await client.fetch('/inc')).status, 200);
  server.pause();
  const started = Date.now();
  const res = await client.fetch('/inc');
  const took = Date.now() - started;
  t.is(res.status, 503);
  t.false((await res.text()).includes('timed out'), 'no detail in the response');
  t.true(took >= 900 && took < 2500, `${took} ms`);
  server.resume();
  await sleep(100);
  const resumed = await load(client, () => false, 3000);
  t.true(resumed.some((r) => r.status === 200));
});
