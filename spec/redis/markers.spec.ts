import test from 'ava';
import type { Redis } from 'ioredis';
import { MOVE_MARKER_PREFIX } from '../../lib/adapters/Adapter';
import { RedisAdapter, type RedisAdapterOptions } from '../../lib/redis/RedisAdapter';
import { newId } from '../helpers/adapterContract';
import { useRedis } from '../helpers/redisServer';

/**
 * Issue #17: a read-only read of the adapter's own keys is one GETEX (GET and the sliding TTL,
 * no script: READ's Lua took five times its time in Redis). GETEX would extend a move marker kept
 * under the data key, so the adapter keeps markers under `<data key>.moved`; these specs pin that
 * layout, the markers an earlier version left under data keys, and a Redis without GETEX. (The
 * contract suite, spec/redis/RedisAdapter.spec.ts, checks what every adapter does with markers.)
 */

const redis = useRedis(test);
/** A Redis without GETEX, as before 6.2 (renamed away: Redis answers "unknown command"). */
const old = useRedis(test, { args: ['--rename-command', 'GETEX', '""'] });

function adapter(t: { teardown(fn: () => unknown): void }, options: RedisAdapterOptions = {}, port = redis().port): RedisAdapter {
  const a = new RedisAdapter({ port, ...options });
  t.teardown(() => a.close());
  return a;
}

/** The names of the commands the adapter's client sends from now on. */
function commandsOf(a: RedisAdapter): string[] {
  const client = a.client as Redis;
  const sent: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    sent.push(command.name);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof client.sendCommand;
  return sent;
}

const key = (id: string) => `sess-reds-{${id}}`;
const marker = () => `${MOVE_MARKER_PREFIX}${newId()}`;

test('redis markers › a read of a live session is one GETEX, which refreshes its TTL; a missing one also looks under .moved', async (t) => {
  const a = adapter(t);
  const id = newId();
  await a.write(id, 'data', 5);
  const sent = commandsOf(a);
  t.is(await a.read(id, undefined, 3600), 'data');
  t.deepEqual(sent, ['getex']);
  t.true(Number(await redis().cli('PTTL', key(id))) > 3_500_000, 'the TTL slid to the lifetime');
  sent.length = 0;
  t.is(await a.read(newId(), undefined, 3600), null);
  t.deepEqual(sent, ['getex', 'get'], 'no record: its marker key is read too');
});

test('redis markers › a move marker goes under <key>.moved, the data key removed; reads find it and never extend it', async (t) => {
  const a = adapter(t);
  const [plain, locked, text] = [newId(), newId(), marker()];
  for (const id of [plain, locked]) await a.write(id, 'session', 3600);
  t.true(await a.write(plain, text, 60, undefined, { existing: true }) !== false);
  const lock = await a.lock!(locked, { wait: 2, expiry: 30 });
  t.true(await a.write(locked, text, 60, lock, { existing: true }) !== false, 'fenced, as the Manager writes it under the old lock');
  await lock.release();
  for (const id of [plain, locked]) {
    t.is((await redis().cli('EXISTS', key(id))).trim(), '0', 'the data key is gone');
    t.is(await a.read(id, undefined, 3600), text);
    const left = Number(await redis().cli('PTTL', `${key(id)}.moved`));
    t.true(left > 0 && left <= 60_000, `the marker keeps the TTL it was written with (${left} ms)`);
  }
  t.is(await a.write(plain, 'the old session again', 3600, undefined, { existing: true }), false, 'an update does not bring the session back');
  t.is(await a.destroy(plain), text, 'destroy resolves the marker, so it can be followed');
  t.is((await redis().cli('EXISTS', `${key(plain)}.moved`)).trim(), '0');
  t.is(await a.read(plain, undefined, 3600), null);
});

test('redis markers › a marker an earlier version left under the data key is read, then moved to .moved with at most a minute left', async (t) => {
  const a = adapter(t);
  const [id, text] = [newId(), marker()];
  await a.read(newId()); // connected (the adapter's client queues nothing while it connects)
  await (a.client as Redis).set(key(id), text, 'PX', 30_000);
  t.is(await a.read(id, undefined, 3600), text, 'the GETEX found it (and extended it)');
  t.is((await redis().cli('EXISTS', key(id))).trim(), '0');
  const left = Number(await redis().cli('PTTL', `${key(id)}.moved`));
  t.true(left > 0 && left <= 60_000, `moved with at most a minute (${left} ms), not the hour the GETEX gave it`);
  t.is(await a.read(id, undefined, 3600), text);
  t.true(Number(await redis().cli('PTTL', `${key(id)}.moved`)) <= left, 'and no later read extends it');
});

test('redis markers › on a Redis without GETEX a read runs READ: the TTL still slides, markers are still found', async (t) => {
  const a = adapter(t, {}, old().port);
  const [id, moved, text] = [newId(), newId(), marker()];
  await a.write(id, 'data', 5);
  await a.write(moved, 'session', 3600);
  await a.write(moved, text, 60, undefined, { existing: true });
  const sent = commandsOf(a);
  t.is(await a.read(id, undefined, 3600), 'data');
  t.true(Number(await old().cli('PTTL', key(id))) > 3_500_000, 'the TTL slid to the lifetime');
  t.is(await a.read(id, undefined, 3600), 'data');
  t.is(sent[0], 'getex');
  t.deepEqual(sent.filter((name) => name === 'getex'), ['getex'], 'refused once, then READ (EVALSHA, a first EVAL) without trying GETEX again');
  t.true(sent.slice(1).every((name) => name === 'evalsha' || name === 'eval'), sent.join());
  t.is(await a.read(moved, undefined, 3600), text);
});

test('redis markers › an ACL that refuses GETEX (NOPERM) but allows scripts: reads run READ', async (t) => {
  const user = `nogetex${newId().slice(0, 8)}`;
  await redis().cli('ACL', 'SETUSER', user, 'on', '>secret', '~*', '&*', '+@all', '-getex');
  t.teardown(() => redis().cli('ACL', 'DELUSER', user));
  const a = new RedisAdapter({ url: `redis://${user}:secret@127.0.0.1:${redis().port}` });
  t.teardown(() => a.close());
  const id = newId();
  await a.write(id, 'data', 5);
  const sent = commandsOf(a);
  t.is(await a.read(id, undefined, 3600), 'data');
  t.true(Number(await redis().cli('PTTL', key(id))) > 3_500_000, 'the TTL slid to the lifetime');
  t.is(sent[0], 'getex');
  t.true(sent.slice(1).length > 0 && sent.slice(1).every((name) => name === 'evalsha' || name === 'eval'), sent.join());
});
