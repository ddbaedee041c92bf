import test, { type ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMoveMarker, MOVE_MARKER_PREFIX, type Adapter } from '../../lib/adapters/Adapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { MigratingAdapter, type MigrationPhase } from '../../lib/adapters/MigratingAdapter';
import { adapterContract, newId } from '../helpers/adapterContract';
import { migratingApp } from '../helpers/migratingApp';
import { OutageAdapter } from '../helpers/outageAdapter';

const PHASES: MigrationPhase[] = ['copy', 'both', 'new'];
const INVALID_OPTION = { code: 'ERR_SESSION_INVALID_OPTION' };
const STORE_DOWN = { code: 'ERR_SESSION_STORE' };
const LOCK = { wait: 2, expiry: 30 };

for (const phase of PHASES) {
  adapterContract(test, `MigratingAdapter(Memory → Memory, ${phase})`, async () => ({
    adapter: new MigratingAdapter({ from: new MemoryAdapter(), to: new MemoryAdapter(), phase }),
  }), { locking: true, persistent: true });
}

/** Two stores and the migrating adapter over them. */
function stores(phase: MigrationPhase) {
  const from = new MemoryAdapter();
  const to = new MemoryAdapter();
  return { from, to, a: new MigratingAdapter({ from, to, phase }) };
}

// ---- options -------------------------------------------------------------------------------

test('MigratingAdapter › options › closed and checked: unknown keys with a hint, phase required, two distinct adapters', (t) => {
  const [from, to] = [new MemoryAdapter(), new MemoryAdapter()];
  const option = (f: () => unknown) => (t.throws(f, INVALID_OPTION) as Error & { option: string }).option;
  t.is(option(() => new MigratingAdapter({ from, to, phase: 'both', old: from } as never)), 'MigratingAdapter.old');
  t.regex(t.throws(() => new MigratingAdapter({ from, to, phase: 'both', writeOnly: to } as never))!.message, /use `to`/);
  t.regex(t.throws(() => new MigratingAdapter({ from, to, phse: 'both' } as never))!.message, /did you mean "phase"/);
  t.is(option(() => new MigratingAdapter({ from, to } as never)), 'phase');
  t.is(option(() => new MigratingAdapter({ from, to, phase: 'read-new' } as never)), 'phase');
  t.is(option(() => new MigratingAdapter({ from, to: from, phase: 'both' })), 'to');
  t.is(option(() => new MigratingAdapter(undefined as never)), 'MigratingAdapter');
  t.throws(() => new MigratingAdapter({ from: {} as Adapter, to, phase: 'both' }), { code: 'ERR_SESSION_INVALID_ADAPTER', message: /`from`/ });
  t.throws(() => new MigratingAdapter({ from, to: null as never, phase: 'both' }), { code: 'ERR_SESSION_INVALID_ADAPTER', message: /`to`/ });
});

test('MigratingAdapter › options › lock, lifetime and touchesOnRead follow the stores and the phase', (t) => {
  const noLock = { read: async () => null, write: async () => true, destroy: async () => null, gc: async () => 0 } as Adapter;
  for (const phase of PHASES) {
    t.is(typeof new MigratingAdapter({ from: new MemoryAdapter(), to: new MemoryAdapter(), phase }).lock, 'function', phase);
    t.is(new MigratingAdapter({ from: noLock, to: { ...noLock }, phase }).lock, undefined, `${phase}: neither store locks`);
    // One store locking and not the other: neighbouring phases would share no lock (review M5).
    t.throws(() => new MigratingAdapter({ from: noLock, to: new MemoryAdapter(), phase }), INVALID_OPTION);
  }
  const a = new MigratingAdapter({ from: { ...noLock, lifetime: 600 } as Adapter, to: { ...noLock, lifetime: 1800 } as Adapter, phase: 'both' });
  t.is(a.lifetime, 1800);
  t.is(new MigratingAdapter({ from: noLock, to: { ...noLock }, phase: 'both' }).lifetime, undefined);
  t.false(a.touchesOnRead);
});

