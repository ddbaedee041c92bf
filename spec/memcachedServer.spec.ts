import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { memcachedCommand, startMemcached } from './helpers/memcachedServer';
import type { MemcachedServer } from './helpers/memcachedServer';

// The helper is checked with tools of its own: raw sockets and /proc, no client library.

const HELPER = join(__dirname, 'helpers', 'memcachedServer.js');

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(25);
  }
  return !alive(pid);
}

async function started(t: ExecutionContext, options?: Parameters<typeof startMemcached>[0]): Promise<MemcachedServer> {
  const server = await startMemcached(options);
  t.teardown(() => server.stop());
  return server;
}

const stat = async (server: MemcachedServer, name: string, group = 'stats') =>
  new RegExp(`STAT ${name} (\\S+)\\r\\n`).exec(await server.command(group, /END\r\n$/))?.[1];

test('a started server answers "version" on its own 127.0.0.1 port, without UDP', async (t) => {
  const server = await started(t);
  t.is(server.host, '127.0.0.1');
  t.regex(await memcachedCommand(server.port, 'version'), /^VERSION 1\.6\.\d+\r\n$/);
  t.is(await stat(server, 'pid'), String(server.pid));
  t.is(await stat(server, 'udpport', 'stats settings'), '0');
});

test('as root, the server runs as the memcache user (or root where there is none)', async (t) => {
  const server = await started(t);
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]);
  if (process.getuid?.() !== 0) return t.is(uid, process.getuid!());
  let expected = 0;
  try {
    expected = Number(execFileSync('id', ['-u', 'memcache']).toString());
  } catch {
    // no memcache user: -u root
  }
  t.is(uid, expected);
});

test('get(), ttl() and command() speak the text protocol', async (t) => {
  const server = await started(t);
  t.is(await server.command('set greeting 0 100 5\r\nhello'), 'STORED\r\n');
  t.is(await server.get('greeting'), 'hello');
  t.true([99, 100].includes((await server.ttl('greeting'))!));
  t.is(await server.get('missing'), null);
  t.is(await server.ttl('missing'), null);
});

test('extra args reach memcached', async (t) => {
  const server = await started(t, { args: ['-I', '4m'] });
  t.is(await stat(server, 'item_size_max', 'stats settings'), String(4 * 1024 * 1024));
});

test('servers started together get distinct ports', async (t) => {
  const [a, b] = await Promise.all([started(t), started(t)]);
  t.not(a.port, b.port);
  t.not(a.pid, b.pid);
});

test('kill() ends the server abruptly and restart() brings it back, empty, on the same port', async (t) => {
  const server = await started(t);
  const { port, pid } = server;
  await server.command('set k 0 0 1\r\nv');
  await server.kill();
  t.false(alive(pid));
  await t.throwsAsync(memcachedCommand(port, 'version'), { code: 'ECONNREFUSED' });
  await server.restart();
  t.is(server.port, port);
  t.not(server.pid, pid);
  t.is(await server.get('k'), null, 'memcached keeps nothing across a crash');
});

test('restart() works after stop() too, and refuses while the server runs', async (t) => {
  const server = await started(t);
  await t.throwsAsync(server.restart(), { message: /still running/ });
  await server.stop();
  await server.restart();
  t.regex(await server.command('version'), /^VERSION /);
});

test('a paused server leaves commands unanswered until it is resumed; stop() ends it paused', async (t) => {
  const server = await started(t);
  server.pause();
  await t.throwsAsync(memcachedCommand(server.port, 'version', undefined, 300), { code: 'ETIMEDOUT' });
  server.resume();
  t.regex(await server.command('version'), /^VERSION /);
  server.pause();
  const { pid } = server;
  await server.stop();
  t.false(alive(pid));
  await t.notThrowsAsync(server.stop(), 'stop() may be called again');
});

test('a port that is taken fails the start with the server output', async (t) => {
  const blocker = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const { port } = blocker.address() as AddressInfo;
  const before = Date.now();
  const error = await t.throwsAsync(startMemcached({ port }));
  t.true(Date.now() - before < 5_000, 'reported as soon as the server exits');
  t.regex(error!.message, /exited during startup/);
  t.regex(error!.message, /Address already in use/i);
});

// PATH is process-wide: this runs serially, before the concurrent tests start.
test.serial('a missing memcached fails with an error that names .ci/run', async (t) => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await t.throwsAsync(startMemcached(), { message: 'memcached not found: .ci/run installs it (apt-get install memcached)' });
  } finally {
    process.env.PATH = path;
  }
});

/** Runs a node script that uses the helper; resolves the PID of the memcached it started. */
function childWithServer(t: ExecutionContext, script: string): Promise<{ pid: number; child: ReturnType<typeof spawn> }> {
  const child = spawn(process.execPath, ['-e', `const h = require(${JSON.stringify(HELPER)});\n${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stderr!.on('data', (chunk) => { out += chunk; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child printed no pid within 10 s: ${out}`)), 10_000);
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /pid=(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        const pid = Number(match[1]);
        // If the safety net failed, do not leak the server: it is ours, stop it by PID.
        t.teardown(() => {
          if (alive(pid)) process.kill(pid, 'SIGKILL');
        });
        resolve({ pid, child });
      }
    });
    child.once('exit', () => setTimeout(() => reject(new Error(`child exited without a pid: ${out}`)), 100));
  });
}

test('a server left running is killed when the process that started it exits', async (t) => {
  const { pid, child } = await childWithServer(t, `h.startMemcached().then((s) => console.log('pid=' + s.pid));`);
  const exited = await Promise.race([new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))), sleep(10_000, false)]);
  t.true(exited || child.exitCode !== null, 'the child process exited on its own');
  t.true(await waitGone(pid), `memcached ${pid} is gone`);
});

test('a server left running is killed when the process that started it gets SIGTERM', async (t) => {
  const { pid, child } = await childWithServer(t, `setInterval(() => {}, 1000); h.startMemcached().then((s) => console.log('pid=' + s.pid));`);
  t.true(alive(pid));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGTERM');
  t.is(await exited, 'SIGTERM', 'the process still dies of the signal');
  t.true(await waitGone(pid), `memcached ${pid} is gone`);
});
