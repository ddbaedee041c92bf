import test from 'ava';
import type { ExecutionContext } from 'ava';
import { fork } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { readdir, readFile, stat, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LockHandle, LockOptions } from '../../lib/adapters/Adapter';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { newId } from '../helpers/adapterContract';
import { increments } from '../helpers/lock-worker';
import { tempDir } from '../helpers/tmp';
import { turnsBeforeOther } from '../helpers/starvation';

// Two StreamAdapters on one directory share nothing but the files, exactly as two processes
// do: they stand in for processes where a real child process is not needed.

const LOCK_TIMEOUT = { code: 'ERR_SESSION_LOCK_TIMEOUT' };
const LOCK_LOST = { code: 'ERR_SESSION_LOCK_LOST' };
const WORKER = join(__dirname, '..', 'helpers', 'lock-worker.js');

async function twoAdapters(t: ExecutionContext, io: 'sync' | 'async' = 'sync') {
  const savePath = await tempDir(t, 'filelock');
  return { savePath, a: new StreamAdapter({ savePath, prefix: 'sess_', io }), b: new StreamAdapter({ savePath, prefix: 'sess_', io }) };
}

/**
 * Wraps `name` of node:fs/promises (io 'async') or its synchronous twin of node:fs (io 'sync')
 * for this test: the adapter calls them through the module objects, so the wrapper sees its calls.
 */
