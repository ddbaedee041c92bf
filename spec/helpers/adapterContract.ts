import { randomBytes } from 'node:crypto';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext, TestFn } from 'ava';
import { MOVE_MARKER_PREFIX, type Adapter, type LockHandle, type LockOptions } from '../../lib/adapters/Adapter';

/** What the contract may expect of an adapter. */
export interface ContractFeatures {
  /** The adapter implements `lock()`. */
  locking: boolean;
  /** What is written can be read back (false for a null adapter). */
  persistent: boolean;
  /**
   * For a store shared by processes: lose a lock inside the store behind its holder's back (the
   * lock key deleted, the lock file removed), and a second adapter on the same store, standing
   * for another process (its own in-process queue).
   */
  lockLoss?: {
    lose(adapter: Adapter, id: string): Promise<void>;
    twin(adapter: Adapter): Promise<Adapter>;
  };
}

/** Builds a fresh adapter for one test; `cleanup` runs when that test ends. */
export type MakeAdapter = () => Promise<{ adapter: Adapter; cleanup?: () => Promise<void> }>;

/** Ids that must never reach a key or a path. */
export const HOSTILE_IDS = ['../../etc/passwd', 'a/b', 'a\u0000b', 'x'.repeat(129), '', 'é'];

/** A fresh valid session id. */
export function newId(): string {
  return randomBytes(16).toString('hex');
}

const LONG: LockOptions = { wait: 30, expiry: 30 };

/**
 * How long after a write (or touch) with a TTL of `ttl` seconds has resolved the record must be
 * gone, in ms: the TTL, the second a store with whole-second expiry may add (memcached: the adapter
 * sends `ceil(ttl) + 1`, which lives N-1 to N of memcached's ticks), and 1.2 s for a loaded
 * machine (memcached's clock thread included).
 * Measured from the write's resolution, not its start: CI once failed memcached's cases when the
 * write itself took longer than the 0.2 s of room the older bound (TTL + 1.2 s from the start) left.
 */
const pastTtl = (ttl: number) => ttl * 1000 + 2200;
const INVALID_ID = { code: 'ERR_SESSION_INVALID_ID' };
const LOCK_TIMEOUT = { code: 'ERR_SESSION_LOCK_TIMEOUT' };
const LOCK_LOST = { code: 'ERR_SESSION_LOCK_LOST' };

/**
 * The adapter contract of `lib/adapters/Adapter.ts`, written once and registered for every
 * adapter as tests titled `<name> › contract › …`.
 *
 * @example
 * adapterContract(test, 'MemoryAdapter', async () => ({ adapter: new MemoryAdapter() }), { locking: true, persistent: true });
 */
