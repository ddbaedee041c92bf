import test from 'ava';
import { mkdir, readdir, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { adapterContract, HOSTILE_IDS, newId } from '../helpers/adapterContract';
import { makeTempDir, tempDir } from '../helpers/tmp';

// Both ways of reading and writing the files: io 'sync' (the default) and 'async'.
for (const io of ['sync', 'async'] as const) adapterContract(
  test,
  io === 'sync' ? 'StreamAdapter' : 'StreamAdapter (io: async)',
  async () => {
    const dir = await makeTempDir('stream');
    return { adapter: new StreamAdapter({ savePath: dir.path, io }), cleanup: dir.remove };
  },
  {
    locking: true,
    persistent: true,
    lockLoss: {
      lose: (adapter, id) => unlink(join((adapter as StreamAdapter).savePath, `sess_${id}.lock`)),
      twin: async (adapter) => new StreamAdapter({ savePath: (adapter as StreamAdapter).savePath, io }),
    },
  },
);

const STORE = { code: 'ERR_SESSION_STORE' };

/** Sets a file's mtime (and atime) `seconds` into the past. */
function age(path: string, seconds: number): Promise<void> {
  const then = new Date(Date.now() - seconds * 1000);
  return utimes(path, then, then);
}

test('StreamAdapter › constructor › an empty save path is invalid', (t) => {
  const expected = { code: 'ERR_SESSION_INVALID_SAVE_PATH', message: 'The session save path cannot be empty' };
  t.throws(() => new StreamAdapter({ savePath: '' }), expected);
  t.throws(() => new StreamAdapter({} as { savePath: string }), expected);
});

for (const prefix of ['../x', 'a/b', 'x\u0000', 'sess id']) {
  test(`StreamAdapter › constructor › prefix ${JSON.stringify(prefix)} is an invalid option`, async (t) => {
    const savePath = await tempDir(t);
    t.throws(() => new StreamAdapter({ savePath, prefix }), { code: 'ERR_SESSION_INVALID_OPTION' });
  });
}

test('StreamAdapter › files › a session is the file <savePath>/<prefix><id> holding "<ttl>\\n<data>"', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: `${dir}/`, prefix: 'sess_' });
  t.is(a.savePath, dir);
  await a.write('abc', 'hello', 60);
  t.deepEqual(await readdir(dir), ['sess_abc']);
  t.is(await readFile(join(dir, 'sess_abc'), 'utf8'), '60\nhello');
});

test('StreamAdapter › files › the default prefix is PHP\'s: sess_<id>', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir });
  t.is(a.prefix, 'sess_');
  await a.write('abc', 'hello', 60);
  t.deepEqual(await readdir(dir), ['sess_abc']);
  t.is(await a.read('abc'), 'hello');
});

test('StreamAdapter › files › an explicit empty prefix names the file by the id alone (Phalcon\'s default)', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir, prefix: '' });
  await a.write('abc', 'hello', 60);
  t.deepEqual(await readdir(dir), ['abc']);
  t.is(await a.read('abc'), 'hello');
});

test('StreamAdapter › files › are created with mode 0600, also over a wider existing file', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir });
  await writeFile(join(dir, 'sess_wide'), '60\nold', { mode: 0o644 });
  await a.write('wide', 'new', 60);
  await a.write('fresh', 'new', 60);
  t.is((await stat(join(dir, 'sess_wide'))).mode & 0o777, 0o600);
  t.is((await stat(join(dir, 'sess_fresh'))).mode & 0o777, 0o600);
});

test('StreamAdapter › write › is atomic: no temp file is left behind', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir, prefix: 'sess_' });
  await Promise.all(Array.from({ length: 20 }, (_, n) => a.write('abc', `data ${n}`, 60)));
  t.deepEqual(await readdir(dir), ['sess_abc']);
  t.regex((await a.read('abc'))!, /^data \d+$/);
});

test('StreamAdapter › write › is atomic: concurrent readers never see a partial file', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir });
  const [as, bs] = ['a'.repeat(1 << 20), 'b'.repeat(1 << 20)];
  await a.write('abc', as, 60);
  const seen: (string | null)[] = [];
  await Promise.all([
    (async () => {
      for (let n = 0; n < 20; n++) await a.write('abc', n % 2 ? as : bs, 60);
    })(),
    ...Array.from({ length: 40 }, async () => seen.push(await a.read('abc'))),
  ]);
  t.is(seen.length, 40);
  t.true(seen.every((s) => s === as || s === bs), 'a read returned a partial or empty file');
});

test('StreamAdapter › write › a failed rename rejects with a store error and leaves no temp file', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir });
  await mkdir(join(dir, 'sess_abc')); // rename(temp, dir) fails with EISDIR
  await t.throwsAsync(() => a.write('abc', 'x', 60), STORE);
  t.deepEqual(await readdir(dir), ['sess_abc']);
});