// ---- reads ---------------------------------------------------------------------------------

test('MigratingAdapter › fallback read: the new store first, the old one only when the new one has nothing', async (t) => {
  for (const phase of ['both', 'new'] as const) {
    const { from, to, a } = stores(phase);
    const [onlyOld, inBoth, marked] = [newId(), newId(), newId()];
    await from.write(onlyOld, 'old data', 60);
    await from.write(inBoth, 'stale', 60);
    await to.write(inBoth, 'fresh', 60);
    await to.write(marked, `${MOVE_MARKER_PREFIX}${newId()}`, 60);
    await from.write(marked, 'pre-sign-in copy', 60);
    t.is(await a.read(onlyOld), 'old data', phase);
    t.is(await a.read(inBoth), 'fresh', `${phase}: never the old copy once the new store has it`);
    t.true(isMoveMarker(await a.read(marked)), `${phase}: a marker in the new store hides the old copy`);
    t.is(await a.read(newId()), null);
  }
  const { from, to, a } = stores('copy');
  const id = newId();
  await from.write(id, 'the store', 60);
  await to.write(id, 'a copy', 60);
  t.is(await a.read(id), 'the store', "'copy' reads the old store alone");
});

test("MigratingAdapter › the old store down: sessions the new store holds are still read, written and touched ('new': locked too)", async (t) => {
  for (const phase of ['both', 'new'] as const) {
    const from = new OutageAdapter();
    const to = new MemoryAdapter();
    const a = new MigratingAdapter({ from, to, phase });
    const [moved, unmoved] = [newId(), newId()];
    await a.write(moved, 'v1', 60);
    await from.inner.write(unmoved, 'only in the old store', 60);
    from.down = true;
    // 'both' never skips the old lock: a 'copy' process beside it holds only that one (review M1).
    if (phase === 'both') await t.throwsAsync(a.lock!(moved, LOCK), STORE_DOWN, "'both': no lock without the old store");
    const handle = phase === 'new' ? await a.lock!(moved, LOCK) : undefined;
    t.is(await a.read(moved, handle, 60), 'v1', phase);
    t.true(await a.write(moved, 'v2', 60, handle, { existing: true }) !== false);
    await handle?.release();
    t.true(await a.updateTimestamp(moved, 'v2', 60) !== false);
    t.is(await to.read(moved), 'v2');
    // What cannot be answered without the old store fails loudly, never as "no session".
    await t.throwsAsync(a.read(unmoved), STORE_DOWN, `${phase}: a session the new store lacks`);
    await t.throwsAsync(a.write(moved, `${MOVE_MARKER_PREFIX}${newId()}`, 60, undefined, { existing: true }), STORE_DOWN, `${phase}: a sign-in (marker)`);
    await t.throwsAsync(a.destroy(moved), STORE_DOWN, `${phase}: a logout`);
    t.is(await to.read(moved), 'v2', `${phase}: a failed logout removed nothing (the old store goes first)`);
    from.down = false;
    if (phase === 'both') t.is(await from.read(moved), 'v1', 'the old copy was left behind, older');
    t.is(await a.read(moved), 'v2', 'and is never served');
  }
  const from = new OutageAdapter();
  const a = new MigratingAdapter({ from, to: new MemoryAdapter(), phase: 'copy' });
  from.down = true;
  await t.throwsAsync(a.read(newId()), STORE_DOWN, "'copy': the old store is the store");
});

test('MigratingAdapter › the new store down: an error in every phase, and no empty session from the fallback', async (t) => {
  for (const phase of PHASES) {
    const from = new MemoryAdapter();
    const to = new OutageAdapter();
    const a = new MigratingAdapter({ from, to, phase });
    const id = newId();
    await from.write(id, 'kept', 60);
    to.down = true;
    if (phase !== 'copy') await t.throwsAsync(a.read(id), STORE_DOWN, phase);
    await t.throwsAsync(a.write(id, 'x', 60, undefined, { existing: true }), STORE_DOWN, phase);
    t.is(await from.read(id), 'kept', `${phase}: the old store unchanged (in 'copy' the new store writes first)`);
  }
});