export function adapterContract(test: TestFn, name: string, make: MakeAdapter, features: ContractFeatures): void {
  const title = (what: string) => `${name} › contract › ${what}`;

  async function setup(t: ExecutionContext): Promise<Adapter> {
    const { adapter, cleanup } = await make();
    if (cleanup) t.teardown(cleanup);
    return adapter;
  }

  /** `lock()` whose handle is released when the test ends, whatever happened. */
  function locker(t: ExecutionContext, adapter: Adapter) {
    return async (id: string, options: LockOptions = LONG): Promise<LockHandle> => {
      const handle = await adapter.lock!(id, options);
      t.teardown(() => handle.release().catch(() => undefined));
      return handle;
    };
  }

  test(title('read resolves null for a missing id'), async (t) => {
    const a = await setup(t);
    t.is(await a.read(newId()), null);
  });

  test(title('destroy succeeds for a missing id'), async (t) => {
    const a = await setup(t);
    const removed = await a.destroy(newId());
    t.true(removed === null || removed === undefined, `resolved ${String(removed)}`);
  });

  if (!features.persistent) {
    test(title('gc resolves 0: there is nothing to collect'), async (t) => {
      const a = await setup(t);
      t.is(await a.gc(1440), 0);
    });
    return;
  }

  test(title('destroy resolves the data it removed, so a move marker can be followed'), async (t) => {
    const a = await setup(t);
    const [id, marker] = [newId(), newId()];
    await a.write(id, 'gone now', 60);
    await a.write(marker, `${MOVE_MARKER_PREFIX}${newId()}`, 60);
    t.is(await a.destroy(id), 'gone now');
    t.true((await a.destroy(marker))?.startsWith(MOVE_MARKER_PREFIX));
    t.is(await a.read(marker), null);
  });

  test(title('update (existing) › writes over a live record and resolves true'), async (t) => {
    const a = await setup(t);
    const id = newId();
    await a.write(id, 'one', 60);
    t.not(await a.write(id, 'two', 60, undefined, { existing: true }), false);
    t.is(await a.read(id), 'two');
  });

  test(title('update (existing) › never brings back a destroyed, expired or missing record'), async (t) => {
    const a = await setup(t);
    const [destroyed, expired, missing] = [newId(), newId(), newId()];
    await a.write(destroyed, 'x', 60);
    await a.destroy(destroyed);
    await a.write(expired, 'x', 1);
    await sleep(pastTtl(1)); // past the 1 s TTL of `expired`
    for (const id of [destroyed, expired, missing]) {
      t.is(await a.write(id, 'back', 60, undefined, { existing: true }), false);
      t.is(await a.read(id), null);
    }
  });

  test(title('update (existing) › never replaces a move marker'), async (t) => {
    const a = await setup(t);
    const id = newId();
    const marker = `${MOVE_MARKER_PREFIX}${newId()}`;
    await a.write(id, marker, 60);
    t.is(await a.write(id, 'the old session again', 60, undefined, { existing: true }), false);
    t.is(await a.read(id), marker);
  });

  test(title('a move marker lives the time it was written with: no touch or read extends it'), async (t) => {
    const a = await setup(t);
    const id = newId();
    const marker = `${MOVE_MARKER_PREFIX}${newId()}`;
    // 3 s: the touch, the reads and the lock below must all find the marker alive, also on a
    // loaded machine (with 1 s, a store behind a busy pipeline sometimes took longer than that).
    await a.write(id, marker, 3);
    const written = Date.now(); // once the store has it: a write slow to arrive starts its TTL late
    if (a.updateTimestamp) t.not(await a.updateTimestamp(id, marker, 60), true, 'a touch reports no session');
    t.is(await a.read(id, undefined, 60), marker);
    if (a.lock) {
      // A locked read with the session TTL, then the release (Redis refreshes the TTL there).
      const handle = await a.lock(id, { wait: 2, expiry: 30 });
      t.is(await a.read(id, handle, 60), marker);
      await handle.release();
    }
    await sleep(Math.max(0, written + pastTtl(3) - Date.now()));
    t.is(await a.read(id), null);
  });

  test(title('gc resolves a count and removes nothing live'), async (t) => {
    const a = await setup(t);
    const id = newId();
    await a.write(id, 'live', 60);
    const removed = await a.gc(1440);
    t.true(Number.isInteger(removed) && removed >= 0, `resolved ${removed}`);
    t.is(await a.read(id), 'live');
  });

  for (const [what, data] of [
    ['plain text', '{"userId":42}'],
    ['unicode and control characters', 'Grüße, 世界 🎉 "\u0000\r\n\t\\'],
    ['data that starts with a number and a newline', '30\nnot a ttl'],
    ['an empty string', ''],
    ['a 1 MB string', 'ab€'.repeat(350_000)],
  ] as const) {
    test(title(`write then read returns ${what} unchanged`), async (t) => {
      const a = await setup(t);
      const id = newId();
      await a.write(id, data, 60);
      t.true((await a.read(id)) === data);
    });
  }

  test(title('write accepts the whole id alphabet up to 128 characters'), async (t) => {
    const a = await setup(t);
    const id = `aZ09,-${newId()}`.padEnd(128, ',');
    await a.write(id, 'x', 60);
    t.is(await a.read(id), 'x');
  });

  test(title('write overwrites the previous data'), async (t) => {
    const a = await setup(t);
    const id = newId();
    await a.write(id, 'one', 60);
    await a.write(id, 'two', 60);
    t.is(await a.read(id), 'two');
  });

  test(title('destroy removes the record and leaves others alone'), async (t) => {
    const a = await setup(t);
    const [id, other] = [newId(), newId()];
    await a.write(id, 'one', 60);
    await a.write(other, 'two', 60);
    await a.destroy(id);
    t.is(await a.read(id), null);
    t.is(await a.read(other), 'two');
  });

  test(title('a record is not served after its TTL'), async (t) => {
    const a = await setup(t);
    const id = newId();
    // 3 s for the first read to find it on a loaded machine; the second read past the TTL, the
    // second memcached may add, and room (a late second read only makes it safer).
    await a.write(id, 'short', 3);
    const written = Date.now(); // once the store has it: a write slow to arrive starts its TTL late
    t.is(await a.read(id), 'short');
    await sleep(Math.max(0, written + pastTtl(3) - Date.now()));
    t.is(await a.read(id), null);
  });

  test(title('validateId is true only for a live record'), async (t) => {
    const a = await setup(t);
    if (!a.validateId) return t.pass('validateId is optional');
    const [live, gone, expired] = [newId(), newId(), newId()];
    await a.write(live, 'x', 60);
    await a.write(gone, 'x', 60);
    await a.destroy(gone);
    await a.write(expired, 'x', 0.2);
    await sleep(350);
    t.true(await a.validateId(live));
    t.false(await a.validateId(gone));
    t.false(await a.validateId(expired));
    t.false(await a.validateId(newId()));
  });

  test.serial(title('updateTimestamp extends the life of a record'), async (t) => {
    const a = await setup(t);
    if (!a.updateTimestamp) return t.pass('updateTimestamp is optional');
    const id = newId();
    // Written for 3 s (room for a late touch on a loaded machine), touched for 8 s (alive at least
    // 2.8 s past the first read below).
    await a.write(id, 'kept', 3);
    const written = Date.now();
    t.not(await a.updateTimestamp(id, 'kept', 8), false);
    const touched = Date.now();
    await sleep(Math.max(0, written + pastTtl(3) - Date.now())); // past the written TTL
    t.is(await a.read(id), 'kept');
    await sleep(Math.max(0, touched + pastTtl(8) - Date.now())); // past the touched TTL
    t.is(await a.read(id), null);
  });

  test(title('updateTimestamp applies the TTL it is given'), async (t) => {
    const a = await setup(t);
    if (!a.updateTimestamp) return t.pass('updateTimestamp is optional');
    const [longer, shorter] = [newId(), newId()];
    // Three seconds before `longer` would expire untouched: under load the touch may be late
    // (with one, a store behind a busy pipeline sometimes touched an expired record).
    await a.write(longer, 'x', 3);
    const written = Date.now();
    await a.write(shorter, 'x', 60);
    await a.updateTimestamp(longer, 'x', 60);
    await a.updateTimestamp(shorter, 'x', 0.3);
    // Past the untouched 3 s (so that only the touch keeps `longer`), and so past the 0.3 s touch.
    await sleep(Math.max(0, written + pastTtl(3) - Date.now()));
    t.is(await a.read(longer), 'x');
    t.is(await a.read(shorter), null);
  });

  test(title('updateTimestamp never recreates a destroyed or missing record'), async (t) => {
    const a = await setup(t);
    if (!a.updateTimestamp) return t.pass('updateTimestamp is optional');
    const [destroyed, missing] = [newId(), newId()];
    await a.write(destroyed, 'x', 60);
    await a.destroy(destroyed);
    t.not(await a.updateTimestamp(destroyed, 'x', 60), true);
    t.not(await a.updateTimestamp(missing, 'x', 60), true);
    t.is(await a.read(destroyed), null);
    t.is(await a.read(missing), null);
  });

  test(title('updateTimestamp never revives an expired record'), async (t) => {
    const a = await setup(t);
    if (!a.updateTimestamp) return t.pass('updateTimestamp is optional');
    const id = newId();
    await a.write(id, 'x', 0.2);
    await sleep(350);
    await a.updateTimestamp(id, 'x', 60);
    t.is(await a.read(id), null);
  });

  test(title('gc removes expired records and keeps live ones'), async (t) => {
    const a = await setup(t);
    const [old, fresh] = [newId(), newId()];
    await a.write(old, 'old', 0.3);
    await sleep(900);
    await a.write(fresh, 'fresh', 60);
    // Both meanings of gc agree here: `old` is expired and idle for longer than 0.6 s, `fresh`
    // is live and idle for less (with room for a slow machine between the write and gc).
    const removed = await a.gc(0.6);
    t.true(Number.isInteger(removed) && removed >= 0);
    t.is(await a.read(old), null);
    t.is(await a.read(fresh), 'fresh');
  });

  test(title('ids outside [a-zA-Z0-9,-]{1,128} are rejected by every method'), async (t) => {
    const a = await setup(t);
    for (const id of HOSTILE_IDS) {
      const label = JSON.stringify(id.slice(0, 20));
      await t.throwsAsync(() => a.read(id), INVALID_ID, `read ${label}`);
      await t.throwsAsync(() => a.write(id, 'x', 60), INVALID_ID, `write ${label}`);
      await t.throwsAsync(() => a.destroy(id), INVALID_ID, `destroy ${label}`);
      if (a.updateTimestamp) await t.throwsAsync(() => a.updateTimestamp!(id, 'x', 60), INVALID_ID, `updateTimestamp ${label}`);
      if (a.validateId) await t.throwsAsync(() => a.validateId!(id), INVALID_ID, `validateId ${label}`);
      if (a.lock) await t.throwsAsync(() => a.lock!(id, LONG), INVALID_ID, `lock ${label}`);
    }
  });

  test(title('without locks, concurrent read-modify-write loses updates (the check below detects it)'), async (t) => {
    const a = await setup(t);
    const id = newId();
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        const n = Number((await a.read(id)) ?? 0);
        await tick();
        await a.write(id, String(n + 1), 60);
      }),
    );
    t.true(Number(await a.read(id)) < 100);
  });

  if (features.locking) lockingContract(test, title, setup, locker);
  if (features.locking && features.lockLoss) lockLossContract(test, title, setup, locker, features.lockLoss);
}

