import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateId, StreamAdapter } from '../../lib';

// The file adapter's gc over many sessions: `files` session files in a private temp dir, half of
// them idle for two hours (mtime set back) with a one-hour TTL, half fresh. gc must remove
// exactly the expired half; the dir is removed afterwards.

export interface GcResult {
  files: number;
  removed: number;
  remaining: number;
  ms: number;
  /** µs per file looked at. */
  usPerFile: number;
  correct: boolean;
}

const TTL_S = 3600;

export async function measureGc(files: number): Promise<GcResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ksm-bench-gc-'));
  try {
    const old = new Date(Date.now() - 2 * TTL_S * 1000);
    const record = `${TTL_S}\n{"c":${Date.now()},"d":{"n":1}}`;
    for (let i = 0; i < files; i++) {
      const path = join(dir, `sess_${generateId()}`); // the adapter's default prefix
      writeFileSync(path, record, { mode: 0o600 });
      if (i % 2 === 0) utimesSync(path, old, old);
    }
    const expired = Math.ceil(files / 2);
    const adapter = new StreamAdapter({ savePath: dir });
    const started = performance.now();
    const removed = await adapter.gc(TTL_S);
    const ms = performance.now() - started;
    const remaining = readdirSync(dir).length;
    return { files, removed, remaining, ms, usPerFile: (ms * 1000) / files, correct: removed === expired && remaining === files - expired };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