// ---- copy on update ------------------------------------------------------------------------

test('MigratingAdapter › copy-on-update: a session only the old store holds is copied under the new lock', async (t) => {
  for (const phase of ['both', 'new'] as const) {
    for (const locked of [true, false]) {
      const { from, to, a } = stores(phase);
      const id = newId();
      await from.write(id, 'v1', 60);
      const handle = locked ? await a.lock!(id, LOCK) : undefined;
      t.is(await a.read(id, handle, 60), 'v1');
      t.not(await a.write(id, 'v2', 60, handle, { existing: true }), false);
      await handle?.release();
      const label = `${phase}, ${locked ? 'locked' : 'unlocked'}`;
      t.is(await to.read(id), 'v2', `${label}: copied into the new store`);
      t.is(await from.read(id), phase === 'both' ? 'v2' : null, `${label}: 'both' keeps the old copy in step, 'new' removes it`);
    }
  }
});

test('MigratingAdapter › copy-on-touch: an unchanged session only the old store holds moves too, with the TTL given', async (t) => {
  for (const phase of ['both', 'new'] as const) {
    const { from, to, a } = stores(phase);
    const id = newId();
    await from.write(id, 'same', 1);
    const handle = await a.lock!(id, LOCK);
    await a.read(id, handle, 3);
    t.not(await a.updateTimestamp(id, 'same', 3, handle), false);
    await handle.release();
    await sleep(1500); // past the old TTL, within the touched one
    t.is(await to.read(id), 'same', phase);
    t.is(await a.read(id), 'same');
  }
});

test('MigratingAdapter › no copy of what the old store no longer holds: destroyed, expired, or moved away', async (t) => {
  for (const phase of ['both', 'new'] as const) {
    const { from, to, a } = stores(phase);
    const [destroyed, marked] = [newId(), newId()];
    await from.write(destroyed, 'x', 60);
    const handle = await a.lock!(destroyed, LOCK);
    await a.read(destroyed, handle, 60);
    await from.destroy(destroyed); // another process (on the old adapter) signed out meanwhile
    t.is(await a.write(destroyed, 'back', 60, handle, { existing: true }), false, phase);
    t.is(await a.updateTimestamp(destroyed, 'back', 60, handle), false);
    await handle.release();
    await from.write(marked, `${MOVE_MARKER_PREFIX}${newId()}`, 60);
    t.is(await a.write(marked, 'the old session again', 60, undefined, { existing: true }), false);
    for (const id of [destroyed, marked]) t.is(await to.read(id), null, `${phase}: nothing copied`);
  }
});

test("MigratingAdapter › 'copy': every write and touch puts the whole record into the new store", async (t) => {
  const { from, to, a } = stores('copy');
  const id = newId();
  await a.write(id, 'v1', 60);
  await to.write(id, 'stale copy', 60); // as a process on the old adapter alone leaves it
  await from.write(id, 'v2', 60);
  t.not(await a.updateTimestamp(id, 'v2', 60), false);
  t.is(await to.read(id), 'v2', 'a touch brings the copy up to date');
  t.is(await a.write(newId(), 'x', 60, undefined, { existing: true }), false, 'an update of nothing');
});

// ---- destroy, TTL, gc, validateId ------------------------------------------------------------

test('MigratingAdapter › destroy removes the session from both stores, so the fallback cannot bring it back', async (t) => {
  for (const phase of PHASES) {
    const { from, to, a } = stores(phase);
    const id = newId();
    await from.write(id, 'old copy', 60);
    await to.write(id, 'new copy', 60);
    t.is(await a.destroy(id), phase === 'copy' ? 'old copy' : 'new copy', phase);
    t.is(await from.read(id), null);
    t.is(await to.read(id), null);
    t.is(await a.read(id), null);
    t.false(await a.validateId(id));
  }
});

