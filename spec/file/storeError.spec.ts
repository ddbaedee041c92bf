import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { idTag } from '../../lib/id';
import { newId } from '../helpers/adapterContract';
import { tempDir } from '../helpers/tmp';

// No session id in the errors of the file adapter (lib/file/storeError.ts and the lock
// errors): a message or a key in a log would hand the session to whoever reads the log.

/** Every text of `err` a logger shows: message, stack, key, path, and the same of its cause. */
function texts(err: unknown): string[] {
  if (!(err instanceof Error)) return [];
  const fields = err as Error & { key?: unknown; path?: unknown; dest?: unknown };
  return [err.message, err.stack, fields.key, fields.path, fields.dest]
    .filter((v): v is string => typeof v === 'string')
    .concat(texts(err.cause));
}

function assertRedacted(t: ExecutionContext, err: Error | undefined, id: string): void {
  t.truthy(err);
  for (const text of texts(err)) t.false(text.includes(id), `the id shows in: ${text}`);
  t.true(err!.message.includes(idTag(id)), `the message names the id by its tag: ${err!.message}`);
}

/** An adapter and an id whose session file is a directory: every file operation on it fails. */
async function broken(t: ExecutionContext) {
  const savePath = await tempDir(t);
  const id = newId();
  await mkdir(join(savePath, `sess_${id}`));
  return { a: new StreamAdapter({ savePath }), id, savePath };
}

const STORE = { code: 'ERR_SESSION_STORE' };

test('StreamAdapter › errors › a failed read names the session by its tag, not its id', async (t) => {
  const { a, id } = await broken(t);
  assertRedacted(t, await t.throwsAsync(() => a.read(id), STORE), id);
});

test('StreamAdapter › errors › a failed write names the session by its tag, also in its cause', async (t) => {
  const { a, id } = await broken(t);
  const err = await t.throwsAsync(() => a.write(id, 'x', 60), STORE);
  t.truthy(err!.cause, 'the fs error is kept as the cause');
  assertRedacted(t, err, id);
});

test('StreamAdapter › errors › a failed touch, update and destroy name the session by its tag', async (t) => {
  const { a, id, savePath } = await broken(t);
  assertRedacted(t, await t.throwsAsync(() => a.updateTimestamp(id, 'x', 60), STORE), id);
  assertRedacted(t, await t.throwsAsync(() => a.write(id, 'x', 60, undefined, { existing: true }), STORE), id);
  assertRedacted(t, await t.throwsAsync(() => a.destroy(id), STORE), id);
  t.deepEqual(await readdir(savePath), [`sess_${id}`], 'the failed destroy put the entry back');
});

test('StreamAdapter › errors › a lock timeout between processes keys the lock by the id’s tag', async (t) => {
  const savePath = await tempDir(t);
  const id = newId();
  const [a, b] = [new StreamAdapter({ savePath }), new StreamAdapter({ savePath })];
  const held = await a.lock(id, { wait: 1, expiry: 30 });
  t.teardown(() => held.release());
  const err = await t.throwsAsync(() => b.lock(id, { wait: 0.1, expiry: 30 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
  assertRedacted(t, err, id);
  t.is((err as Error & { key: string }).key, join(savePath, `sess_${idTag(id)}.lock`));
});

test('StreamAdapter › errors › a lock timeout within one process keys the lock by the id’s tag', async (t) => {
  const savePath = await tempDir(t);
  const id = newId();
  const a = new StreamAdapter({ savePath });
  const held = await a.lock(id, { wait: 1, expiry: 30 });
  t.teardown(() => held.release());
  const err = await t.throwsAsync(() => a.lock(id, { wait: 0.1, expiry: 30 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
  assertRedacted(t, err, id);
});

test('StreamAdapter › errors › a lost lock keys the lock by the id’s tag', async (t) => {
  const savePath = await tempDir(t);
  const id = newId();
  const a = new StreamAdapter({ savePath });
  const handle = await a.lock(id, { wait: 1, expiry: 30 });
  await handle.release();
  const err = await t.throwsAsync(() => a.write(id, 'x', 60, handle), { code: 'ERR_SESSION_LOCK_LOST' });
  assertRedacted(t, err, id);
  t.is((err as Error & { key: string }).key, join(savePath, `sess_${idTag(id)}.lock`));
});
