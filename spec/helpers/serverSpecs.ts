import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext, TestFn } from 'ava';
import { alive, descendants, statFields, waitGone } from './procfs';
import { HOST, type PrivateServer } from './serverProcess';

// ---- for the helpers' own specs ----

/** Runs a node script that requires `helper` (as `h`); resolves the PID it prints as `pid=<n>`, SIGKILLed by the teardown should the safety net under test fail. */
function childWithServer(t: ExecutionContext, helper: string, script: string): Promise<{ pid: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', `const h = require(${JSON.stringify(helper)});\n${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stderr!.on('data', (chunk) => { out += chunk; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child printed no pid within 30 s: ${out}`)), 30_000);
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /pid=(\d+)/.exec(out);
      if (!match) return;
      clearTimeout(timer);
      const pid = Number(match[1]);
      t.teardown(() => {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
      resolve({ pid, child });
    });
    child.once('exit', () => setTimeout(() => reject(new Error(`child exited without a pid: ${out}`)), 100));
  });
}

export interface ServerSpecs<S extends PrivateServer> {
  /** The compiled helper module, required by a child process as `h`. */
  helper: string;
  /** The same start as a promise expression over `h`, for a child process: e.g. `h.startPostgres()`. */
  startInChild: string;
  /** The system user it runs as when the specs run as root. */
  user: string;
  start(): Promise<S>;
  /** Starts with options that make the server exit during startup, saying `failure`. */
  startFailing(): Promise<unknown>;
  failure: RegExp;
  /** Starts on `port` (taken: the start must fail). */
  startOnPort(port: number): Promise<unknown>;
  /** Resolves once the server on `port` answers its protocol; rejects with the socket's code (ECONNREFUSED, ETIMEDOUT). */
  probe(port: number, timeoutMs: number): Promise<unknown>;
  /** Stores a mark in the server and reads it back, failing with `missing` without one; absent for a server that keeps no data. */
  data?: { write(server: S): Promise<unknown>; read(server: S): Promise<string>; missing: RegExp };
}

const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** The lifecycle specs every private server passes alike: start, kill, restart, pause, stop, failed starts, the safety net. */
export function serverSpecs<S extends PrivateServer>(test: TestFn, specs: ServerSpecs<S>): void {
  const { probe, data } = specs;
  const started = async (t: ExecutionContext) => {
    const server = await specs.start();
    t.teardown(() => server.stop());
    return server;
  };
  const read = (server: S) => data!.read(server).catch((error: Error) => {
    if (data!.missing.test(error.message)) return '';
    throw error;
  });

  // Serial tests run before the others: here nothing else of the file starts a process meanwhile.
  test.serial('a start after a failing start leaves no process behind', async (t) => {
    const before = new Set(descendants(process.pid));
    const error = await t.throwsAsync(specs.startFailing());
    t.regex(error!.message, /exited during startup/);
    t.regex(error!.message, specs.failure);
    t.deepEqual(descendants(process.pid).filter((pid) => !before.has(pid)), [], 'no process of the failed start is left');
    await t.notThrowsAsync(probe((await started(t)).port, 5_000));
  });

  test(`as root, the server runs as the ${specs.user} user`, async (t) => {
    const server = await started(t);
    const root = process.getuid!() === 0;
    t.is(uidOf(server.pid), root ? Number(execFileSync('id', ['-u', specs.user], { encoding: 'utf8' })) : process.getuid!());
  });

  test('servers started together get distinct ports, PIDs and dirs', async (t) => {
    const [a, b] = await Promise.all([started(t), started(t)]);
    t.not(a.port, b.port);
    t.not(a.pid, b.pid);
    t.not(a.dir, b.dir);
    if (data) {
      await data.write(b);
      t.is(await read(a), '', 'what one keeps, the other does not see');
    }
  });

  test('kill() ends the server and its children abruptly; restart() brings it back on the same port, with its data', async (t) => {
    const server = await started(t);
    const { port, pid } = server;
    await data?.write(server);
    const children = descendants(pid);
    await server.kill();
    t.false(alive(pid));
    t.deepEqual(children.filter(alive), [], 'no child of it is left');
    await t.throwsAsync(probe(port, 1_000), { code: 'ECONNREFUSED' });
    await server.restart();
    t.is(server.port, port);
    t.not(server.pid, pid);
    await t.notThrowsAsync(probe(port, 5_000));
    if (data) t.not(await read(server), '', 'committed data survives the crash');
  });

  test('restart() refuses while the server runs, and after stop() starts it again afresh', async (t) => {
    const server = await started(t);
    await t.throwsAsync(server.restart(), { message: /still running/ });
    await data?.write(server);
    await server.stop();
    await server.restart();
    await t.notThrowsAsync(probe(server.port, 5_000));
    if (data) t.is(await read(server), '', 'stop() removed the data');
  });

  test('a paused server, children included, answers nothing until it is resumed', async (t) => {
    const server = await started(t);
    server.pause();
    // A child that exited just before is a zombie its stopped parent cannot reap: not running either.
    const states = [server.pid, ...descendants(server.pid)].map((pid) => statFields(pid)?.[0] ?? 'gone');
    t.deepEqual(states.filter((state) => !/^([TtZ]|gone)$/.test(state)), [], 'every process is stopped');
    const before = Date.now();
    await t.throwsAsync(probe(server.port, 300), { code: 'ETIMEDOUT' });
    t.true(Date.now() - before < 5_000, 'the probe gives up in its own time (5 s: a loaded machine runs timers late)');
    server.resume();
    await t.notThrowsAsync(probe(server.port, 5_000));
  });

  test('stop() ends a paused server and its children, removes its dir, and may be called again', async (t) => {
    const server = await started(t);
    const { pid, dir } = server;
    const children = descendants(pid);
    server.pause();
    await server.stop();
    t.false(alive(pid));
    t.true(await waitGone(children));
    t.false(existsSync(dir));
    await t.notThrowsAsync(server.stop());
  });

  test('a port that is taken fails the start with the server output', async (t) => {
    const blocker = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => blocker.listen(0, HOST, resolve));
    t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const error = await t.throwsAsync(specs.startOnPort((blocker.address() as AddressInfo).port));
    t.regex(error!.message, /exited during startup/, 'reported when the server exits, not at the readiness deadline');
    t.regex(error!.message, /Address already in use/i);
  });

  test('a server left running is killed when the process that started it exits', async (t) => {
    // No stop(), no process.exit(): the forgotten server must not keep the process alive either.
    const { pid, child } = await childWithServer(t, specs.helper, `${specs.startInChild}.then((s) => console.log('pid=' + s.pid));`);
    const exited = child.exitCode !== null || child.signalCode !== null || await Promise.race([
      new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
      sleep(10_000, false, { ref: false }), // must not keep the worker alive once the tests are done
    ]);
    t.true(exited, 'the child process exited on its own');
    t.true(await waitGone(pid), `server ${pid} is gone`);
  });

  test('a server left running is killed, with its children, when the process that started it gets SIGTERM', async (t) => {
    const { pid, child } = await childWithServer(t, specs.helper, `setInterval(() => {}, 1000); ${specs.startInChild}.then((s) => console.log('pid=' + s.pid));`);
    const children = descendants(pid);
    t.true(alive(pid));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGTERM');
    t.is(await exited, 'SIGTERM', 'the process still dies of the signal');
    t.true(await waitGone([pid, ...children]), `server ${pid} and its ${children.length} children are gone`);
  });
}
