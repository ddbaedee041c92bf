import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestFn } from 'ava';
import { descendants, freeze, signalPid, waitGone, waitStopped } from './procfs';

// What the spec servers (redis, memcached, postgres, mariadb, pgbouncer) share (DESIGN.md, "Real
// servers in tests"): a server process on a free 127.0.0.1 port, waited for until it answers as
// itself, stopped by PID, and SIGKILLed by the safety net if still running when this process
// ends. Nothing here touches a server it did not start, and nothing is found or killed by name:
// the children of a server (PostgreSQL's backends) are found by their parent's PID.

export const HOST = '127.0.0.1';

/** How much of a server's stdout + stderr is kept for error messages. */
const OUTPUT_LIMIT = 4096;
const READY_TIMEOUT_MS = 10_000;
const TERM_GRACE_MS = 3_000;
const KILL_WAIT_MS = 5_000;
const PORT_ATTEMPTS = 5;
/** How long a server that exited during startup may take to deliver the rest of its output. */
const OUTPUT_WAIT_MS = 1_000;

/** The last ~4 KB of `text`. */
export function tail(text: string): string {
  return text.length > OUTPUT_LIMIT ? text.slice(-OUTPUT_LIMIT) : text;
}

/** A free TCP port on 127.0.0.1 (free when this resolves; bind it soon). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** `count` distinct free ports: all are held open together, then released. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, () => resolve());
      });
    }
    return servers.map((server) => (server.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => {
      if (server.listening) server.close(() => resolve());
      else resolve();
    })));
  }
}

export interface Exchange<T> {
  host: string;
  port: number;
  request: string | Buffer;
  timeoutMs: number;
  /** The error messages for no reply within `timeoutMs` (code ETIMEDOUT) and for a closed connection. */
  timedOut: string;
  closed: string;
  /**
   * The reply in all bytes received so far; undefined while incomplete. May throw to reject, and
   * may `send` more (a dialogue, e.g. a query after the login).
   */
  parse: (received: Buffer, send: (data: string | Buffer) => void) => T | undefined;
}

/** Sends `request` over a fresh raw socket and resolves the parsed reply; rejects on a refused connection. */
export function exchange<T>({ host, port, request, timeoutMs, timedOut, closed, parse }: Exchange<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let settled = false;
    const socket: Socket = createConnection({ host, port });
    const finish = (error: Error | undefined, reply?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply as T);
    };
    const timer = setTimeout(() => finish(Object.assign(new Error(timedOut), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(closed)));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]); // parsed whole: a character may span two chunks
      let reply: T | undefined;
      try {
        reply = parse(received, (data) => socket.write(data));
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (reply !== undefined) finish(undefined, reply);
    });
    socket.write(request);
  });
}

/** One spawned process of a ServerProcess. */
interface Run {
  readonly child: ChildProcess;
  readonly pid: number;
  exited: boolean;
  readonly exit: Promise<void>;
  /** Resolved once its stdout and stderr are closed too: all its output is in. */
  readonly closed: Promise<void>;
  paused: boolean;
  /** Signal its descendants too (see ServerKind.tree). */
  readonly tree: boolean;
  /** ServerProcess.afterKill() of its server. */
  readonly afterKill: () => void;
}

/** Why a start failed; `addressInUse` lets a free-port start retry on another port. */
class StartError extends Error {
  constructor(message: string, readonly addressInUse: boolean) {
    super(message);
    this.name = 'StartError';
  }
}

// ---- the safety net: servers still running when this process ends are SIGKILLed by PID ----

const running = new Set<Run>();
/** Dirs the safety net removes at exit unless their owner removed them first (also ownedServer.ts's). */
export const undeletedDirs = new Set<string>();
let safetyNetInstalled = false;

function killLeftovers(): void {
  for (const run of running) {
    try {
      if (run.exited) continue;
      for (const pid of run.tree ? freeze(run.pid) : []) signalPid(pid, 'SIGKILL');
      process.kill(run.pid, 'SIGKILL');
      run.afterKill();
    } catch {
      // already gone
    }
  }
  running.clear();
  for (const dir of undeletedDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  undeletedDirs.clear();
}

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  process.on('exit', killLeftovers);
  // ava ends a timed-out worker with SIGTERM, which skips 'exit' handlers: clean up, then let the
  // signal do what it would have done (unless someone else handles it).
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      killLeftovers();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// ---- one server ----

export interface ServerKind {
  /** The executable; also names the server in messages. */
  binary: string;
  /** The error when `binary` is not installed. */
  missing: string;
  /** The readiness probe as named in the timeout message, e.g. `PING`. */
  probe: string;
  pollIntervalMs: number;
  /** The signal stop() sends first; SIGTERM when absent. */
  stopSignal?: NodeJS.Signals;
  /**
   * The server forks a process per connection (PostgreSQL): kill(), pause(), resume() and the
   * safety net signal its descendants too (found by parent PID, never by name), and kill() waits
   * for them to be gone (they hold the shared memory a restart needs).
   */
  tree?: boolean;
}

/** What every database server started by these helpers offers (postgresServer, mariadbServer, pgbouncerServer). */
export interface PrivateServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The PID of the current process; a new one after restart(). */
  readonly pid: number;
  /** Its private dir (the data dir, the socket, the config): removed by stop(), kept by kill(). */
  readonly dir: string;
  /** Its stop signal by PID (SIGTERM; PostgreSQL: SIGINT, its fast shutdown), SIGKILL after 3 s, wait for exit, remove the dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL by PID (PostgreSQL: to its backends too) and wait for exit: a crash. The dir stays for restart(). */
  kill(): Promise<void>;
  /** Starts again on the same port: after kill() on the same data (crash recovery), after stop() on fresh data. */
  restart(): Promise<void>;
  /** SIGSTOP by PID (PostgreSQL: to its backends too): connections are accepted, nothing is answered. */
  pause(): void;
  /** SIGCONT by PID, after pause(). */
  resume(): void;
  /** The last ~4 KB the process wrote to stdout and stderr. */
  output(): string;
}