type Setup = (t: ExecutionContext) => Promise<Adapter>;
type Locker = (t: ExecutionContext, adapter: Adapter) => (id: string, options?: LockOptions) => Promise<LockHandle>;

function lockingContract(test: TestFn, title: (what: string) => string, setup: Setup, locker: Locker): void {
  test(title('lock › 100 concurrent locked read-modify-write loops lose no update'), async (t) => {
    const a = await setup(t);
    const id = newId();
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        const handle = await a.lock!(id, LONG);
        try {
          const n = Number((await a.read(id, handle)) ?? 0);
          await tick();
          await a.write(id, String(n + 1), 60, handle);
        } finally {
          await handle.release();
        }
      }),
    );
    t.is(await a.read(id), '100');
  });

  test(title('lock › a second lock on the same id waits until the first is released'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    const id = newId();
    const first = await lock(id);
    let acquiredAt = 0;
    const second = lock(id, { wait: 5, expiry: 30 }).then((h) => ((acquiredAt = performance.now()), h));
    await sleep(150);
    t.is(acquiredAt, 0, 'acquired while the first was held');
    const releasedAt = performance.now();
    await first.release();
    const handle = await second;
    t.true(acquiredAt >= releasedAt);
    t.true(acquiredAt - releasedAt < 1000, 'the waiter is woken on release, not after a long poll');
    t.true(handle.waitedMs >= 80, `waitedMs ${handle.waitedMs}`);
  });

  test(title('lock › a lock on a different id does not wait'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    await lock(newId());
    const other = await lock(newId(), { wait: 0.2, expiry: 30 });
    t.is(other.waitedMs, 0);
  });

  test(title('lock › waitedMs is 0 when the lock was free'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    const id = newId();
    t.is((await lock(id)).waitedMs, 0);
  });

  test(title('lock › times out after about `wait` seconds'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    const id = newId();
    await lock(id);
    const started = performance.now();
    await t.throwsAsync(() => lock(id, { wait: 0.2, expiry: 30 }), LOCK_TIMEOUT);
    const elapsed = performance.now() - started;
    t.true(elapsed >= 120 && elapsed < 3000, `timed out after ${elapsed} ms`);
  });

  test(title('lock › release is idempotent and never frees a later holder'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    const id = newId();
    const first = await lock(id);
    await first.release();
    await t.notThrowsAsync(first.release());
    await lock(id);
    await first.release();
    await t.throwsAsync(() => lock(id, { wait: 0.2, expiry: 30 }), LOCK_TIMEOUT);
  });

  test(title('lock › a released lock is handed to the waiters in arrival order'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    const id = newId();
    const first = await lock(id);
    const order: number[] = [];
    const waiters: Promise<void>[] = [];
    for (const n of [2, 3, 4]) {
      waiters.push(lock(id, { wait: 10, expiry: 30 }).then(async (h) => (order.push(n), await tick(), await h.release())));
      await sleep(20);
    }
    await first.release();
    await Promise.all(waiters);
    t.deepEqual(order, [2, 3, 4]);
  });

  test(title('lock › two handles never share an identity: a released handle cannot write'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    const id = newId();
    const first = await lock(id);
    await first.release();
    const second = await lock(id);
    const tokens = [first, second].map((h) => (h as unknown as { token?: unknown }).token);
    if (tokens[0] !== undefined) t.not(tokens[0], tokens[1]);
    await t.throwsAsync(() => a.write(id, 'stale', 60, first), LOCK_LOST);
    await a.write(id, 'current', 60, second);
    t.is(await a.read(id), 'current');
  });

  test(title('lock › fencing: a holder whose lock expired cannot overwrite the new holder'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    const id = newId();
    const first = await lock(id, { wait: 2, expiry: 0.2, renew: false });
    await sleep(300);
    const second = await lock(id, { wait: 2, expiry: 30 });
    await a.write(id, 'new', 60, second);
    await t.throwsAsync(() => a.write(id, 'old', 60, first), LOCK_LOST);
    t.is(await a.read(id), 'new');
  });

  test(title('lock › a renewed lock outlives its expiry and is not taken over'), async (t) => {
    const a = await setup(t);
    const lock = locker(t, a);
    const id = newId();
    const held = await lock(id, { wait: 2, expiry: 1.2 }); // renewed every 0.4 s
    await sleep(1600);
    await t.throwsAsync(() => lock(id, { wait: 0.2, expiry: 30 }), LOCK_TIMEOUT);
    await sleep(100);
    await t.notThrowsAsync(a.write(id, 'mine', 60, held));
    t.is(await a.read(id), 'mine');
  });
}

