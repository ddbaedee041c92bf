import test from 'ava';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { Manager, type ManagerOptions } from '../../lib/Manager';
import { EventEmitter } from 'node:events';
import { FakeTransport } from '../helpers/doubles';

/** A stored session `{ cart: 'x' }` and a way to open it again, as another request would. */
async function storedSession(options: ManagerOptions = {}) {
  const store = new MemoryAdapter();
  const events = new EventEmitter();
  const seen: Record<string, unknown[]> = {};
  for (const name of ['session:discarded', 'session:destroyed']) events.on(name, (payload) => (seen[name] ??= []).push(payload));
  const open = async (cookie?: string, transport = new FakeTransport(cookie)) => {
    const m = new Manager({ ...options, events }).setAdapter(store).setTransport(transport);
    await m.start();
    return m;
  };
  const first = await open();
  first.set('cart', 'x');
  await first.writeClose();
  return { store, seen, open, id: first.getId() };
}

test('StoredSession › maxSize › a record over maxSize is refused before anything is written, and the lock is released', async (t) => {
  const { store, open, id } = await storedSession({ maxSize: 1000 });
  const before = await store.read(id);
  const big = await open(id);
  big.set('blob', 'é'.repeat(600)); // 1200 bytes in UTF-8, 600 UTF-16 units
  const err = await t.throwsAsync(big.writeClose(), { code: 'ERR_SESSION_TOO_LARGE' });
  t.true((err as unknown as { size: number }).size > 1000);
  t.is(await store.read(id), before, 'the stored session is unchanged');
  const next = await open(id); // would wait for the lock (and time out) if it were still held
  t.is(next.get('cart'), 'x');
  await next.writeClose();
});

test('StoredSession › maxSize › the default is 1 MiB of UTF-8', async (t) => {
  const { open, id } = await storedSession();
  const fits = await open(id);
  fits.set('blob', 'a'.repeat(1024 * 1024 - 100));
  await t.notThrowsAsync(fits.writeClose());
  const over = await open(id);
  over.set('blob', 'a'.repeat(1024 * 1024));
  await t.throwsAsync(over.writeClose(), { code: 'ERR_SESSION_TOO_LARGE' });
});

test('StoredSession › a value changed in place after set() into something JSON cannot keep fails the commit with a coded error', async (t) => {
  const { open, id, store } = await storedSession();
  const m = await open(id);
  const list: unknown[] = [];
  m.set('list', list);
  list.push(10n);
  await t.throwsAsync(m.writeClose(), { code: 'ERR_SESSION_INVALID_VALUE' });
  t.false((await store.read(id))!.includes('list'));
});

test('StoredSession › an update of a session another request destroyed is dropped: no record, no cookie, session:discarded', async (t) => {
  const { store, seen, open, id } = await storedSession({ locking: false });
  const transport = new FakeTransport(id);
  const slow = await open(id, transport);
  const logout = await open(id);
  await logout.destroy();
  slow.set('cart', 'late');
  await slow.writeClose();
  t.is(await store.read(id), null);
  t.deepEqual(transport.written, [], 'no cookie is sent for a session that is gone');
  t.is(seen['session:discarded']?.length, 1);
});

test('StoredSession › the move marker names the new id, which a request with the old cookie never receives', async (t) => {
  const { store, seen, open, id } = await storedSession();
  const signIn = await open(id);
  await signIn.regenerateId();
  await signIn.writeClose();
  const newId = signIn.getId();
  const transport = new FakeTransport(id);
  const late = await open(id, transport);
  t.not(late.getId(), newId);
  t.is(late.get('cart'), null);
  late.set('cart', 'from the old tab');
  await late.writeClose();
  t.deepEqual(transport.written, []);
  const logout = await open(id);
  await logout.destroy();
  t.is(await store.read(newId), null, 'a logout with the pre-login cookie ends the signed-in session');
  t.like(seen['session:destroyed']?.[0], { id, followed: [newId] });
});

for (const end of ['writeClose', 'abort'] as const) {
  test(`StoredSession › ${end}() while start() is still loading waits for it and releases its lock`, async (t) => {
    const { store, open, id } = await storedSession({ locking: { wait: 0.5 } });
    const racing = new Manager({ locking: { wait: 0.5 } }).setAdapter(store).setTransport(new FakeTransport(id));
    const starting = racing.start(); // not awaited: the lock is being taken
    await racing[end](); // as the middleware's commit does when another action parameter failed
    t.true(await starting);
    // The next request of the session gets the lock (else: SessionLockTimeout after 0.5 s).
    const next = await open(id);
    t.is(next.get('cart'), 'x');
    await next.writeClose();
  });
}