test("MigratingAdapter › TTLs in step: a touch refreshes both stores in 'both'; the old copy never outlives the new one", async (t) => {
  const { from, to, a } = stores('both');
  const id = newId();
  await a.write(id, 'x', 1);
  t.not(await a.updateTimestamp(id, 'x', 4), false);
  await sleep(1600);
  t.is(await from.read(id), 'x');
  t.is(await to.read(id), 'x');
  const gone = newId();
  await a.write(gone, 'y', 0.5);
  await sleep(700);
  t.is(await a.read(gone), null, 'expired in both');
});

test('MigratingAdapter › gc runs in both stores; validateId sees either', async (t) => {
  const { from, to, a } = stores('both');
  await from.write(newId(), 'x', 0.1);
  await to.write(newId(), 'x', 0.1);
  await sleep(200);
  t.is(await a.gc(1440), 2);
  const id = newId();
  await from.write(id, 'x', 60);
  t.true(await a.validateId(id));
});

test('MigratingAdapter › neighbouring phases share a lock and take them in one order', async (t) => {
  const [from, to] = [new MemoryAdapter(), new MemoryAdapter()];
  const [copy, both, last] = PHASES.map((phase) => new MigratingAdapter({ from, to, phase }));
  for (const [holder, waiter] of [[copy, both], [both, copy], [both, last], [last, both]] as const) {
    const id = newId();
    const held = await holder.lock!(id, LOCK);
    await t.throwsAsync(waiter.lock!(id, { wait: 0.2, expiry: 30 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' }, `${waiter.phase} waits for ${holder.phase}`);
    await held.release();
    await (await waiter.lock!(id, LOCK)).release();
  }
});

// ---- markers and stale copies, through the middleware ----------------------------------------

/** The app of these specs: locking on, a 1.5 s lifetime (markers live as long). */
const app = (t: ExecutionContext, adapter: Adapter) => migratingApp(t, adapter, { lifetime: 1.5 });

for (const phase of ['both', 'new'] as const) {
  test(`MigratingAdapter › markers (${phase}): a sign-in of a session only the old store held; the old id serves nothing, also after the marker`, async (t) => {
    const [from, to] = [new MemoryAdapter(), new MemoryAdapter()];
    const old = await app(t, from);
    const send = await app(t, new MigratingAdapter({ from, to, phase }));
    const sid = (await old('/seed')).sid!; // made before the move: in the old store alone
    const signedIn = await send('/login', sid);
    t.deepEqual(signedIn.body, { userId: 7, cart: ['book'] });
    t.deepEqual((await send('/whoami', sid)).body, { userId: null, cart: null }, 'the marker is read first');
    await sleep(1800); // the marker and the new store's… every copy of the old id expired
    t.deepEqual((await send('/whoami', sid)).body, { userId: null, cart: null }, 'no old copy comes back after the marker');
  });

  test(`MigratingAdapter › stale copy (${phase}): one left in the old store is never served, not after a sign-in, not after a logout`, async (t) => {
    const [from, to] = [new MemoryAdapter(), new MemoryAdapter()];
    const send = await app(t, new MigratingAdapter({ from, to, phase }));
    const sid = (await send('/seed')).sid!;
    // A stale copy that outlives the new one: an old write that failed, an operator's restore.
    const stale = (await to.read(sid))!.replace('book', 'stale');
    await from.write(sid, stale, 600);
    t.deepEqual((await send('/whoami', sid)).body.cart, ['book']);
    const signedIn = (await send('/login', sid)).sid!;
    await from.write(signedIn, (await to.read(signedIn))!.replace('book', 'stale'), 600);
    await send('/logout', signedIn);
    t.deepEqual((await send('/whoami', signedIn)).body, { userId: null, cart: null }, 'the logout reached the old store');
    await sleep(1800); // past the marker's life
    t.deepEqual((await send('/whoami', sid)).body, { userId: null, cart: null }, 'the marker reached the old store');
  });
}
