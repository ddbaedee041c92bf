import test, { type ExecutionContext } from 'ava';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import type { LockOptions } from '../../lib/adapters/Adapter';
import { KeyedMutex } from '../../lib/adapters/KeyedMutex';
import { SessionLockTimeout } from '../../lib/errors';
import { generateId, idTag } from '../../lib/id';

const LONG: LockOptions = { wait: 30, expiry: 30 };

test('KeyedMutex › lock › a free key is granted at once with waitedMs 0', async (t) => {
  const mutex = new KeyedMutex();
  const held = await mutex.lock('a', LONG);
  t.is(held.id, 'a');
  t.is(held.waitedMs, 0);
  t.is(mutex.size, 1);
  t.true(held.held);
  await held.release();
  t.false(held.held, 'a released lock no longer counts as held (fenced writes check it)');
  t.is(mutex.size, 0);
});

test('KeyedMutex › tryLock › grants a free key at once, and nothing while it is held or waited for', async (t) => {
  const mutex = new KeyedMutex();
  const held = mutex.tryLock('a', LONG);
  t.truthy(held);
  t.is(held!.waitedMs, 0);
  t.is(mutex.tryLock('a', LONG), undefined, 'held: no second holder');
  const waiter = mutex.lock('a', LONG);
  await held!.release();
  t.is(mutex.tryLock('a', LONG), undefined, 'the queued waiter is next, tryLock does not jump the queue');
  const next = await waiter;
  t.true(next.held);
  await next.release();
  t.truthy(mutex.tryLock('a', LONG), 'free again');
});

test('KeyedMutex › lock › different keys do not block each other', async (t) => {
  const mutex = new KeyedMutex();
  await mutex.lock('a', LONG);
  const b = await mutex.lock('b', { wait: 0.1, expiry: 30 });
  t.is(b.waitedMs, 0);
  t.is(mutex.size, 2);
});

test('KeyedMutex › release › hands the lock to the waiters in FIFO order', async (t) => {
  const mutex = new KeyedMutex();
  const first = await mutex.lock('k', LONG);
  const order: number[] = [];
  const waiters = [1, 2, 3, 4, 5].map((n) =>
    mutex.lock('k', LONG).then(async (h) => {
      order.push(n);
      await tick();
      await h.release();
    }),
  );
  await tick();
  t.deepEqual(order, []);
  await first.release();
  await Promise.all(waiters);
  t.deepEqual(order, [1, 2, 3, 4, 5]);
  t.is(mutex.size, 0);
});

test('KeyedMutex › release › grants the next waiter at once, with the time it waited', async (t) => {
  const mutex = new KeyedMutex();
  const first = await mutex.lock('k', LONG);
  const next = mutex.lock('k', LONG);
  await sleep(100);
  const releasedAt = performance.now();
  await first.release();
  const handle = await next;
  t.true(performance.now() - releasedAt < 100);
  t.true(handle.waitedMs >= 50, `waitedMs ${handle.waitedMs}`);
});

