import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventEmitter } from 'node:events';
import { SqlAdapter, type SqlAdapterOptions, type SqlStore, type Waker } from '../../lib/sql/SqlAdapter';
import { Listener, type ListenClient } from '../../lib/postgres/Listener';

// A lock waiter and its waker (PostgreSQL's LISTEN connection) when that connection is slow to
// come up: a fault a real server produces only under load (the wake-up spec of
// PostgresAdapter.spec.ts met it once in npm test, 2026-12-07), so here a store of one lock row in
// memory and a waker that becomes ready when the spec says. The real LISTEN/NOTIFY path is
// specified against PostgreSQL in spec/postgres/PostgresAdapter.spec.ts.

/** One session's lock in memory: held by `holder` until freed. */
class LockRow implements Partial<SqlStore> {
  holder: string | null = 'another request';
  lockReads = 0;
  lockRead(_id: string, token: string): Promise<{ data: Buffer | null } | undefined> {
    this.lockReads++;
    if (this.holder !== null && this.holder !== token) return Promise.resolve(undefined);
    this.holder = token;
    return Promise.resolve({ data: null });
  }
  unlock(_id: string, token: string): Promise<void> {
    if (this.holder === token) this.holder = null;
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A waker whose ready() settles with `listening` after `delayMs`; never notified (waits run out). */
function slowWaker(delayMs: number, listening: boolean): Waker & { readyCalls: number } {
  const waker = {
    readyCalls: 0,
    ready: () => {
      waker.readyCalls++;
      return sleep(delayMs, listening, { ref: false });
    },
    watch: () => ({ wait: (ms: number) => sleep(ms).then(() => undefined), close: () => undefined }),
    close: () => Promise.resolve(),
  };
  return waker;
}

class MemoryLockAdapter extends SqlAdapter {
  constructor(options: SqlAdapterOptions, store: LockRow, waker: Waker) {
    super('Memory', options, store as unknown as SqlStore, waker);
  }
}

test('a waiter whose waker becomes ready after the 1 s bound tries again at once then, not at its next poll', async (t) => {
  const row = new LockRow();
  const adapter = new MemoryLockAdapter({ lockPoll: 5, lockWait: 10 }, row, slowWaker(1500, true));
  const started = performance.now();
  const waiting = adapter.lock!('abc', {});
  await sleep(300);
  row.holder = null; // released while the waker was still connecting: that release was not heard
  const handle = await waiting;
  const took = performance.now() - started;
  await handle.release();
  // Ready at 1.5 s, then the retry takes the free lock. (Before: the 1 s bound, then the 5 s poll.)
  t.true(took >= 1400 && took < 3000, `${Math.round(took)} ms`);
});

test('a waker that cannot listen leaves the waiter polling, never spinning', async (t) => {
  const row = new LockRow();
  const waker = slowWaker(100, false);
  const adapter = new MemoryLockAdapter({ lockPoll: 0.5, lockWait: 10 }, row, waker);
  const waiting = adapter.lock!('abc', {});
  await sleep(2000);
  row.holder = null;
  const handle = await waiting;
  await handle.release();
  // 2 s of a 0.5 s poll: a handful of tries, not thousands.
  t.true(row.lockReads >= 3 && row.lockReads <= 8, `${row.lockReads} tries`);
});

test('a waker still connecting at the poll keeps the waiter polling within its wait, and the wait still times out', async (t) => {
  const row = new LockRow();
  const adapter = new MemoryLockAdapter({ lockPoll: 0.3, lockWait: 1.5 }, row, slowWaker(60_000, true));
  const started = performance.now();
  await t.throwsAsync(adapter.lock!('abc', {}), { name: 'SessionLockTimeout' });
  const took = performance.now() - started;
  t.true(took >= 1400 && took < 2500, `${Math.round(took)} ms`);
  t.true(row.lockReads >= 2 && row.lockReads <= 8, `${row.lockReads} tries`);
});

/** A pg client double for the real Listener: listens at once; `notify()` delivers a notification. */
class FakeListenClient extends EventEmitter implements ListenClient {
  connect(): Promise<unknown> {
    return Promise.resolve();
  }
  query(): Promise<unknown> {
    return Promise.resolve();
  }
  end(): Promise<void> {
    return Promise.resolve();
  }
  notify(channel: string, payload: string): void {
    this.emit('notification', { channel, payload });
  }
}

test('a release notified while the retry\'s refusal is on its way back wakes the wait after it (the real Listener)', async (t) => {
  // The order npm test met once against PostgreSQL (the waiter then slept out its 4 s poll): the
  // retry's lock statement runs before the holder's unlock, the unlock's NOTIFY reaches the
  // listening connection before the retry's refusal reaches the pipelined one.
  const client = new FakeListenClient();
  const row = new LockRow();
  const lockRead = row.lockRead.bind(row);
  row.lockRead = (id, token) => {
    const answer = lockRead(id, token); // refused while held
    if (row.lockReads === 2 && row.holder !== token) {
      row.holder = null; // the holder's unlock, after this statement ran
      client.notify('ksm', id); // its notification, heard before the refusal below
    }
    return answer;
  };
  const adapter = new MemoryLockAdapter({ lockPoll: 5, lockWait: 10 }, row, new Listener(() => client, 'ksm'));
  t.teardown(() => adapter.close());
  const started = performance.now();
  const handle = await adapter.lock!('abc', {});
  const took = performance.now() - started;
  await handle.release();
  // The first try refused, the retry refused with the release heard, the third try takes it at once.
  t.is(row.lockReads, 3);
  t.true(took < 1000, `${Math.round(took)} ms (the poll is 5 s)`);
});
