import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext, TestFn } from 'ava';

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

/**
 * Returns once the kernel reports `pid` stopped (state T in /proc/<pid>/stat), at most ~1 s.
 * SIGSTOP is delivered asynchronously: on a busy machine a server could still answer a command
 * sent right after kill() returned, and a "hung server" spec would see an answer.
 */
function waitStopped(pid: number): void {
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 1000; i++) {
    const state = statFields(pid)?.[0];
    // No /proc (not Linux), or the process is gone or a zombie (exited, not yet reaped by a
    // stopped parent): nothing to wait for.
    if (state === undefined || /^[TtZX]$/.test(state)) return;
    Atomics.wait(tick, 0, 0, 1);
  }
}

/** The fields of /proc/<pid>/stat after the command name (state, ppid, ...); undefined if there is none. */
function statFields(pid: number | string): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // They follow the parenthesized command name, which may itself hold spaces.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The parent PID of `pid` (from /proc), or undefined when it is gone. */
export function parentPid(pid: number): number | undefined {
  const ppid = statFields(pid)?.[1];
  return ppid === undefined ? undefined : Number(ppid);
}

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z';
}

/** Resolves true once none of `pids` is alive, false after `ms` (polled every 25 ms). */
export async function waitGone(pids: number | number[], ms = 5_000): Promise<boolean> {
  const all = ([] as number[]).concat(pids);
  const deadline = Date.now() + ms;
  while (all.some(alive)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

/** The PIDs of the processes below `pid` (children, their children, ...), from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    // not Linux: none known
  }
  for (const name of entries) {
    const ppid = Number(statFields(name)?.[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const found: number[] = [];
  for (let i = -1; i < found.length; i++) found.push(...(children.get(i < 0 ? pid : found[i]) ?? []));
  return found;
}

/** Sends `signal` to `pid`; a process already gone is no error. */
function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Stops `pid` (SIGSTOP, waited for) and returns its descendants: stopped, it forks no new child
 * and reaps none, so the list stays true (no PID in it can be reused) until it is continued.
 */
function freeze(pid: number): number[] {
  signalPid(pid, 'SIGSTOP');
  waitStopped(pid);
  return descendants(pid);
}

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
const undeletedDirs = new Set<string>();
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

// ---- what the database servers share: a system user, a private dir, a per-process template ----

const TOOL_TIMEOUT_MS = 30_000;
const usersSeen = new Map<string, RunAs>();

/**
 * The ids of system user `name` when this process is root (PostgreSQL, MariaDB and PgBouncer
 * refuse to run as root), else none: the current user. `missing` tells how to install it.
 */
export function runAsUser(name: string, missing: string): RunAs {
  if (process.getuid?.() !== 0) return {};
  let ids = usersSeen.get(name);
  if (!ids) {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      ids = { uid: id('-u'), gid: id('-g') };
    } catch {
      throw new Error(`no system user ${name}: ${missing}`);
    }
    usersSeen.set(name, ids);
  }
  return ids;
}

/** The environment for a server or a client tool: C messages, and no PGPORT, MYSQL_HOST or the like redirecting a client. */
export function toolEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(PG|MYSQL|MARIADB)/.test(name)));
  return { ...env, LC_ALL: 'C' };
}

export interface ToolOptions extends RunAs {
  cwd?: string;
  /** Written to the tool's stdin. */
  input?: string;
  timeoutMs?: number;
  /** The error when the binary is not installed. */
  missing?: string;
}

/** Runs a tool to its end and resolves its stdout; rejects with its output on a non-zero exit or after the timeout (SIGKILL). */
export function runTool(binary: string, args: string[], { input, timeoutMs = TOOL_TIMEOUT_MS, missing, ...options }: ToolOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, args, { ...options, env: toolEnv(), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && missing) return reject(new Error(missing));
      const how = error.killed ? `timed out after ${timeoutMs} ms` : `exited with ${error.code ?? error.signal}`;
      reject(new Error(`${binary} ${args.join(' ')} ${how}\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`));
    });
    child.stdin?.on('error', () => undefined); // a tool that exits early must not crash the writer
    child.stdin?.end(input);
  });
}

/** The first of `paths` that exists, else `fallback` (looked up on PATH). */
export function installed(paths: string[], fallback: string): string {
  return paths.find((path) => existsSync(path)) ?? fallback;
}

let dirBase: string | undefined;

/**
 * Where the database servers' dirs go: /dev/shm when it is a tmpfs with 1 GiB or more free, else
 * the OS temp dir. A data dir is ~1000 files: on a slow disk creating them takes ~1 s a server
 * (initdb or a copy), on tmpfs ~50 ms; Docker's default 64 MB /dev/shm is too small and not used.
 */
export function serverDirBase(): string {
  if (dirBase === undefined) {
    dirBase = tmpdir();
    try {
      const fs = statfsSync('/dev/shm');
      if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= 1024 ** 3) dirBase = '/dev/shm';
    } catch {
      // no /dev/shm
    }
  }
  return dirBase;
}

const TMPFS_MAGIC = 0x01021994;

/** A fresh private dir `ksm-<label>-XXXXXX` under serverDirBase(), owned by `owner`; the safety net removes it at exit. */
export async function serverDir(label: string, owner: RunAs = {}): Promise<string> {
  const dir = await mkdtemp(join(serverDirBase(), `ksm-${label}-`));
  undeletedDirs.add(dir);
  await own(dir, owner);
  return dir;
}

/** Gives `path` to `owner` (nothing to do without one). */
export async function own(path: string, owner: RunAs): Promise<void> {
  if (owner.uid !== undefined) await chown(path, owner.uid, owner.gid ?? -1);
}

const templates = new Map<string, Promise<string>>();

/**
 * A dir built once per process by `build` (initdb, mariadb-install-db: seconds) and kept until
 * exit, to be copied for each server (copyTree: tens of ms). A failed build is retried by the
 * next call.
 */
export function template(label: string, owner: RunAs, build: (dir: string) => Promise<void>): Promise<string> {
  let made = templates.get(label);
  if (!made) {
    made = (async () => {
      const dir = await serverDir(`${label}-template`, owner);
      try {
        await build(dir);
        return dir;
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        undeletedDirs.delete(dir);
        throw error;
      }
    })();
    templates.set(label, made);
    made.catch(() => templates.delete(label));
  }
  return made;
}

/** Copies `from` to `to` with owners and modes (`cp -a`). */
export async function copyTree(from: string, to: string): Promise<void> {
  await runTool('cp', ['-a', from, to]);
}

/**
 * A database server in its private dir: the dir given to `owner` (the system user it runs as)
 * and, for a data dir, `data/` copied from `template()` when missing (a first start, or one after
 * stop() removed the dir).
 */
export abstract class OwnedServerProcess extends ServerProcess {
  constructor(kind: ServerKind, port: number, override readonly dir: string, protected readonly owner: RunAs, private readonly template?: () => Promise<string>) {
    super(kind, port, dir);
  }

  protected override async prepare(): Promise<void> {
    await own(this.dir, this.owner); // recreated by start() after stop()
    const data = join(this.dir, 'data');
    if (this.template && !existsSync(data)) await copyTree(join(await this.template(), 'data'), data);
  }

  protected override spawnOptions() {
    return { ...this.owner, env: toolEnv() };
  }
}

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
