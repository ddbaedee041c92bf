import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startRedis, startRedisCluster } from './helpers/redisServer';
import type { RedisServer } from './helpers/redisServer';

// The helper is checked with tools of its own: a raw socket and redis-cli, no client library.

const HELPER = join(__dirname, 'helpers', 'redisServer.js');

/** PING over a raw socket; resolves the reply line, rejects on error or after `timeoutMs`. */
function rawPing(port: number, timeoutMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`PING timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (error: Error | undefined, value?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value!);
    };
    socket.on('error', (error) => done(error));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(undefined, reply.slice(0, reply.indexOf('\r\n')));
    });
    socket.write('PING\r\n');
  });
}

function redisCli(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: 10_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
  });
}

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

async function started(t: ExecutionContext, options?: Parameters<typeof startRedis>[0]): Promise<RedisServer> {
  const server = await startRedis(options);
  t.teardown(() => server.stop());
  return server;
}

test('a started server answers PING on its own 127.0.0.1 port and reports Redis 7', async (t) => {
  const server = await started(t);
  t.is(server.host, '127.0.0.1');
  t.is(server.url, `redis://127.0.0.1:${server.port}`);
  t.is(await rawPing(server.port), '+PONG');
  const info = await server.info('server');
  t.regex(info, /redis_version:7\./);
  t.true(info.includes(`process_id:${server.pid}`));
  t.true(info.includes(`tcp_port:${server.port}`));
});

test('a started server keeps nothing on disk and runs in its own temp dir', async (t) => {
  const server = await started(t);
  t.is((await server.cli('CONFIG', 'GET', 'save')).trim().split('\n')[1] ?? '', '');
  t.is((await server.cli('CONFIG', 'GET', 'appendonly')).trim().split('\n')[1], 'no');
  t.is((await server.cli('CONFIG', 'GET', 'dir')).trim().split('\n')[1], server.dir);
  t.true(existsSync(server.dir));
});

test('cli() runs redis-cli against this server', async (t) => {
  const server = await started(t);
  t.is((await server.cli('SET', 'greeting', 'hello')).trim(), 'OK');
  t.is((await server.cli('GET', 'greeting')).trim(), 'hello');
  t.is(await redisCli('-p', String(server.port), 'GET', 'greeting'), 'hello');
});

test('extra args reach redis-server', async (t) => {
  const server = await started(t, { args: ['--maxmemory', '12mb'] });
  t.is((await server.cli('CONFIG', 'GET', 'maxmemory')).trim().split('\n')[1], String(12 * 1024 * 1024));
});

test('servers started together get distinct ports', async (t) => {
  const [a, b] = await Promise.all([started(t), started(t)]);
  t.not(a.port, b.port);
  t.not(a.pid, b.pid);
  t.is(await rawPing(a.port), '+PONG');
  t.is(await rawPing(b.port), '+PONG');
});

test('kill() ends the server abruptly and restart() brings it back on the same port', async (t) => {
  const server = await started(t);
  const { port, pid } = server;
  await server.cli('SET', 'k', 'v');
  await server.kill();
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  await t.throwsAsync(rawPing(port), { code: 'ECONNREFUSED' });

  await server.restart();
  t.is(server.port, port);
  t.not(server.pid, pid);
  t.is(await rawPing(port), '+PONG');
  t.is((await server.cli('GET', 'k')).trim(), '', 'nothing persisted across the crash');
});

test('restart() works after stop() too, and refuses while the server runs', async (t) => {
  const server = await started(t);
  await t.throwsAsync(server.restart(), { message: /still running/ });
  await server.stop();
  await server.restart();
  t.is(await rawPing(server.port), '+PONG');
});

test('a paused server leaves PING unanswered until it is resumed', async (t) => {
  const server = await started(t);
  server.pause();
  const before = Date.now();
  await t.throwsAsync(rawPing(server.port, 500), { message: /timed out/ });
  t.true(Date.now() - before < 2_000);
  server.resume();
  t.is(await rawPing(server.port), '+PONG');
});

test('stop() ends a paused server too', async (t) => {
  const server = await started(t);
  const { pid } = server;
  server.pause();
  await server.stop();
  t.false(alive(pid));
});

test('stop() ends the process, removes its temp dir, and may be called again', async (t) => {
  const server = await startRedis();
  const { pid, dir } = server;
  await server.stop();
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  t.false(existsSync(dir));
  await t.notThrowsAsync(server.stop());
});

test('a port that is taken fails the start with the server output', async (t) => {
  const blocker = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const { port } = blocker.address() as AddressInfo;
  const before = Date.now();
  const error = await t.throwsAsync(startRedis({ port }));
  t.true(Date.now() - before < 5_000, 'reported as soon as the server exits, not after the 10 s PING deadline');
  t.regex(error!.message, /exited during startup/);
  t.regex(error!.message, /Address already in use/i);
});

test('freePort() returns a port that can be listened on', async (t) => {
  const port = await freePort();
  t.true(port > 0 && port < 65536);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.pass();
});

// PATH is process-wide: this runs serially, before the concurrent tests start.
test.serial('a missing redis-server fails with an error that says how to install it', async (t) => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await t.throwsAsync(startRedis(), { message: 'redis-server not found: .ci/run installs it (apt-get install redis-server)' });
  } finally {
    process.env.PATH = path;
  }
});

/** Runs a node script that uses the helper; resolves the PID of the redis-server it started. */
function childWithServer(t: ExecutionContext, script: string): Promise<{ pid: number; child: ReturnType<typeof spawn> }> {
  const child = spawn(process.execPath, ['-e', `const h = require(${JSON.stringify(HELPER)});\n${script}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
  // No stop(), no process.exit(): the forgotten server must not keep the process alive either.
  const { pid, child } = await childWithServer(t, `h.startRedis().then((s) => console.log('pid=' + s.pid));`);
  const exited = await Promise.race([
    new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
    sleep(10_000, false),
  ]);
  t.true(exited || child.exitCode !== null, 'the child process exited on its own');
  t.true(await waitGone(pid), `redis-server ${pid} is gone`);
});

test('a server left running is killed when the process that started it gets SIGTERM', async (t) => {
  const { pid, child } = await childWithServer(
    t,
    `setInterval(() => {}, 1000); h.startRedis().then((s) => console.log('pid=' + s.pid));`,
  );
  t.true(alive(pid));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGTERM');
  t.is(await exited, 'SIGTERM', 'the process still dies of the signal');
  t.true(await waitGone(pid), `redis-server ${pid} is gone`);
});

test('a three-node cluster reaches cluster_state:ok and serves a key from any node', async (t) => {
  const cluster = await startRedisCluster();
  t.teardown(() => cluster.stop());
  t.is(cluster.nodes.length, 3);
  t.deepEqual(cluster.startupNodes, cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })));
  for (const node of cluster.nodes) t.regex(await node.cli('CLUSTER', 'INFO'), /cluster_state:ok/);

  const [p1, p2, p3] = cluster.nodes.map((node) => String(node.port));
  t.is(await redisCli('-c', '-p', p1, 'SET', 'a', '1'), 'OK');
  t.is(await redisCli('-c', '-p', p2, 'GET', 'a'), '1');
  t.is(await redisCli('-c', '-p', p3, 'GET', 'a'), '1');

  const pids = cluster.nodes.map((node) => node.pid);
  await cluster.stop();
  for (const pid of pids) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  await t.notThrowsAsync(cluster.stop());
});
