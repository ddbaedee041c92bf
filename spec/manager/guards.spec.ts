import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { Manager } from '../../lib/Manager';
import { GUARDS, RESTART, SESSION_DATA, type SessionGuard } from '../../lib/manager/internal';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { FakeTransport, SpyAdapter } from '../helpers/doubles';

/**
 * The Manager's lifecycle guards (what fingerprint binding and per-user sessions build on):
 * each runs once per start and commit, start() resolves after them, a failing guard leaves no
 * lock, and a guard can destroy and restart inside the start it watches.
 */

function manager(adapter = new MemoryAdapter(), id?: string) {
  const spy = new SpyAdapter(adapter);
  const session = new Manager().setAdapter(spy).setTransport(new FakeTransport(id));
  return { session, spy, adapter };
}

async function stored(adapter: MemoryAdapter): Promise<string> {
  const { session } = manager(adapter);
  await session.start();
  session.set('n', 1);
  await session.writeClose();
  return session.getId();
}

test('two writeClose() calls at once run the commit guard once and commit once', async (t) => {
  const adapter = new MemoryAdapter();
  const { session, spy } = manager(adapter, await stored(adapter));
  let runs = 0;
  session[GUARDS]([{ async committing() { runs++; await sleep(20); } }]);
  await session.start();
  session.set('n', 2);
  await Promise.all([session.writeClose(), session.writeClose()]);
  t.is(runs, 1);
  t.is(spy.count('write'), 1);
});

test('start() resolves only after the start guards: a second start() and a writeClose() wait for them', async (t) => {
  const adapter = new MemoryAdapter();
  const { session } = manager(adapter, await stored(adapter));
  const order: string[] = [];
  session[GUARDS]([{
    async started() { order.push('guard begins'); await sleep(30); order.push('guard ends'); },
    committing() { order.push('commit'); },
  }]);
  const first = session.start();
  await sleep(5); // the first start is inside its guard now
  const second = session.start().then(() => order.push('second start resolved'));
  const closed = session.writeClose().then(() => order.push('closed'));
  await Promise.all([first, second, closed]);
  t.deepEqual(order, ['guard begins', 'guard ends', 'second start resolved', 'commit', 'closed']);
});

test('a start guard that throws rejects start(), releases the lock, and leaves no data readable', async (t) => {
  const adapter = new MemoryAdapter();
  const id = await stored(adapter);
  const { session } = manager(adapter, id);
  session[GUARDS]([{ started() { throw new Error('guard down'); } }]);
  await t.throwsAsync(session.start(), { message: 'guard down' });
  t.is(session.get('n'), null);
  const next = manager(adapter, id).session;
  const lockedFor = Date.now();
  await next.start(); // would wait for the lock (5 s) if it were still held
  t.true(Date.now() - lockedFor < 1000);
  t.is(next.get('n'), 1);
  await next.writeClose();
});

test('a guard can destroy the session and start a fresh one inside the start it watches', async (t) => {
  const adapter = new MemoryAdapter();
  const id = await stored(adapter);
  const { session } = manager(adapter, id);
  let starts = 0;
  const guard: SessionGuard<Manager> = {
    async started(s) {
      starts++;
      if (s.getId() !== id) return;
      await s.destroy();
      await s[RESTART]();
    },
  };
  session[GUARDS]([guard]);
  t.true(await session.start());
  t.is(starts, 2);
  t.not(session.getId(), id);
  t.is(session.get('n'), null);
  t.is(await adapter.read(id), null);
});

test('a commit guard writes through SESSION_DATA, and one that destroys leaves nothing stored', async (t) => {
  const adapter = new MemoryAdapter();
  const { session } = manager(adapter);
  session[GUARDS]([{ committing(s) { s[SESSION_DATA]().mark = 'set by the guard'; } }]);
  await session.start();
  session.set('n', 1);
  await session.writeClose();
  t.regex((await adapter.read(session.getId()))!, /set by the guard/);

  const id = session.getId();
  const again = manager(adapter, id).session;
  again[GUARDS]([{ async committing(s) { await s.destroy(); } }]);
  await again.start();
  again.set('n', 2);
  await again.writeClose();
  t.is(await adapter.read(id), null);
});