test('KeyedMutex › release › is idempotent: a second release does not free the next holder', async (t) => {
  const mutex = new KeyedMutex();
  const first = await mutex.lock('k', LONG);
  const second = mutex.lock('k', LONG);
  await first.release();
  await second;
  await first.release();
  await t.throwsAsync(() => mutex.lock('k', { wait: 0.1, expiry: 30 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
});

test('KeyedMutex › timeout › rejects after `wait` and removes the waiter from the queue', async (t) => {
  const mutex = new KeyedMutex();
  const first = await mutex.lock('k', LONG);
  const started = performance.now();
  await t.throwsAsync(() => mutex.lock('k', { wait: 0.1, expiry: 30 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
  const elapsed = performance.now() - started;
  t.true(elapsed >= 50, `timed out after ${elapsed} ms`);
  // Queued behind the timed-out waiter: if that one kept its place, it would be granted the
  // lock on release and never give it back, and this waiter would time out.
  const later = mutex.lock('k', { wait: 1, expiry: 30 });
  await first.release();
  await (await later).release();
  t.is(mutex.size, 0);
});

test('KeyedMutex › timeout › a timed-out waiter in the middle of the queue is skipped', async (t) => {
  const mutex = new KeyedMutex();
  const first = await mutex.lock('k', LONG);
  const order: string[] = [];
  const a = mutex.lock('k', LONG).then((h) => (order.push('a'), h.release()));
  const quitter = mutex.lock('k', { wait: 0.05, expiry: 30 }).catch(() => order.push('timeout'));
  const b = mutex.lock('k', LONG).then((h) => (order.push('b'), h.release()));
  await quitter;
  await first.release();
  await Promise.all([a, b]);
  t.deepEqual(order, ['timeout', 'a', 'b']);
  t.is(mutex.size, 0);
});

test('KeyedMutex › expiry › a holder that does not renew loses the lock to the next waiter', async (t) => {
  const mutex = new KeyedMutex();
  const stale = await mutex.lock('k', { wait: 1, expiry: 0.1, renew: false });
  const next = await mutex.lock('k', { wait: 2, expiry: 30 });
  t.true(stale.lost);
  t.false(stale.held);
  t.false(next.lost);
  t.true(next.held);
  // Node's timers run off the loop's cached clock and can fire early against performance.now().
  t.true(next.waitedMs >= 50, `waitedMs ${next.waitedMs}`);
  await stale.release(); // late release of the lost lock must not free the new holder
  await t.throwsAsync(() => mutex.lock('k', { wait: 0.1, expiry: 30 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
  await next.release();
  t.is(mutex.size, 0);
});

test('KeyedMutex › expiry › a renewing holder keeps the lock past its expiry', async (t) => {
  const mutex = new KeyedMutex();
  const held = await mutex.lock('k', { wait: 1, expiry: 0.05 });
  await t.throwsAsync(() => mutex.lock('k', { wait: 0.15, expiry: 30 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
  t.false(held.lost);
});

test('KeyedMutex › tokens › every grant carries its own token', async (t) => {
  const mutex = new KeyedMutex();
  const tokens = new Set<string>();
  for (let n = 0; n < 50; n++) {
    const h = await mutex.lock('k', LONG);
    tokens.add(h.token);
    await h.release();
  }
  t.is(tokens.size, 50);
});

test('KeyedMutex › size › returns to 0 after many locks, releases and timeouts', async (t) => {
  const mutex = new KeyedMutex();
  const keys = ['a', 'b', 'c'];
  await Promise.all(
    Array.from({ length: 60 }, async (_, n) => {
      const h = await mutex.lock(keys[n % 3], { wait: n % 4 === 0 ? 0.001 : 10, expiry: 30 }).catch(() => undefined);
      await tick();
      await h?.release();
    }),
  );
  t.is(mutex.size, 0);
});

/** The SessionLockTimeout of a second lock on `key` while a first one holds it. */
async function timeoutOf(t: ExecutionContext, key: string, id?: string): Promise<SessionLockTimeout> {
  const mutex = new KeyedMutex();
  const held = await mutex.lock(key, LONG);
  const err = await t.throwsAsync(() => mutex.lock(key, { wait: 0.02, expiry: 30 }, id), { instanceOf: SessionLockTimeout, code: 'ERR_SESSION_LOCK_TIMEOUT' });
  await held.release();
  return err as SessionLockTimeout;
}

test('KeyedMutex › timeout › the error never shows the session id: a key that is the id itself is tagged', async (t) => {
  const id = generateId();
  const err = await timeoutOf(t, id);
  t.false(err.key.includes(id), err.key);
  t.false(err.message.includes(id), err.message);
  t.false(String(err.stack).includes(id));
  t.is(err.key, idTag(id), 'the tag matches the id\'s tag elsewhere in the logs');
  t.true(err.message.includes(idTag(id)), err.message);
});

test('KeyedMutex › timeout › without the id, a prefixed key is tagged whole', async (t) => {
  const id = generateId();
  const err = await timeoutOf(t, `sess-memory-${id}`);
  t.false(err.message.includes(id), err.message);
  t.is(err.key, idTag(`sess-memory-${id}`));
});

test('KeyedMutex › timeout › given the id, only the id in the key is tagged (the prefix stays readable)', async (t) => {
  const id = generateId();
  const err = await timeoutOf(t, `sess-memory-${id}`, id);
  t.false(err.message.includes(id), err.message);
  t.is(err.key, `sess-memory-${idTag(id)}`);
  t.regex(err.message, new RegExp(`sess-memory-${idTag(id)}`));
});
