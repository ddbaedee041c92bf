import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

/** A fresh private directory under the OS temp dir, and the way to remove it with all it holds. */
export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

/** Creates a fresh temp directory; the caller removes it. */
export async function makeTempDir(label = 'spec'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `ksm-${label}-`));
  return {
    path,
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

/** A fresh temp directory removed when the test `t` ends, pass or fail. */
export async function tempDir(t: ExecutionContext, label = 'spec'): Promise<string> {
  const dir = await makeTempDir(label);
  t.teardown(dir.remove);
  return dir.path;
}