function wrapFs(t: ExecutionContext, io: 'sync' | 'async', name: 'stat' | 'readFile' | 'open', wrap: (original: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = (io === 'async' ? require('node:fs/promises') : require('node:fs')) as Record<string, (...args: unknown[]) => unknown>;
  const key = io === 'async' ? name : `${name}Sync`;
  const original = module[key]!;
  module[key] = wrap(original);
  t.teardown(() => { module[key] = original; });
}

/** `adapter.lock()` whose handle is released when the test ends. */
async function hold(t: ExecutionContext, adapter: StreamAdapter, id: string, options: LockOptions): Promise<LockHandle> {
  const handle = await adapter.lock(id, options);
  t.teardown(() => handle.release().catch(() => undefined));
  return handle;
}

test('FileLock › a lock is the file <prefix><id>.lock, mode 0600, removed on release', async (t) => {
  const { savePath, a } = await twoAdapters(t);
  const handle = await a.lock('abc', { wait: 1, expiry: 30 });
  t.is((await stat(join(savePath, 'sess_abc.lock'))).mode & 0o777, 0o600);
  await handle.release();
  t.deepEqual(await readdir(savePath), []);
});

test('FileLock › another process waits for the lock and gets it after the release', async (t) => {
  const { a, b } = await twoAdapters(t);
  const first = await hold(t, a, 'abc', { wait: 1, expiry: 30 });
  const started = performance.now();
  await t.throwsAsync(() => b.lock('abc', { wait: 0.2, expiry: 30 }), LOCK_TIMEOUT);
  const elapsed = performance.now() - started;
  t.true(elapsed >= 120 && elapsed < 3000, `timed out after ${elapsed} ms`);
  const next = b.lock('abc', { wait: 5, expiry: 30 });
  await sleep(100);
  const releasedAt = performance.now();
  await first.release();
  const second = await next;
  t.teardown(() => second.release());
  t.true(performance.now() - releasedAt < 1000, 'polling waiter noticed the release');
  t.true(second.waitedMs >= 50, `waitedMs ${second.waitedMs}`);
});

test('FileLock › a lock file left by a dead holder is taken over after its expiry', async (t) => {
  const { savePath, a } = await twoAdapters(t);
  const path = join(savePath, 'sess_abc.lock');
  await writeFile(path, 'token-of-a-dead-process');
  const then = new Date(Date.now() - 10_000);
  await utimes(path, then, then);
  const handle = await hold(t, a, 'abc', { wait: 1, expiry: 5 });
  await t.notThrowsAsync(a.write('abc', 'mine', 60, handle));
});

test('FileLock › a fresh lock file of another holder is respected', async (t) => {
  const { savePath, a } = await twoAdapters(t);
  await writeFile(join(savePath, 'sess_abc.lock'), 'token-of-a-live-process');
  await t.throwsAsync(() => a.lock('abc', { wait: 0.2, expiry: 30 }), LOCK_TIMEOUT);
});

test('FileLock › a holder that stops renewing is taken over after its own expiry, not the waiter’s', async (t) => {
  const { a, b } = await twoAdapters(t);
  await hold(t, a, 'abc', { wait: 1, expiry: 0.3, renew: false });
  const taken = await hold(t, b, 'abc', { wait: 3, expiry: 30 });
  t.true(taken.waitedMs >= 250 && taken.waitedMs < 2500, `waitedMs ${taken.waitedMs}`);
});

test('FileLock › fencing: the expired holder’s write is refused and its release frees nothing', async (t) => {
  const { a, b } = await twoAdapters(t);
  const stale = await hold(t, a, 'abc', { wait: 1, expiry: 0.2, renew: false });
  await sleep(300);
  const current = await hold(t, b, 'abc', { wait: 2, expiry: 30 });
  await b.write('abc', 'new', 60, current);
  await t.throwsAsync(() => a.write('abc', 'old', 60, stale), LOCK_LOST);
  await stale.release();
  await t.throwsAsync(() => a.lock('abc', { wait: 0.2, expiry: 30 }), LOCK_TIMEOUT);
  t.is(await a.read('abc'), 'new');
});

test('FileLock › fencing: a write is refused once the lock file carries another holder’s token', async (t) => {
  const { savePath, a } = await twoAdapters(t);
  const handle = await hold(t, a, 'abc', { wait: 1, expiry: 30 });
  await a.write('abc', 'before', 60, handle);
  await writeFile(join(savePath, 'sess_abc.lock'), 'token-of-another-process');
  await t.throwsAsync(() => a.write('abc', 'after', 60, handle), LOCK_LOST);
  t.is(await a.read('abc'), 'before');
  await handle.release();
  t.is(await readFile(join(savePath, 'sess_abc.lock'), 'utf8'), 'token-of-another-process', 'the other holder’s file stays');
});

test('FileLock › fencing: taken over because its mtime looked stale to another process (its clock ahead, a suspend), the holder is refused and removes nothing', async (t) => {
  const { savePath, a, b } = await twoAdapters(t);
  const stale = await hold(t, a, 'abc', { wait: 1, expiry: 30 });
  const lockPath = join(savePath, 'sess_abc.lock');
  const past = new Date(Date.now() - 31_000);
  await utimes(lockPath, past, past); // what a's file looks like to a process whose clock is 31 s ahead
  const current = await hold(t, b, 'abc', { wait: 2, expiry: 30 });
  const bFile = await readFile(lockPath, 'utf8');
  await b.write('abc', 'new', 60, current);
  await t.throwsAsync(() => a.write('abc', 'old', 60, stale), LOCK_LOST);
  await stale.release();
  t.is(await a.read('abc'), 'new');
  t.is(await readFile(lockPath, 'utf8'), bFile, 'b’s lock file stays');
  await t.throwsAsync(() => a.lock('abc', { wait: 0.2, expiry: 30 }), LOCK_TIMEOUT);
});

for (const io of ['sync', 'async'] as const) {
  // Serial (ava runs serial tests before the others): it counts this module's fs calls.
  test.serial(`FileLock › io ${io} › a locked write and its release check the lock file with one stat each, never a read`, async (t) => {
    const { savePath, a } = await twoAdapters(t, io);
    const calls: string[] = [];
    // Both modules in both modes: a read through either would be seen.
    for (const module of ['sync', 'async'] as const) {
      for (const name of ['readFile', 'stat'] as const) {
        wrapFs(t, module, name, (original) => (...args: unknown[]) => {
          if (String(args[0]).endsWith('.lock')) calls.push(name);
          return original(...args);
        });
      }
    }
    const handle = await a.lock('abc', { wait: 1, expiry: 30 });
    t.deepEqual(calls, [], 'taking the lock: its stamp is the fstat of the descriptor that wrote it');
    await a.write('abc', 'data', 60, handle);
    await handle.release();
    t.deepEqual(calls, ['stat', 'stat'], 'the write and the release: one stat each');
    t.deepEqual((await readdir(savePath)).sort(), ['sess_abc'], 'the lock file is removed');
  });

  // Serial: it wraps open() of node:fs/promises (writeSync of node:fs) for this test file's process.
  test.serial(`FileLock › io ${io} › a new lock is stamped from the descriptor it was written through, not from whatever is at the path`, async (t) => {
    const { savePath, a } = await twoAdapters(t, io);
    const lockPath = join(savePath, 'sess_abc.lock');
    let swapped = false;
    // A waiter that judged an older lock stale moves this brand-new one away to check it, right
    // after it was written; meanwhile another waiter creates its own lock at the path.
    const swap = () => {
      swapped = true;
      renameSync(lockPath, `${lockPath}.0123456789ab.tmp`);
      writeFileSync(lockPath, 'token-of-another-process', { flag: 'wx' });
    };
    if (io === 'async') {
      wrapFs(t, io, 'open', (original) => async (...args: unknown[]) => {
        const handle = await (original(...args) as Promise<FileHandle>);
        if (args[0] !== lockPath || args[1] !== 'wx' || swapped) return handle;
        const write = handle.writeFile.bind(handle);
        handle.writeFile = (async (...data: Parameters<FileHandle['writeFile']>) => {
          await write(...data);
          swap();
        }) as FileHandle['writeFile'];
        return handle;
      });
    } else {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fs = require('node:fs') as { openSync: (...args: unknown[]) => number; writeSync: (...args: unknown[]) => number };
      const { openSync, writeSync } = fs;
      let lockFd = -1;
      fs.openSync = (...args: unknown[]) => {
        const fd = openSync(...args);
        if (args[0] === lockPath && args[1] === 'wx' && !swapped) lockFd = fd;
        return fd;
      };
      fs.writeSync = (...args: unknown[]) => {
        const written = writeSync(...args);
        if (args[0] === lockFd && !swapped) swap();
        return written;
      };
      t.teardown(() => { fs.openSync = openSync; fs.writeSync = writeSync; });
    }
    const handle = await hold(t, a, 'abc', { wait: 1, expiry: 30 });
    t.true(swapped);
    await t.throwsAsync(() => a.write('abc', 'mine', 60, handle), LOCK_LOST, 'the other lock is not this one: fenced');
    await handle.release();
    t.is(await readFile(lockPath, 'utf8'), 'token-of-another-process', 'and its release leaves the other lock alone');
  });
}

// Timing-sensitive: the renewal timer must run every expiry / 3 while the test waits.
test.serial('FileLock › renewal keeps a long-held lock from being taken over by another process', async (t) => {
  const { a, b } = await twoAdapters(t);
  const held = await hold(t, a, 'abc', { wait: 1, expiry: 1 });
  await t.throwsAsync(() => b.lock('abc', { wait: 2, expiry: 1 }), LOCK_TIMEOUT);
  await t.notThrowsAsync(a.write('abc', 'mine', 60, held));
  t.is(await b.read('abc'), 'mine');
});

/** Forks a lock worker that is killed (by its PID) at the latest when the test ends. */
function spawnWorker(t: ExecutionContext, savePath: string, id: string, count: number, locking: boolean) {
  const child = fork(WORKER, [savePath, id, String(count), locking ? 'lock' : 'nolock'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  };
  const deadline = setTimeout(kill, 40_000);
  t.teardown(() => (clearTimeout(deadline), kill()));
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const ready = new Promise<void>((resolve) => child.once('message', () => resolve()));
  const exited = new Promise<void>((resolve, reject) =>
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code ?? signal}: ${stderr}`)))),
  );
  exited.catch(() => undefined); // observed below; avoid an unhandled rejection while waiting for `ready`
  return { child, ready: Promise.race([ready, exited]), exited };
}

async function crossProcessCount(t: ExecutionContext, locking: boolean): Promise<number> {
  const savePath = await tempDir(t, 'xproc');
  const id = newId();
  const workers = [spawnWorker(t, savePath, id, 50, locking), spawnWorker(t, savePath, id, 50, locking)];
  await Promise.all(workers.map((w) => w.ready));
  const parent = new StreamAdapter({ savePath, prefix: 'sess_' });
  for (const w of workers) w.child.send('go');
  await Promise.all([increments(parent, id, 50, locking), ...workers.map((w) => w.exited)]);
  return Number(await parent.read(id));
}

test('FileLock › across processes: 2 workers × 50 + 50 locked increments end at exactly 150', async (t) => {
  t.is(await crossProcessCount(t, true), 150);
});

test('FileLock › across processes: the same increments without locks lose updates (detection works)', async (t) => {
  t.true((await crossProcessCount(t, false)) < 150);
});

test('FileLock › fairness › a process with a queue of its own cannot starve another process\'s waiter', async (t) => {
  // `b` is another process, for the files. Without the claimed turn, a's next queued request
  // retook the lock at every release.
  const { a, b } = await twoAdapters(t);
  const [{ passedOver }] = await turnsBeforeOther(a, b, newId());
  t.not(passedOver, undefined, 'b timed out');
  t.log(`a released ${passedOver} times before b's turn`);
  t.true(passedOver! <= 3, `b waited through ${passedOver} of a's turns`);
});

test('FileLock › fairness › a claim left by a waiter that died does not block anyone for long', async (t) => {
  const { savePath, a } = await twoAdapters(t);
  const id = newId();
  await writeFile(join(savePath, `sess_${id}.claim`), 'a waiter that died');
  await sleep(150);
  const held = await a.lock(id, { wait: 1, expiry: 30 });
  t.true(held.waitedMs < 100);
  await held.release();
});
