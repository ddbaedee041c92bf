import test from 'ava';
import { Manager } from '../../lib/Manager';
import { REQUIRE_START } from '../../lib/manager/internal';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { SessionAlreadyStarted, SessionModificationDenied, SessionNotStarted } from '../../lib/errors';
import { DEFAULT_POLICY, resolvePolicy } from '../../lib/manager/SessionPolicy';
import { FakeTransport, SpyAdapter } from '../helpers/doubles';

/** A stored session { n: 1 } and a way to open it again, with the spy's calls cleared. */
async function storedSession() {
  const adapter = new SpyAdapter(new MemoryAdapter());
  const first = new Manager().setAdapter(adapter).setTransport(new FakeTransport());
  await first.start();
  first.set('n', 1);
  await first.writeClose();
  const id = first.getId();
  adapter.calls.length = 0;
  const transport = new FakeTransport(id);
  return { adapter, id, transport, session: new Manager().setAdapter(adapter).setTransport(transport) };
}

test('resolvePolicy › defaults, read-only implies no lock, and one frozen object per policy', (t) => {
  t.is(resolvePolicy(), DEFAULT_POLICY);
  t.deepEqual(resolvePolicy({ readOnly: true }), { readOnly: true, lock: false });
  t.deepEqual(resolvePolicy({ lock: false }), { readOnly: false, lock: false });
  t.is(resolvePolicy({ readOnly: true }), resolvePolicy({ readOnly: true, lock: false }));
  t.true(Object.isFrozen(resolvePolicy({ lock: false })));
});

test('Manager › read-only › reads work; set, remove, get-and-remove, regenerateId and destroy throw', async (t) => {
  const { session } = await storedSession();
  await session.setPolicy({ readOnly: true }).start();
  t.is(session.get('n'), 1);
  t.true(session.exists());
  t.throws(() => session.set('n', 2), { instanceOf: SessionModificationDenied, message: /only reads/ });
  t.throws(() => { (session as unknown as Record<string, unknown>).n = 3; }, { instanceOf: SessionModificationDenied });
  t.throws(() => session.remove('n'), { instanceOf: SessionModificationDenied });
  t.throws(() => session.get('n', null, true), { instanceOf: SessionModificationDenied });
  await t.throwsAsync(session.regenerateId(), { instanceOf: SessionModificationDenied });
  await t.throwsAsync(session.destroy(), { instanceOf: SessionModificationDenied });
  t.is(session.get('n'), 1, 'nothing changed');
});

test('Manager › read-only › takes no lock and stores nothing at writeClose, not even a timestamp or a cookie', async (t) => {
  const { session, adapter, transport } = await storedSession();
  await session.setPolicy({ readOnly: true }).start();
  await session.writeClose();
  t.deepEqual(adapter.calls.map((c) => c.split(':')[0]), ['read']);
  t.deepEqual(transport.written, []);
});

test('Manager › { lock: false } › writes at writeClose without a lock', async (t) => {
  const { session, adapter } = await storedSession();
  await session.setPolicy({ lock: false }).start();
  session.set('n', 2);
  await session.writeClose();
  t.deepEqual(adapter.calls.map((c) => c.split(':')[0]), ['read', 'write']);
});

test('Manager › the default policy locks', async (t) => {
  const { session, adapter } = await storedSession();
  await session.start();
  await session.writeClose();
  t.deepEqual(adapter.calls.map((c) => c.split(':')[0]), ['lock', 'read', 'updateTimestamp']);
});

test('Manager › setPolicy › only before start (also not while start() is loading)', async (t) => {
  const { session } = await storedSession();
  const starting = session.start();
  t.throws(() => session.setPolicy({ readOnly: true }), { instanceOf: SessionAlreadyStarted });
  await starting;
  t.throws(() => session.setPolicy({ readOnly: true }), { instanceOf: SessionAlreadyStarted });
  t.is(session.getPolicy(), DEFAULT_POLICY);
  await session.writeClose();
});

test('Manager › REQUIRE_START › access before the first start throws SessionNotStarted; after it, Phalcon rules again', async (t) => {
  const { session } = await storedSession();
  session[REQUIRE_START]();
  t.throws(() => session.get('n'), { instanceOf: SessionNotStarted });
  t.throws(() => session.has('n'), { instanceOf: SessionNotStarted });
  t.throws(() => session.set('n', 5), { instanceOf: SessionNotStarted });
  t.throws(() => session.remove('n'), { instanceOf: SessionNotStarted });
  t.is(session.getId(), '', 'the id and status can still be asked');
  t.false(session.exists());
  await session.start();
  t.is(session.get('n'), 1);
  await session.destroy();
  t.is(session.get('n'), null, 'after destroy() a read is null, as in Phalcon');
});
