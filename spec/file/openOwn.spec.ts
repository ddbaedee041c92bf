import test from 'ava';
import type { ExecutionContext } from 'ava';
import { chown, lstat, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { newId } from '../helpers/adapterContract';
import { tempDir } from '../helpers/tmp';

// What lib/file/openOwn.ts decides, through the adapter: a symlink or another user's
// file under a session's name is no session, never followed, never served or touched.

const PLANTED = '60\n{"role":"admin"}';
/** Files of another user can be made only as root (the specs run as root here and in CI). */
const asRoot = process.getuid?.() === 0 ? test : test.skip;
const NOBODY = 65534;
/** Live (TTL 60 s) but not brand-new: a touch would move the mtime visibly. */
const planted = () => new Date(Date.now() - 30_000);

interface Planted {
  a: StreamAdapter;
  id: string;
  /** The path under the session's name. */
  path: string;
  /** What a follower of the symlink would reach (the planted file itself for an owner case). */
  target: string;
}

/** A symlink under a session's name, to a file in the session format outside the save path. */
async function plantSymlink(t: ExecutionContext): Promise<Planted> {
  const [savePath, elsewhere] = [await tempDir(t), await tempDir(t)];
  const id = newId();
  const target = join(elsewhere, 'target');
  await writeFile(target, PLANTED);
  await utimes(target, planted(), planted());
  await symlink(target, join(savePath, `sess_${id}`));
  return { a: new StreamAdapter({ savePath }), id, path: join(savePath, `sess_${id}`), target };
}

/** A live file in the session format under a session's name, owned by another user. */
async function plantForeign(t: ExecutionContext): Promise<Planted> {
  const savePath = await tempDir(t);
  const id = newId();
  const path = join(savePath, `sess_${id}`);
  await writeFile(path, PLANTED, { mode: 0o600 });
  await chown(path, NOBODY, NOBODY);
  await utimes(path, planted(), planted());
  return { a: new StreamAdapter({ savePath }), id, path, target: path };
}

for (const [what, plant, run] of [
  ['a symlink', plantSymlink, test],
  ['a file of another user', plantForeign, asRoot],
] as const) {
  run(`StreamAdapter › ${what} under a session's name › read serves no session`, async (t) => {
    const { a, id } = await plant(t);
    t.is(await a.read(id), null);
  });

  run(`StreamAdapter › ${what} under a session's name › validateId is false`, async (t) => {
    const { a, id } = await plant(t);
    t.false(await a.validateId(id));
  });

  run(`StreamAdapter › ${what} under a session's name › updateTimestamp touches nothing and resolves false`, async (t) => {
    const { a, id, target } = await plant(t);
    const before = (await stat(target)).mtimeMs;
    t.is(await a.updateTimestamp(id, 'x', 3600), false);
    t.is((await stat(target)).mtimeMs, before);
  });

  run(`StreamAdapter › ${what} under a session's name › an update is refused and writes nothing through it`, async (t) => {
    const { a, id, path, target } = await plant(t);
    const kind = (await lstat(path)).isSymbolicLink();
    t.is(await a.write(id, '{"role":"guest"}', 60, undefined, { existing: true }), false);
    t.is(await readFile(target, 'utf8'), PLANTED);
    t.is((await lstat(path)).isSymbolicLink(), kind, 'the entry under the name is unchanged');
  });

  run(`StreamAdapter › ${what} under a session's name › destroy resolves no data and removes only the entry under the name`, async (t) => {
    const { a, id, path, target } = await plant(t);
    t.is(await a.destroy(id), null);
    t.deepEqual(await readdir(join(path, '..')), []);
    if (target !== path) t.is(await readFile(target, 'utf8'), PLANTED, 'the symlink’s target is untouched');
  });

  run(`StreamAdapter › ${what} under a session's name › a plain write replaces the entry, never writing through it`, async (t) => {
    const { a, id, path, target } = await plant(t);
    t.true(await a.write(id, 'mine', 60));
    t.is(await a.read(id), 'mine');
    t.false((await lstat(path)).isSymbolicLink());
    t.is((await stat(path)).uid, process.getuid!());
    if (target !== path) t.is(await readFile(target, 'utf8'), PLANTED);
  });
}
