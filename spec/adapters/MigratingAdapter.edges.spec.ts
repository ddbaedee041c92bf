import test from 'ava';
import { isMoveMarker, type Adapter } from '../../lib/adapters/Adapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { MigratingAdapter, type MigrationPhase } from '../../lib/adapters/MigratingAdapter';
import { newId } from '../helpers/adapterContract';
import { migratingApp } from '../helpers/migratingApp';
import { OutageAdapter, ReleasingAdapter, UnlockedAdapter } from '../helpers/outageAdapter';

// The edges a review found (sign-in without a lock, lock-releasing stores, destroy order, lock skipping, read-only sessions, one lockable store, stale old copies); each test failed before its fix.

const LOCK = { wait: 2, expiry: 30 };
const STORE_DOWN = { code: 'ERR_SESSION_STORE' };

for (const phase of ['both', 'new'] as const) {
  for (const how of ['locking: false', 'a { lock: false } route', 'stores without a lock'] as const) {
    test(`MigratingAdapter › ${phase}, ${how}: a sign-in without a lock keeps a session only the old store holds`, async (t) => {
      const plain = how === 'stores without a lock';
      const [from, to]: Adapter[] = plain ? [new UnlockedAdapter(), new UnlockedAdapter()] : [new MemoryAdapter(), new MemoryAdapter()];
      const old = await migratingApp(t, from);
      const send = await migratingApp(t, new MigratingAdapter({ from, to, phase }), { locking: how !== 'locking: false' });
      const sid = (await old('/seed')).sid!;
      const signedIn = await send(how === 'a { lock: false } route' ? '/unlocked/login' : '/login', sid);
      t.deepEqual(signedIn.body, { userId: 7, cart: ['book'] });
      t.truthy(signedIn.sid, 'the new id is sent');
      t.not(signedIn.sid, sid);
      t.deepEqual((await send('/whoami', signedIn.sid)).body, { userId: 7, cart: ['book'] }, 'still signed in');
      t.true(isMoveMarker(await to.read(sid)), 'the old id is a marker in the new store');
      t.deepEqual((await send('/whoami', sid)).body, { userId: null, cart: null });
    });
  }
}

test("MigratingAdapter › a cleanup after a lock-releasing new-store write never deletes another request's acknowledged write", async (t) => {
  const from = new OutageAdapter();
  const to = new ReleasingAdapter(); // as Redis and SQL: a locked write releases the lock
  const id = newId();
  await from.inner.write(id, 'v1', 60);
  const p = new MigratingAdapter({ from, to, phase: 'both' });
  const q = new MigratingAdapter({ from, to, phase: 'new' });
  const lp = await p.lock!(id, LOCK);
  t.is(await p.read(id, lp, 60), 'v1');
  let unstall!: () => void;
  from.stall = new Promise((resolve) => { unstall = resolve; });
  from.fail.add('write'); // the old store hangs, then times out
  const pWrite = p.write(id, 'v2-P', 60, lp, { existing: true });
  pWrite.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const lq = await q.lock!(id, { wait: 1, expiry: 30 }); // free: P's new-store write released it
  t.is(await q.read(id, lq, 60), 'v2-P');
  t.not(await q.write(id, 'v3-Q', 60, lq, { existing: true }), false, "Q's write is acknowledged");
  await lq.release();
  unstall();
  await t.throwsAsync(pWrite, STORE_DOWN);
  await lp.release();
  t.is(await to.read(id), 'v3-Q', "Q's write survives P's cleanup");
  t.is(await q.read(id), 'v3-Q');
});

test("MigratingAdapter › a refused copy is still taken back when nobody wrote since", async (t) => {
  const [from, to] = [new MemoryAdapter(), new ReleasingAdapter()];
  const a = new MigratingAdapter({ from, to, phase: 'both' });
  const id = newId();
  await from.write(id, 'v1', 60);
  const handle = await a.lock!(id, LOCK);
  await a.read(id, handle, 60);
  await from.destroy(id); // signed out meanwhile (a process without a lock)
  t.is(await a.write(id, 'v2', 60, handle, { existing: true }), false);
  await handle.release();
  t.is(await to.read(id), null);
});

