import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

/** spec/php/fixtures/sessions.php, from the compiled spec under build/spec/php/. */
export const SESSIONS_PHP = resolve(__dirname, '..', '..', '..', 'spec', 'php', 'fixtures', 'sessions.php');

/**
 * Runs the PHP CLI without php.ini (built-in defaults: serialize_precision -1) with `args` (and `input` on stdin), resolving its stdout. A missing `php`
 * rejects with the fix, never a skip: CI installs php-cli, and these specs must run there.
 */
export function php(args: readonly string[], input?: string | Buffer, timeout = 20_000): Promise<string> {
  return new Promise((done, fail) => {
    const child = execFile('php', ['-n', ...args], { timeout, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') return fail(new Error('The PHP CLI is not installed (php not found on PATH): these specs need PHP 8.1+ — on Debian: apt-get install php-cli'));
      if (err !== null) return fail(new Error(`php ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      if (stderr.trim() !== '') return fail(new Error(`php ${args.join(' ')} wrote to stderr:\n${stderr}`));
      done(stdout);
    });
    child.stdin?.end(input);
  });
}