/** The user and group a server runs as; empty for the current ones. */
export interface RunAs {
  uid?: number;
  gid?: number;
}

/** A server process: spawn, wait until ready, stop/kill/restart/pause/resume by PID. */
export abstract class ServerProcess {
  readonly host = HOST;
  private run: Run | undefined;
  private outputTail = '';

  /** With a `dir`, the server runs in it; start() creates it, stop() removes it, kill() keeps it. */
  constructor(private readonly kind: ServerKind, readonly port: number, readonly dir?: string) {}

  /** The command-line arguments. */
  protected abstract args(): string[];
  /** Resolves true when the probe is answered as expected. */
  protected abstract answers(): Promise<boolean>;
  /** Resolves true when the server answering on the port is process `pid`. */
  protected abstract isOwn(pid: number): Promise<boolean>;
  /** Called right after SIGTERM by stop(). */
  protected onTerm(): void {}
  /**
   * Called (synchronously: the safety net runs at exit) once the process got SIGKILL: release
   * what a killed server leaves behind outside its dir (PostgreSQL: its SysV shared memory).
   */
  protected afterKill(): void {}
  /** Called by start() after the dir exists, before the spawn: e.g. fill the dir. */
  protected async prepare(): Promise<void> {}
  /** The user the server runs as, and its environment. */
  protected spawnOptions(): RunAs & { env?: NodeJS.ProcessEnv } {
    return {};
  }

  get pid(): number {
    if (!this.run) throw new Error(`${this.kind.binary} on port ${this.port} has not been started`);
    return this.run.pid;
  }

  output(): string {
    return this.outputTail;
  }

  private append(chunk: Buffer | string): void {
    this.outputTail = tail(this.outputTail + chunk.toString());
  }

  private isRunning(): boolean {
    return this.run !== undefined && !this.run.exited;
  }

