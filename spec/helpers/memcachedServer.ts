import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestFn } from 'ava';
import { freePort } from './redisServer';

// Private memcached processes for specs (DESIGN.md, "Real servers in tests"): each one on a free
// 127.0.0.1 port, UDP off, stopped by PID. Nothing here touches a server this module did not
// start, and nothing is found or killed by name.

const HOST = '127.0.0.1';
const MEMCACHED = 'memcached';
export const MISSING = `${MEMCACHED} not found: .ci/run installs it (apt-get install memcached)`;

const OUTPUT_LIMIT = 4096;
const READY_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 25;
const COMMAND_TIMEOUT_MS = 500;
const TERM_GRACE_MS = 3_000;
const KILL_WAIT_MS = 5_000;
const PORT_ATTEMPTS = 5;

export interface StartMemcachedOptions {
  /** The port to listen on; a free one when absent. A given port is never retried. */
  port?: number;
  /** Extra memcached arguments, appended after the defaults (e.g. `['-I', '4m']`). */
  args?: string[];
}

/** One memcached process started by this module. */
export interface MemcachedServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The PID of the current process; a new one after restart(). */
  readonly pid: number;
  /** SIGTERM by PID, SIGKILL after 3 s, wait for exit. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL by PID and wait for exit: a crash (memcached keeps nothing). */
  kill(): Promise<void>;
  /** Starts the server again on the same port after stop() or kill(); resolves once it answers. */
  restart(): Promise<void>;
  /** SIGSTOP by PID: connections are accepted, nothing is answered. */
  pause(): void;
  /** SIGCONT by PID, after pause(). */
  resume(): void;
  /** The value of `key` over the text protocol, or null when missing. */
  get(key: string): Promise<string | null>;
  /** The remaining TTL of `key` in seconds (meta `mg <key> t`; -1 for none), or null when missing. */
  ttl(key: string): Promise<number | null>;
  /** One text-protocol command; resolves the reply up to and including `until` (default: one line). */
  command(line: string, until?: RegExp): Promise<string>;
  /** The last ~4 KB the process wrote to stdout and stderr. */
  output(): string;
}

/**
 * Sends `line` (CRLF added) over a fresh raw socket and resolves the reply once it matches
 * `until`; rejects on a refused connection or no such reply within `timeoutMs` (code ETIMEDOUT).
 */
