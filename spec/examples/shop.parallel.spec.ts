import { setTimeout as delay } from 'node:timers/promises';
import test from 'ava';
import { StreamAdapter, type Adapter, type LockHandle, type LockOptions } from '../../lib';
import { createShop } from '../../examples/shop/app';
import { CsrfClient } from '../helpers/csrfClient';
import { listen, type Listening } from '../helpers/http';
import { makeTempDir, type TempDir } from '../helpers/tmp';

let dir: TempDir;
let server: Listening;
let locks: LockWatch;
let held: HeldWork;

test.before(async () => {
  dir = await makeTempDir('example-shop-parallel');
  locks = new LockWatch(new StreamAdapter({ savePath: dir.path }));
  held = new HeldWork();
  server = await listen(createShop({ adapter: locks.adapter, work: held.work }));
});

test.after.always(async () => {
  await server?.close();
  await dir?.remove();
});

const POST: RequestInit = { method: 'POST' };

/** Pretend work a test holds: `?work=<key>` of a held key waits for `release()`; other values sleep. */
class HeldWork {
  readonly #held = new Map<number, { start(): void; done: Promise<void> }>();

  hold(key: number): { started: Promise<void>; release(): void } {
    let start!: () => void;
    let release!: () => void;
    const started = new Promise<void>((resolve) => { start = resolve; });
    const done = new Promise<void>((resolve) => { release = resolve; });
    this.#held.set(key, { start, done });
    return { started, release };
  }

  readonly work = (ms: number): Promise<void> => {
    const held = this.#held.get(ms);
    if (held === undefined) return delay(ms);
    held.start();
    return held.done;
  };
}

/** The adapter, and every `lock()` call per session id (seen when asked, before the lock is held). */
class LockWatch {
  readonly adapter: Adapter;
  readonly #asked = new Map<string, Array<Promise<LockHandle>>>();
  readonly #waiting: Array<{ id: string; calls: number; resolve(handles: Array<Promise<LockHandle>>): void }> = [];