test("MigratingAdapter › in 'copy' a logout whose new-store half fails is not undone by 'both'", async (t) => {
  const from = new MemoryAdapter();
  const to = new OutageAdapter();
  const copy = new MigratingAdapter({ from, to, phase: 'copy' });
  const both = new MigratingAdapter({ from, to, phase: 'both' });
  const id = newId();
  await copy.write(id, 'signed in', 60);
  to.fail.add('destroy');
  await t.throwsAsync(copy.destroy(id), STORE_DOWN, 'the logout fails loudly');
  to.fail.clear();
  t.is(await both.read(id), await copy.read(id), "'copy' and 'both' see the same: no logout half done");
  await copy.destroy(id); // the retry
  t.is(await both.read(id), null);
  t.is(await copy.read(id), null);
});

test("MigratingAdapter › 'both' never skips the old store's lock, which 'copy' processes rely on", async (t) => {
  const shared = new MemoryAdapter();
  const to = new MemoryAdapter();
  const copy = new MigratingAdapter({ from: shared, to, phase: 'copy' });
  const flaky = new OutageAdapter(shared);
  const both = new MigratingAdapter({ from: flaky, to, phase: 'both' });
  const id = newId();
  const held = await copy.lock!(id, LOCK);
  flaky.fail.add('lock');
  await t.throwsAsync(both.lock!(id, LOCK), STORE_DOWN, "no lock without the old one: a 'copy' process holds it");
  await held.release();
  await t.throwsAsync(both.lock!(id, LOCK), STORE_DOWN);
  flaky.fail.clear();
  await (await both.lock!(id, LOCK)).release();
});

/** A MemoryAdapter that records the `ttl` of each read (a store that extends on read would use it). */
class ReadSpy extends MemoryAdapter {
  readonly ttls: Array<number | undefined> = [];
  override async read(id: string, _lock?: unknown, ttl?: number): Promise<string | null> {
    this.ttls.push(ttl);
    return super.read(id);
  }
}

test("MigratingAdapter › 'new': a read never extends the old copy; one without a lock moves the session", async (t) => {
  const [from, to] = [new ReadSpy(), new MemoryAdapter()];
  const a = new MigratingAdapter({ from, to, phase: 'new' });
  const [locked, readOnly] = [newId(), newId()];
  await from.write(locked, 'L', 60);
  await from.write(readOnly, 'R', 60);
  const handle = await a.lock!(locked, LOCK);
  t.is(await a.read(locked, handle, 60), 'L');
  await handle.release();
  t.is(await a.read(readOnly, undefined, 60), 'R', 'a read-only route reads it');
  t.deepEqual(from.ttls.filter((ttl) => ttl !== undefined), [], 'the old store got no TTL to extend');
  t.is(await to.read(readOnly), 'R', 'moved into the new store');
  t.is(await from.read(readOnly), null, 'and out of the old one');
  t.is(await a.read(readOnly, undefined, 60), 'R');
});

test('MigratingAdapter › both stores lock, or neither; one lockable store is refused', (t) => {
  for (const phase of ['copy', 'both', 'new'] as MigrationPhase[]) {
    t.throws(() => new MigratingAdapter({ from: new MemoryAdapter(), to: new UnlockedAdapter(), phase }), { code: 'ERR_SESSION_INVALID_OPTION' }, phase);
    t.throws(() => new MigratingAdapter({ from: new UnlockedAdapter(), to: new MemoryAdapter(), phase }), { code: 'ERR_SESSION_INVALID_OPTION' }, phase);
    t.is(new MigratingAdapter({ from: new UnlockedAdapter(), to: new UnlockedAdapter(), phase }).lock, undefined);
  }
});

test("MigratingAdapter › 'both': a touch repairs the old copy a failed old-store write left behind", async (t) => {
  const from = new OutageAdapter();
  const to = new MemoryAdapter();
  const a = new MigratingAdapter({ from, to, phase: 'both' });
  const id = newId();
  await a.write(id, 'v1', 60);
  from.down = true;
  t.not(await a.write(id, 'v2', 60, undefined, { existing: true }), false);
  from.down = false;
  t.is(await from.read(id), 'v1', 'left behind');
  t.not(await a.updateTimestamp(id, 'v2', 60), false);
  await to.destroy(id); // the new store loses the record (eviction)
  t.is(await a.read(id), 'v2', 'never the stale v1');
});
