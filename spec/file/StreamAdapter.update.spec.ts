import test from 'ava';
import { readdir, readFile, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { MOVE_MARKER_PREFIX } from '../../lib/adapters/Adapter';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { newId } from '../helpers/adapterContract';
import { tempDir } from '../helpers/tmp';

// The update contract of Adapter.ts for files: updates that never recreate a destroyed, expired
// or moved session; destroy resolving what it removed; touches that never extend a marker.

const EXISTING = { existing: true } as const;
const MARKER = `${MOVE_MARKER_PREFIX}${newId()}`;

async function setup(t: import('ava').ExecutionContext) {
  const dir = await tempDir(t);
  return { dir, a: new StreamAdapter({ savePath: dir }), file: (id: string) => join(dir, `sess_${id}`) };
}

/** Sets a file's mtime (and atime) `seconds` into the past. */
function age(path: string, seconds: number): Promise<void> {
  const then = new Date(Date.now() - seconds * 1000);
  return utimes(path, then, then);
}

test('StreamAdapter › write › resolves true when written, creating or replacing', async (t) => {
  const { a } = await setup(t);
  t.is(await a.write('abc', 'one', 60), true);
  t.is(await a.write('abc', 'two', 60), true);
  t.is(await a.read('abc'), 'two');
});

test('StreamAdapter › update › replaces a live session and resolves true', async (t) => {
  const { a, file } = await setup(t);
  await a.write('abc', 'old', 60);
  t.is(await a.write('abc', 'new', 120, undefined, EXISTING), true);
  t.is(await readFile(file('abc'), 'utf8'), '120\nnew');
});

test('StreamAdapter › update › never recreates a missing or destroyed session: false, and nothing is written', async (t) => {
  const { dir, a } = await setup(t);
  await a.write('gone', 'x', 60);
  await a.destroy('gone');
  t.is(await a.write('gone', 'resurrected', 60, undefined, EXISTING), false);
  t.is(await a.write('never', 'created', 60, undefined, EXISTING), false);
  t.deepEqual(await readdir(dir), [], 'no session file and no temp file');
});

test('StreamAdapter › update › never revives an expired session', async (t) => {
  const { a, file } = await setup(t);
  await a.write('abc', 'old', 60);
  await age(file('abc'), 120);
  t.is(await a.write('abc', 'revived', 60, undefined, EXISTING), false);
  t.is(await readFile(file('abc'), 'utf8'), '60\nold');
  t.is(await a.read('abc'), null);
});

test('StreamAdapter › update › never replaces a move marker', async (t) => {
  const { dir, a } = await setup(t);
  await a.write('abc', MARKER, 60);
  t.is(await a.write('abc', '{"signedIn":false}', 60, undefined, EXISTING), false);
  t.is(await a.read('abc'), MARKER);
  t.deepEqual(await readdir(dir), ['sess_abc']);
});

test('StreamAdapter › update › a fenced update whose lock was lost is refused with SessionLockLost', async (t) => {
  const { a } = await setup(t);
  await a.write('abc', 'old', 60);
  const stale = await a.lock('abc', { wait: 1, expiry: 30 });
  await stale.release();
  await t.throwsAsync(() => a.write('abc', 'new', 60, stale, EXISTING), { code: 'ERR_SESSION_LOCK_LOST' });
  t.is(await a.read('abc'), 'old');
});

for (const io of ['sync', 'async'] as const) {
  // Serial: it wraps open() of node:fs/promises (openSync of node:fs) for this test file's process.
  test.serial(`StreamAdapter › update › io ${io} › checks the existing file with one open of its path, a plain write with none`, async (t) => {
    const { dir } = await setup(t);
    const a = new StreamAdapter({ savePath: dir, io });
    const path = join(dir, 'sess_abc');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = (io === 'async' ? require('node:fs/promises') : require('node:fs')) as Record<string, (...args: unknown[]) => unknown>;
    const key = io === 'async' ? 'open' : 'openSync';
    const original = module[key]!;
    let opens = 0;
    module[key] = (...args: unknown[]) => {
      if (args[0] === path) opens++;
      return original(...args);
    };
    t.teardown(() => { module[key] = original; });
    await a.write('abc', 'old', 60);
    t.is(opens, 0);
    t.true(await a.write('abc', 'new', 60, undefined, EXISTING));
    t.is(opens, 1);
  });
}

test('StreamAdapter › destroy › resolves the data it removed, as read() served it', async (t) => {
  const { dir, a } = await setup(t);
  await a.write('abc', '{"userId":42}', 60);
  await a.write('moved', MARKER, 60);
  t.is(await a.destroy('abc'), '{"userId":42}');
  t.is(await a.destroy('moved'), MARKER);
  t.deepEqual(await readdir(dir), [], 'no session file and no taken file left');
});

test('StreamAdapter › destroy › resolves null for a missing id and for an expired session, which it removes', async (t) => {
  const { dir, a, file } = await setup(t);
  await a.write('old', 'x', 60);
  await age(file('old'), 120);
  t.is(await a.destroy('old'), null);
  t.is(await a.destroy(newId()), null);
  t.deepEqual(await readdir(dir), []);
});

test('StreamAdapter › destroy › of two concurrent destroys of one session (two processes), exactly one gets the data', async (t) => {
  const { dir, a } = await setup(t);
  const b = new StreamAdapter({ savePath: dir });
  const ids = Array.from({ length: 50 }, newId);
  await Promise.all(ids.map((id) => a.write(id, `data of ${id}`, 60)));
  const results = await Promise.all(ids.map((id) => Promise.all([a.destroy(id), b.destroy(id)])));
  for (const [n, pair] of results.entries()) {
    t.deepEqual(pair.filter((r) => r !== null), [`data of ${ids[n]}`], `session ${n}: ${JSON.stringify(pair)}`);
  }
  t.deepEqual(await readdir(dir), []);
});

test('StreamAdapter › updateTimestamp › resolves true when it touched a live session, false when there was none', async (t) => {
  const { a, file } = await setup(t);
  await a.write('live', 'x', 60);
  await a.write('expired', 'x', 60);
  await age(file('expired'), 120);
  t.is(await a.updateTimestamp('live', 'x', 60), true);
  t.is(await a.updateTimestamp('expired', 'x', 60), false);
  t.is(await a.updateTimestamp(newId(), 'x', 60), false);
  t.is(await a.read('expired'), null);
});

test('StreamAdapter › updateTimestamp › never extends a move marker: false, and its mtime is unchanged', async (t) => {
  const { a, file } = await setup(t);
  await a.write('abc', MARKER, 60);
  await age(file('abc'), 30);
  const before = (await stat(file('abc'))).mtimeMs;
  t.is(await a.updateTimestamp('abc', MARKER, 3600), false);
  t.is((await stat(file('abc'))).mtimeMs, before);
  t.is(await a.read('abc'), MARKER);
});
