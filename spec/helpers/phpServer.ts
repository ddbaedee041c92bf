import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import { Client } from './http';
import { freePort, HOST, tail } from './serverProcess';

/** spec/php/fixtures/www, from the compiled helper under build/spec/helpers/. */
const WWW = resolve(__dirname, '..', '..', '..', 'spec', 'php', 'fixtures', 'www');
const READY_TIMEOUT_MS = 10_000;
const STOP_WAIT_MS = 5_000;
/** The extensions Debian's php-redis and php-memcached need, in load order (php -n loads no php.ini). */
const EXTENSIONS = ['igbinary', 'msgpack', 'redis', 'memcached'];

/** A `php -S` serving a router script (spec/php/fixtures/www/router.php), started by a spec and stopped by its PID. */
export interface PhpServer {
  readonly url: string;
  /** What PHP printed (the built-in server's request log, startup errors). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Start PHP's built-in server on a free 127.0.0.1 port in `root` with `router` (the spec
 * fixtures' by default), without any php.ini (`-n`), with the
 * session extensions and `ini` as `-d` settings, and `env` (KSM_PHALCON for the Phalcon
 * adapter's protocol); resolves once it answers. Stopped when the test (or `t`'s file) ends.
 * A missing `php` rejects with the fix: CI installs php-cli, php-redis and php-memcached.
 */
export async function startPhp(
  t: ExecutionContext | null,
  ini: Record<string, string | number>,
  env: Record<string, string> = {},
  { root = WWW, router = 'router.php' }: { root?: string; router?: string } = {},
): Promise<PhpServer> {
  const port = await freePort();
  const args = ['-n', ...EXTENSIONS.flatMap((e) => ['-d', `extension=${e}`]), '-d', 'display_errors=0', '-d', 'log_errors=1', '-d', 'error_log=/dev/stderr'];
  for (const [key, value] of Object.entries(ini)) args.push('-d', `${key}=${value}`);
  args.push('-S', `${HOST}:${port}`, router);
  const child: ChildProcess = spawn('php', args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output = tail(output + chunk)));
  child.stderr!.on('data', (chunk) => (output = tail(output + chunk)));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code === 'ENOENT'
      ? 'The PHP CLI is not installed (php not found on PATH): on Debian apt-get install php-cli php-redis php-memcached (.ci/run does)'
      : `php -S failed to start: ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`php -S exited (${code}) before answering:\n${output}`)));
  });
  failed.catch(() => undefined);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM'); // this child's PID only
    await Promise.race([exited, sleep(STOP_WAIT_MS)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const server: PhpServer = { url: `http://${HOST}:${port}`, output: () => output, stop };
  t?.teardown(stop);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      await Promise.race([fetch(`${server.url}/no-such-page`), failed]);
      return server;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw child.exitCode !== null || child.pid === undefined ? err : new Error(`php -S did not answer within ${READY_TIMEOUT_MS} ms:\n${output}`);
      }
      await sleep(50);
    }
  }
}

/** Two clients, for the PHP app and the Koa app, sharing one cookie jar as a browser does for one host. */
export function sharedJar(phpUrl: string, koaUrl: string): { php: Client; koa: Client } {
  const php = new Client(phpUrl);
  const koa = new Client(koaUrl);
  (koa as { jar: Map<string, string> }).jar = php.jar;
  return { php, koa };
}