test('StreamAdapter › write › a failed temp write rejects and leaves the old data intact', async (t) => {
  const dir = await tempDir(t);
  // The file name fits NAME_MAX (255) but the temp name (".<12 hex>.tmp" longer) does not, so
  // the temp file cannot be created: a real failure of the first step, even as root.
  const prefix = 'p'.repeat(120);
  const id = 'i'.repeat(128);
  const a = new StreamAdapter({ savePath: dir, prefix });
  await writeFile(join(dir, prefix + id), '60\nold');
  t.is(await a.read(id), 'old');
  await t.throwsAsync(() => a.write(id, 'new', 60), STORE);
  t.is(await a.read(id), 'old');
  t.deepEqual(await readdir(dir), [prefix + id]);
});

test('StreamAdapter › read › an expired file is not served although it is still on disk', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir });
  await a.write('abc', 'x', 0.2);
  await sleep(350);
  t.true(existsSync(join(dir, 'sess_abc')));
  t.is(await a.read('abc'), null);
  t.false(await a.validateId('abc'));
});

for (const [what, content] of [
  ['without a newline', 'hello world'],
  ['whose first line is not a number', 'abc\ndef'],
  ['whose TTL is not positive', '0\nxyz'],
  ['that is empty', ''],
] as const) {
  test(`StreamAdapter › read › a file ${what} is returned whole`, async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'sess_abc'), content);
    t.is(await new StreamAdapter({ savePath: dir }).read('abc'), content);
  });
}

test('StreamAdapter › read › an I/O failure rejects instead of reporting a missing session', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'sess_abc'));
  await t.throwsAsync(() => new StreamAdapter({ savePath: dir }).read('abc'), STORE);
});

test('StreamAdapter › updateTimestamp › does not recreate the file of a destroyed session', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir });
  await a.write('abc', 'x', 60);
  await a.destroy('abc');
  t.false(await a.updateTimestamp('abc', 'x', 60));
  t.deepEqual(await readdir(dir), []);
});

test('StreamAdapter › updateTimestamp › refreshes the mtime and keeps the data', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir });
  await a.write('abc', 'x', 3600);
  await age(join(dir, 'sess_abc'), 100);
  t.true(await a.updateTimestamp('abc', 'ignored', 3600));
  const { mtimeMs } = await stat(join(dir, 'sess_abc'));
  t.true(Math.abs(Date.now() - mtimeMs) < 5000);
  t.is(await readFile(join(dir, 'sess_abc'), 'utf8'), '3600\nx');
});

test('StreamAdapter › ids › hostile ids never create or touch files outside savePath', async (t) => {
  const root = await tempDir(t);
  const savePath = join(root, 'a', 'b', 'save');
  // Targets an unguarded adapter would reach: '../../etc/passwd' and 'a/b' land in these.
  await mkdir(join(root, 'a', 'etc'), { recursive: true });
  await mkdir(join(savePath, 'a'), { recursive: true });
  const a = new StreamAdapter({ savePath });
  for (const id of HOSTILE_IDS) {
    const calls = [
      () => a.write(id, 'x', 60),
      () => a.read(id),
      () => a.updateTimestamp(id, 'x', 60),
      () => a.validateId(id),
      () => a.lock(id, { wait: 0.1, expiry: 1 }),
      () => a.destroy(id),
    ];
    for (const call of calls) await t.throwsAsync(call, { code: 'ERR_SESSION_INVALID_ID' });
  }
  t.deepEqual(await readdir(join(root, 'a', 'etc')), []);
  t.deepEqual(await readdir(join(savePath, 'a')), []);
  t.deepEqual(await readdir(savePath), ['a']);
  t.deepEqual((await readdir(root, { recursive: true })).sort(), ['a', 'a/b', 'a/b/save', 'a/b/save/a', 'a/etc']);
});

test('StreamAdapter › write › rejects a TTL that is not a positive number and writes nothing', async (t) => {
  const dir = await tempDir(t);
  const a = new StreamAdapter({ savePath: dir });
  for (const ttl of [0, -1, Number.NaN]) {
    await t.throwsAsync(() => a.write(newId(), 'x', ttl), { code: 'ERR_SESSION_INVALID_OPTION' }, String(ttl));
  }
  t.deepEqual(await readdir(dir), []);
});

test('StreamAdapter › options › io must be \'sync\' or \'async\'', (t) => {
  const err = t.throws(() => new StreamAdapter({ savePath: '/tmp', io: 'threads' as 'sync' }), { code: 'ERR_SESSION_INVALID_OPTION' });
  t.is((err as Error & { option: string }).option, 'io');
});

test.serial('StreamAdapter › options › io defaults to \'sync\', and to \'async\' on a network file system (statfs); an explicit io wins', async (t) => {
  const dir = await makeTempDir('stream-io');
  t.teardown(dir.remove);
  t.is(new StreamAdapter({ savePath: dir.path }).io, 'sync');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as { statfsSync: (...args: unknown[]) => { type: number } };
  const original = fs.statfsSync;
  fs.statfsSync = () => ({ type: 0x6969 }); // NFS's magic number
  t.teardown(() => { fs.statfsSync = original; });
  t.is(new StreamAdapter({ savePath: dir.path }).io, 'async');
  t.is(new StreamAdapter({ savePath: dir.path, io: 'sync' }).io, 'sync');
});