  /** Spawns the server and resolves once it answers as itself; kills it on failure. */
  async start(): Promise<void> {
    if (this.isRunning()) throw new Error(`${this.kind.binary} on port ${this.port} is already running (pid ${this.pid})`);
    if (this.dir) {
      await mkdir(this.dir, { recursive: true });
      undeletedDirs.add(this.dir);
    }
    installSafetyNet();
    await this.prepare();
    const argv = this.args();
    if (this.outputTail) this.append(`\n--- restart on port ${this.port}\n`);
    const child = spawn(this.kind.binary, argv, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'], ...this.spawnOptions() });
    child.stdout!.on('data', (chunk: Buffer) => this.append(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.append(chunk));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) => {
        reject(error.code === 'ENOENT' ? new Error(this.kind.missing) : error);
      });
    });
    let markExited!: () => void;
    const run: Run = {
      child,
      pid: child.pid!,
      exited: false,
      paused: false,
      tree: this.kind.tree === true,
      afterKill: () => this.afterKill(),
      exit: new Promise<void>((resolve) => { markExited = resolve; }),
      closed: new Promise<void>((resolve) => child.once('close', () => resolve())),
    };
    child.once('exit', () => {
      run.exited = true;
      running.delete(run);
      markExited();
    });
    this.run = run;
    running.add(run);
    // A server a spec forgot to stop must not keep the worker alive; the safety net kills it.
    child.unref();
    (child.stdout as unknown as Socket).unref?.();
    (child.stderr as unknown as Socket).unref?.();

    try {
      await this.waitReady(run);
    } catch (error) {
      await this.forceExit(run);
      throw error;
    }
  }

  private async waitReady(run: Run): Promise<void> {
    const { binary, probe, pollIntervalMs } = this.kind;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (run.exited) {
        // 'exit' may come before the last of its output: wait for its pipes to close (bounded).
        await Promise.race([run.closed, sleep(OUTPUT_WAIT_MS, undefined, { ref: false })]);
        const output = this.output();
        throw new StartError(
          `${binary} on port ${this.port} exited during startup (exit code ${run.child.exitCode}, signal ${run.child.signalCode})\n--- output\n${output}`,
          /address already in use/i.test(output),
        );
      }
      try {
        // Racing the exit: a server that failed to bind is reported at once, not after a probe timeout.
        const answered = this.answers().catch((error: unknown) => {
          lastError = error;
          return undefined;
        });
        if (await Promise.race([answered, run.exit.then(() => undefined)])) {
          // Make sure it is our process answering, not a stranger that took the port first.
          if (await this.isOwn(run.pid)) return;
          lastError = new Error(`port ${this.port} is answered by another ${binary}`);
        }
      } catch (error) {
        lastError = error;
      }
      await sleep(pollIntervalMs);
    }
    throw new StartError(
      `${binary} on port ${this.port} (pid ${run.pid}) did not answer ${probe} within ${READY_TIMEOUT_MS} ms` +
        ` (last error: ${(lastError as Error | undefined)?.message ?? 'none'})\n--- output\n${this.output()}`,
      false,
    );
  }

  private signal(run: Run, signal: NodeJS.Signals): void {
    if (run.exited) return;
    try {
      process.kill(run.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  /** Resolves true once `run` has exited, false after `ms`. */
  private async waitExit(run: Run, ms: number): Promise<boolean> {
    if (run.exited) return true;
    const timer = new AbortController();
    const timedOut = sleep(ms, false, { signal: timer.signal }).catch(() => false);
    const exited = await Promise.race([run.exit.then(() => true), timedOut]);
    timer.abort();
    return exited;
  }

  private async forceExit(run: Run): Promise<void> {
    const below = run.tree && !run.exited ? freeze(run.pid) : [];
    for (const pid of below) signalPid(pid, 'SIGKILL');
    const killed = !run.exited;
    this.signal(run, 'SIGKILL');
    if (killed) this.afterKill();
    if (!(await this.waitExit(run, KILL_WAIT_MS)) || !(await waitGone(below, KILL_WAIT_MS))) {
      throw new Error(`${this.kind.binary} pid ${run.pid} (port ${this.port}) or a child of it did not exit ${KILL_WAIT_MS} ms after SIGKILL`);
    }
    run.paused = false;
  }

  /** SIGCONT to the process (and its descendants, for a tree), after pause(). */
  private continue(run: Run): void {
    if (run.tree && !run.exited) for (const pid of descendants(run.pid)) signalPid(pid, 'SIGCONT');
    this.signal(run, 'SIGCONT');
    run.paused = false;
  }

  /** Removes the server's dir, if it has one. */
  async removeDir(): Promise<void> {
    if (!this.dir) return;
    await rm(this.dir, { recursive: true, force: true });
    undeletedDirs.delete(this.dir);
  }

  async stop(): Promise<void> {
    const run = this.run;
    if (run && !run.exited) {
      this.signal(run, this.kind.stopSignal ?? 'SIGTERM');
      if (run.paused) this.continue(run); // a stopped process acts on SIGTERM only once continued
      this.onTerm();
      if (!(await this.waitExit(run, TERM_GRACE_MS))) await this.forceExit(run);
      run.paused = false;
    }
    await this.removeDir();
  }

  async kill(): Promise<void> {
    if (this.run) await this.forceExit(this.run);
  }

  async restart(): Promise<void> {
    if (this.isRunning()) {
      throw new Error(`${this.kind.binary} on port ${this.port} (pid ${this.pid}) is still running: stop() or kill() it before restart()`);
    }
    await this.start();
  }

  private requireRunning(action: string): Run {
    if (!this.run || this.run.exited) throw new Error(`cannot ${action}: ${this.kind.binary} on port ${this.port} is not running`);
    return this.run;
  }

  pause(): void {
    const run = this.requireRunning('pause()');
    run.paused = true;
    if (!run.tree) {
      this.signal(run, 'SIGSTOP');
      waitStopped(run.pid);
      return;
    }
    const below = freeze(run.pid);
    for (const pid of below) signalPid(pid, 'SIGSTOP');
    for (const pid of below) waitStopped(pid); // all signalled first: they stop side by side
  }

  resume(): void {
    this.continue(this.requireRunning('resume()'));
  }
}

/**
 * Starts a server made by `create`; with `retry` (no fixed port), a port lost to a race is
 * retried on another free one (bounded).
 */
export async function startServerProcess<T extends ServerProcess>(create: () => Promise<T>, retry: boolean): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const server = await create();
    try {
      await server.start();
      return server;
    } catch (error) {
      await server.removeDir();
      if (retry && error instanceof StartError && error.addressInUse && attempt < PORT_ATTEMPTS) continue;
      throw error;
    }
  }
}

/**
 * One private server (or cluster) for a whole spec file: started in test.before, stopped in
 * test.after.always. The getter throws `${none} (test.before has not run or failed)` if it is not up.
 */
export function useStarted<T extends { stop(): Promise<void> }, Context>(test: TestFn<Context>, start: () => Promise<T>, none: string): () => T {
  let started: T | undefined;
  test.before(async () => {
    started = await start();
  });
  test.after.always(async () => {
    await started?.stop();
  });
  return () => {
    if (!started) throw new Error(`${none} (test.before has not run or failed)`);
    return started;
  };
}

