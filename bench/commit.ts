import { execFileSync } from 'node:child_process';

/** The commit measured, and whether lib/ has changes not in it. */
export function commitOf(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted lib changes` : head;
  } catch {
    return 'unknown';
  }
}