export function memcachedCommand(port: number, line: string, until = /\r\n$/, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let reply = '';
    let settled = false;
    const socket: Socket = createConnection({ host: HOST, port });
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply);
    };
    const timer = setTimeout(() => {
      finish(Object.assign(new Error(`no reply to ${JSON.stringify(line)} from ${HOST}:${port} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`${HOST}:${port} closed the connection before replying`)));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]); // decoded whole: a character may span two chunks
      reply = received.toString('utf8');
      if (until.test(reply)) finish(undefined);
    });
    socket.write(`${line}\r\n`);
  });
}

/** `-u <user>` when running as root (memcached refuses root without it); nothing otherwise. */
function userArgs(): string[] {
  if (process.getuid?.() !== 0) return [];
  try {
    execFileSync('id', ['memcache'], { stdio: 'ignore' });
    return ['-u', 'memcache'];
  } catch {
    return ['-u', 'root'];
  }
}

interface Run {
  readonly child: ChildProcess;
  readonly pid: number;
  exited: boolean;
  readonly exit: Promise<void>;
  paused: boolean;
}

class StartError extends Error {
  constructor(message: string, readonly addressInUse: boolean) {
    super(message);
    this.name = 'StartError';
  }
}

// ---- the safety net: servers still running when this process ends are SIGKILLed by PID ----

const running = new Set<Run>();
let safetyNetInstalled = false;

function killLeftovers(): void {
  for (const run of running) {
    try {
      if (!run.exited) process.kill(run.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
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

class Instance implements MemcachedServer {
  readonly host = HOST;
  private run: Run | undefined;
  private outputTail = '';

  constructor(readonly port: number, private readonly extraArgs: string[]) {}

  get pid(): number {
    if (!this.run) throw new Error(`memcached on port ${this.port} has not been started`);
    return this.run.pid;
  }

  output(): string {
    return this.outputTail;
  }

  private append(chunk: Buffer | string): void {
    this.outputTail = (this.outputTail + chunk.toString()).slice(-OUTPUT_LIMIT);
  }

  async start(): Promise<void> {
    if (this.run && !this.run.exited) throw new Error(`memcached on port ${this.port} is already running (pid ${this.pid})`);
    installSafetyNet();
    const argv = ['-l', HOST, '-p', String(this.port), '-U', '0', ...userArgs(), ...this.extraArgs];
    if (this.outputTail) this.append(`\n--- restart on port ${this.port}\n`);
    const child = spawn(MEMCACHED, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => this.append(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.append(chunk));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new Error(MISSING) : error));
    });
    let markExited!: () => void;
    const run: Run = { child, pid: child.pid!, exited: false, paused: false, exit: new Promise<void>((resolve) => { markExited = resolve; }) };
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
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (run.exited) {
        const output = this.output();
        throw new StartError(
          `memcached on port ${this.port} exited during startup (exit code ${run.child.exitCode}, signal ${run.child.signalCode})\n--- output\n${output}`,
          /address already in use/i.test(output),
        );
      }
      try {
        const version = memcachedCommand(this.port, 'version').catch((error: unknown) => { lastError = error; return undefined; });
        if ((await Promise.race([version, run.exit.then(() => undefined)]))?.startsWith('VERSION ')) {
          // Make sure it is our process answering, not a stranger that took the port first.
          const stats = await this.command('stats', /END\r\n$/);
          if (stats.includes(`STAT pid ${run.pid}\r\n`)) return;
          lastError = new Error(`port ${this.port} is answered by another memcached`);
        }
      } catch (error) {
        lastError = error;
      }
      await sleep(POLL_INTERVAL_MS);
    }
    throw new StartError(
      `memcached on port ${this.port} (pid ${run.pid}) did not answer "version" within ${READY_TIMEOUT_MS} ms` +
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

  private async waitExit(run: Run, ms: number): Promise<boolean> {
    if (run.exited) return true;
    const timer = new AbortController();
    const timedOut = sleep(ms, false, { signal: timer.signal }).catch(() => false);
    const exited = await Promise.race([run.exit.then(() => true), timedOut]);
    timer.abort();
    return exited;
  }

  private async forceExit(run: Run): Promise<void> {
    this.signal(run, 'SIGKILL');
    if (!(await this.waitExit(run, KILL_WAIT_MS))) {
      throw new Error(`memcached pid ${run.pid} (port ${this.port}) did not exit ${KILL_WAIT_MS} ms after SIGKILL`);
    }
    run.paused = false;
  }

  async stop(): Promise<void> {
    const run = this.run;
    if (!run || run.exited) return;
    this.signal(run, 'SIGTERM');
    if (run.paused) this.signal(run, 'SIGCONT'); // a stopped process acts on SIGTERM only once continued
    // memcached notices the signal on its next event, else on its next clock tick (up to 1 s): a
    // connection is an event.
    memcachedCommand(this.port, 'version', undefined, 200).catch(() => undefined);
    if (!(await this.waitExit(run, TERM_GRACE_MS))) await this.forceExit(run);
    run.paused = false;
  }

  async kill(): Promise<void> {
    if (this.run) await this.forceExit(this.run);
  }

  async restart(): Promise<void> {
    if (this.run && !this.run.exited) {
      throw new Error(`memcached on port ${this.port} (pid ${this.pid}) is still running: stop() or kill() it before restart()`);
    }
    await this.start();
  }

  private requireRunning(action: string): Run {
    if (!this.run || this.run.exited) throw new Error(`cannot ${action}: memcached on port ${this.port} is not running`);
    return this.run;
  }

  pause(): void {
    const run = this.requireRunning('pause()');
    this.signal(run, 'SIGSTOP');
    run.paused = true;
  }

  resume(): void {
    const run = this.requireRunning('resume()');
    this.signal(run, 'SIGCONT');
    run.paused = false;
  }

  command(line: string, until?: RegExp): Promise<string> {
    return memcachedCommand(this.port, line, until);
  }

  async get(key: string): Promise<string | null> {
    const reply = await this.command(`get ${key}`, /(^|\r\n)END\r\n$/);
    const match = /^VALUE \S+ \d+ (\d+)\r\n/.exec(reply);
    if (!match) return null;
    const start = match[0].length;
    return Buffer.from(reply, 'utf8').subarray(start, start + Number(match[1])).toString('utf8');
  }

  async ttl(key: string): Promise<number | null> {
    const reply = await this.command(`mg ${key} t`);
    const match = /^HD t(-?\d+)\r\n$/.exec(reply);
    return match ? Number(match[1]) : null;
  }
}

/** Starts a private memcached on 127.0.0.1 and resolves once it answers `version` as itself. */
export async function startMemcached(options: StartMemcachedOptions = {}): Promise<MemcachedServer> {
  const args = options.args ?? [];
  for (let attempt = 1; ; attempt++) {
    const server = new Instance(options.port ?? (await freePort()), args);
    try {
      await server.start();
      return server;
    } catch (error) {
      const retry = options.port === undefined && error instanceof StartError && error.addressInUse && attempt < PORT_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}

/**
 * One private server for a whole spec file: started in test.before, stopped in
 * test.after.always. The getter throws if the server is not up.
 */
export function useMemcached<Context = unknown>(test: TestFn<Context>, options?: StartMemcachedOptions): () => MemcachedServer {
  let server: MemcachedServer | undefined;
  test.before(async () => {
    server = await startMemcached(options);
  });
  test.after.always(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('useMemcached(): no server (test.before has not run or failed)');
    return server;
  };
}
