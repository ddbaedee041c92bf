import test from 'ava';
import type { ExecutionContext } from 'ava';
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeJudged, type Judged } from '../../lib/file/take';
import type { TakeoverStep } from '../helpers/lock-worker';
import { newId } from '../helpers/adapterContract';
import { tempDir } from '../helpers/tmp';

const WORKER = join(__dirname, '..', 'helpers', 'lock-worker.js');

/** A takeover worker (see lock-worker.ts), killed by its PID at the latest when the test ends. */
async function spawnTakeover(t: ExecutionContext, savePath: string, id: string): Promise<ChildProcess> {
  const child = fork(WORKER, [savePath, id, '0', 'takeover'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${stderr}`)));
  });
  child.on('exit', (code) => {
    if (code !== null && code !== 0) t.log(`worker ${child.pid} exited ${code}: ${stderr}`);
  });
  return child;
}

/** Sends one step of a trial to a worker and resolves its answer. */
function ask(child: ChildProcess, step: TakeoverStep['step'], trial: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onMessage = (answer: TakeoverStep & { yes: boolean }) => {
      if (answer.step !== step || answer.trial !== trial) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(answer.yes);
    };
    const onExit = (code: number | null) => reject(new Error(`worker ${child.pid} exited ${code} during ${step} of trial ${trial}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send({ step, trial } satisfies TakeoverStep);
  });
}

const WORKERS = 3;
const TRIALS = 200;
const TIME_LIMIT_MS = 25_000;

test('FileLock › takeover › processes racing to take over one stale lock file: exactly one holds the lock in every trial', async (t) => {
  t.timeout(TIME_LIMIT_MS + 20_000);
  const savePath = await tempDir(t, 'takeover');
  const id = newId();
  const lockPath = join(savePath, `sess_${id}.lock`);
  const workers = await Promise.all(Array.from({ length: WORKERS }, () => spawnTakeover(t, savePath, id)));
  const started = performance.now();
  const wrong: string[] = [];
  let trials = 0;
  let fenced = 0;
  for (; trials < TRIALS && performance.now() - started < TIME_LIMIT_MS; trials++) {
    // A lock file whose holder died a minute ago: every worker judges it stale at once.
    await writeFile(lockPath, `${randomUUID()}\n30`, { mode: 0o600 });
    const past = new Date(Date.now() - 60_000);
    await utimes(lockPath, past, past);
    const took = await Promise.all(workers.map((w) => ask(w, 'take', trials)));
    // Only once every attempt is over: nobody moves the lock file while the holders check.
    const holds = await Promise.all(workers.map((w) => ask(w, 'check', trials)));
    await Promise.all(workers.map((w) => ask(w, 'release', trials)));
    const holders = holds.filter(Boolean).length;
    fenced += took.filter(Boolean).length - holders;
    if (holders !== 1) wrong.push(`trial ${trials}: ${holders} holders (${took.filter(Boolean).length} acquired)`);
  }
  await Promise.all(workers.map((w) => new Promise((resolve) => (w.once('exit', resolve), w.disconnect()))));
  t.log(`${trials} trials in ${Math.round(performance.now() - started)} ms; ${fenced} handles acquired, then fenced`);
  t.true(trials >= 50, `only ${trials} trials in the time limit`);
  t.deepEqual(wrong, []);
});

// removeJudged() itself. A real race rarely lands between its check and its rename, so these
// specs make it land there: the rename of node:fs/promises first runs `meanwhile`.

/** A stale lock file at `<dir>/sess_abc.lock` and what a taker judged of it. */
async function staleLock(t: ExecutionContext): Promise<{ dir: string; path: string; judged: Judged; past: Date }> {
  const dir = await tempDir(t, 'take');
  const path = join(dir, 'sess_abc.lock');
  const content = `${randomUUID()}\n30`;
  await writeFile(path, content, { mode: 0o600 });
  const past = new Date(Date.now() - 60_000);
  await utimes(path, past, past);
  const { ino, mtimeMs } = await stat(path);
  return { dir, path, judged: { ino, mtimeMs, content }, past };
}

/** Runs `meanwhile` right before the first rename of `path`, for the rest of the test. */
function beforeRename(t: ExecutionContext, path: string, meanwhile: () => void): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fsp = require('node:fs/promises') as { rename: (...args: unknown[]) => Promise<void> };
  const original = fsp.rename;
  let done = false;
  fsp.rename = (...args: unknown[]) => {
    if (!done && args[0] === path) {
      done = true;
      meanwhile();
    }
    return original(...args);
  };
  t.teardown(() => { fsp.rename = original; });
}

test.serial('FileLock › takeover › the judged stale file is removed', async (t) => {
  const { dir, path, judged } = await staleLock(t);
  t.is(await removeJudged(path, judged), 'removed');
  t.deepEqual(await readdir(dir), []);
});

test.serial('FileLock › takeover › a fresh lock that replaced the judged file before the rename is put back with its inode and mtime', async (t) => {
  const { dir, path, judged } = await staleLock(t);
  const fresh = `${randomUUID()}\n30`;
  let stamp = { ino: 0, mtimeMs: 0 };
  beforeRename(t, path, () => {
    // Another taker removed the stale file and its holder created a new lock.
    unlinkSync(path);
    writeFileSync(path, fresh, { flag: 'wx', mode: 0o600 });
    stamp = statSync(path);
  });
  t.is(await removeJudged(path, judged), 'kept');
  const now = await stat(path);
  t.deepEqual([now.ino, now.mtimeMs], [stamp.ino, stamp.mtimeMs], 'the holder’s stamp still matches');
  t.is(await readFile(path, 'utf8'), fresh);
  t.deepEqual(await readdir(dir), ['sess_abc.lock'], 'no taken file left');
});

test.serial('FileLock › takeover › the same inode and mtime with another token (a reused inode) is not the judged file', async (t) => {
  const { path, judged, past } = await staleLock(t);
  const other = `${randomUUID()}\n30`;
  let identity: number[] = [];
  beforeRename(t, path, () => {
    // What inode reuse within one clock tick looks like: same identity, another holder's token.
    writeFileSync(path, other);
    utimesSync(path, past, past);
    identity = [statSync(path).ino, statSync(path).mtimeMs];
  });
  t.is(await removeJudged(path, judged), 'kept');
  t.deepEqual(identity, [judged.ino, judged.mtimeMs], 'only the content tells the two apart');
  t.is(readFileSync(path, 'utf8'), other);
});

test.serial('FileLock › takeover › when a third lock took the name while the file was away, that one stays', async (t) => {
  const { dir, path, judged } = await staleLock(t);
  const [second, third] = [`${randomUUID()}\n30`, `${randomUUID()}\n30`];
  beforeRename(t, path, () => {
    unlinkSync(path);
    writeFileSync(path, second, { flag: 'wx' });
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fsp = require('node:fs/promises') as { link: (...args: unknown[]) => Promise<void> };
  const original = fsp.link;
  fsp.link = (...args: unknown[]) => {
    writeFileSync(path, third, { flag: 'wx' }); // created while the second one was away
    return original(...args);
  };
  t.teardown(() => { fsp.link = original; });
  t.is(await removeJudged(path, judged), 'kept');
  t.is(await readFile(path, 'utf8'), third, 'the second one’s holder sees another file: fenced');
  t.deepEqual(await readdir(dir), ['sess_abc.lock']);
});