/** Whether the handle still counts itself as holding its lock (a getter, or FileLock's async check). */
async function believesHeld(handle: LockHandle): Promise<boolean> {
  const held = (handle as unknown as { held: boolean | (() => Promise<boolean>) }).held;
  return typeof held === 'function' ? held.call(handle) : held;
}

/**
 * The fence inside the store: a lock lost there while its holder still counts it as held (a
 * long GC pause, a failover, an operator's DEL) must not let the holder overwrite what the next
 * holder wrote. The in-process flags cannot decide these specs: only the store's own check can.
 */
function lockLossContract(test: TestFn, title: (what: string) => string, setup: Setup, locker: Locker, loss: NonNullable<ContractFeatures['lockLoss']>): void {
  test(title('lock loss in the store › the late write of the holder that lost it is refused, the newer data kept'), async (t) => {
    const a = await setup(t);
    const other = await loss.twin(a);
    t.teardown(() => other.close?.());
    const id = newId();
    await a.write(id, 'before', 60);
    const first = await locker(t, a)(id, { wait: 2, expiry: 30 });
    await loss.lose(a, id);
    const second = await locker(t, other)(id, { wait: 2, expiry: 30 });
    t.is(await other.read(id, second), 'before');
    await other.write(id, 'newer', 60, second);
    await second.release();
    await t.throwsAsync(() => a.write(id, 'stale', 60, first), LOCK_LOST);
    t.is(await a.read(id), 'newer');
  });

  test(title("lock loss in the store › a lock handle of another adapter is not taken for this adapter's own: no data read with it is served"), async (t) => {
    const a = await setup(t);
    const other = await loss.twin(a);
    t.teardown(() => other.close?.());
    const id = newId();
    await a.write(id, 'one', 60);
    const held = await locker(t, a)(id, { wait: 2, expiry: 30 }); // (a store that reads with the lock keeps 'one')
    await other.write(id, 'two', 60); // unlocked: locks are advisory
    t.is(await other.read(id, held), 'two', 'the other adapter reads its store, not what the handle read');
    await held.release();
  });

  test(title('lock loss in the store › noticed by the renewal: the holder stops counting it as held'), async (t) => {
    const a = await setup(t);
    const id = newId();
    await a.write(id, 'before', 60);
    const held = await locker(t, a)(id, { wait: 2, expiry: 0.9 }); // renewed every 0.3 s
    await loss.lose(a, id);
    const deadline = Date.now() + 10_000;
    while (await believesHeld(held) && Date.now() < deadline) await sleep(50);
    t.false(await believesHeld(held), 'a renewal found the lock gone');
    await t.throwsAsync(() => a.write(id, 'stale', 60, held), LOCK_LOST);
    t.is(await a.read(id), 'before');
  });
}