  constructor(inner: StreamAdapter) {
    this.adapter = new Proxy(inner, {
      get: (target, property) => {
        if (property === 'lock') return (id: string, options: Partial<LockOptions>) => this.#record(id, target.lock(id, options));
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** The lock handles asked for `id` so far, oldest first. */
  handles(id: string): Array<Promise<LockHandle>> {
    return [...(this.#asked.get(id) ?? [])];
  }

  /** Resolves with the handles once `id` has had `calls` lock() calls in all. */
  until(id: string, calls: number): Promise<Array<Promise<LockHandle>>> {
    return new Promise((resolve) => {
      this.#waiting.push({ id, calls, resolve });
      this.#check();
    });
  }

  #record(id: string, handle: Promise<LockHandle>): Promise<LockHandle> {
    const list = this.#asked.get(id) ?? [];
    this.#asked.set(id, [...list, handle]);
    this.#check();
    return handle;
  }

  #check(): void {
    for (const w of [...this.#waiting]) {
      if (this.handles(w.id).length < w.calls) continue;
      this.#waiting.splice(this.#waiting.indexOf(w), 1);
      w.resolve(this.handles(w.id));
    }
  }
}

/** The `dur` of the `lock` metric of a Server-Timing header. */
function lockDuration(header: string | null): string | undefined {
  return /(?:^|,)\s*lock(?:;[^,]*?)?;dur=([0-9.]+)/.exec(header ?? '')?.[1];
}

const numeric = (a: number, b: number): number => a - b;

test('parallel › read-only requests answer while a writer holds the lock; a locked writer waits', async (t) => {
  const browser = new CsrfClient(server.url);
  await browser.fetch('/parallel'); // the session exists before the parallel requests
  const sid = browser.jar.get('sid')!;
  const finished: string[] = [];
  const track = (name: string, p: Promise<Response>) => p.then(async (r) => { finished.push(name); return r.json() as Promise<{ count: number }>; });

  const slowWork = held.hold(1001);
  t.teardown(slowWork.release);
  const slow = track('slow writer', browser.fetch('/api/parallel/inc?work=1001', POST));
  await slowWork.started; // mid read-modify-write, holding the session lock until released
  const reads = await Promise.all([1, 2, 3].map(() => track('read', browser.fetch('/api/parallel/count'))));
  t.deepEqual(reads.map((r) => r.count), [0, 0, 0]); // the writer has not stored anything yet
  t.deepEqual(finished, ['read', 'read', 'read']);

  const fastLock = locks.until(sid, locks.handles(sid).length + 1);
  const fast = track('fast writer', browser.fetch('/api/parallel/inc?work=0', POST));
  const handle = (await fastLock).at(-1)!; // asked for the lock while the slow writer holds it
  slowWork.release();
  t.like(await Promise.all([slow, fast]), [{ count: 1 }, { count: 2 }]);
  t.true((await handle).waitedMs > 0);
});

test('parallel › each answer carries its own wait for the lock, measured on the server: all but the first waited', async (t) => {
  const browser = new CsrfClient(server.url);
  await browser.fetch('/parallel');
  await browser.token(); // GET /api/csrf takes the lock too: before the count
  const sid = browser.jar.get('sid')!;
  const before = locks.handles(sid).length;
  const first = held.hold(1003);
  t.teardown(first.release);
  const requests = [browser.fetch('/api/parallel/inc?work=1003', POST)];
  await first.started; // holds the session lock until released
  for (let i = 0; i < 4; i++) requests.push(browser.fetch('/api/parallel/inc?work=0', POST));
  const handles = (await locks.until(sid, before + requests.length)).slice(before); // all asked for the lock…
  first.release(); // …before the first let it go

  const answers = await Promise.all(requests.map(async (request) => {
    const response = await request;
    return { timing: response.headers.get('server-timing'), body: await response.json() as { count: number; lockWaitedMs: number } };
  }));
  t.deepEqual(answers.map((a) => a.body.count), [1, 2, 3, 4, 5]); // FIFO: the queue's order
  t.is(answers[0]!.body.lockWaitedMs, 0);
  for (const { body } of answers.slice(1)) t.true(body.lockWaitedMs > 0, `count ${body.count} waited ${body.lockWaitedMs} ms`);
  // The numbers are the server's: the Server-Timing header of the same response, and the waits
  // the lock handles themselves measured (not a client's clock).
  for (const { timing, body } of answers) t.is(lockDuration(timing), body.lockWaitedMs.toFixed(3));
  const measured = (await Promise.all(handles)).map((h) => h.waitedMs);
  t.deepEqual(answers.map((a) => a.body.lockWaitedMs).sort(numeric), measured.sort(numeric));
});

test('parallel › read-only polls report no lock wait', async (t) => {
  const browser = new CsrfClient(server.url);
  await browser.fetch('/parallel');
  const work = held.hold(1004);
  t.teardown(work.release);
  const writer = browser.fetch('/api/parallel/inc?work=1004', POST);
  await work.started;
  const poll = await browser.fetch('/api/parallel/count'); // answered while the writer holds the lock
  t.is(lockDuration(poll.headers.get('server-timing')), '0.000');
  t.like(await poll.json(), { count: 0, lockWaitedMs: 0 });
  work.release();
  t.is((await writer).status, 200);
});

test('parallel › writers are serialized: 30 parallel increments end at exactly +30', async (t) => {
  const browser = new CsrfClient(server.url);
  await browser.fetch('/parallel');
  const incs = Array.from({ length: 30 }, () => browser.json<{ count: number }>('/api/parallel/inc', POST));
  const polls = Array.from({ length: 10 }, () => browser.json<{ count: number }>('/api/parallel/count'));
  const [seen] = await Promise.all([Promise.all(incs), Promise.all(polls)]);
  t.deepEqual(seen.map((s) => s.count).sort(numeric), Array.from({ length: 30 }, (_, i) => i + 1));
  t.is((await browser.json('/api/parallel/count')).count, 30);
});

test('parallel › the writeClose() route lets the session\'s other requests run during its slow part', async (t) => {
  const browser = new CsrfClient(server.url);
  await browser.fetch('/parallel');
  let reported = false;
  const reportWork = held.hold(1002);
  t.teardown(reportWork.release);
  const report = browser.json<{ report: number; count: number }>('/api/parallel/report?work=1002', POST).finally(() => { reported = true; });
  await reportWork.started; // stored, unlocked by writeClose(), now in its slow part until released
  t.like(await browser.json('/api/parallel/inc?work=0', POST), { count: 1, lockWaitedMs: 0 }); // a locked writer runs at once
  t.like(await browser.json('/api/parallel/count'), { count: 1, reports: 1 }); // stored at writeClose()
  t.false(reported);
  reportWork.release();
  t.like(await report, { report: 1, count: 0 });
});

test('parallel › without locking the same increments lose updates (the race the lock prevents)', async (t) => {
  const unlocked = await listen(createShop({ adapter: new StreamAdapter({ savePath: dir.path }), locking: false }));
  t.teardown(() => unlocked.close());
  const browser = new CsrfClient(unlocked.url);
  await browser.fetch('/parallel');
  await Promise.all(Array.from({ length: 20 }, () => browser.fetch('/api/parallel/inc', POST)));
  const { count } = await browser.json<{ count: number }>('/api/parallel/count');
  t.true(count < 20, `count ${count}`);
});
