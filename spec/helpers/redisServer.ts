import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestFn } from 'ava';

// Private redis-server processes for specs (DESIGN.md, "Real servers in tests"): each one on a
// free 127.0.0.1 port with its own temp dir, no persistence, stopped by PID. Nothing here ever
// touches a server this module did not start, and nothing is found or killed by name.

const HOST = '127.0.0.1';
const REDIS_SERVER = 'redis-server';
const REDIS_CLI = 'redis-cli';
const MISSING = (binary: string) =>
  `${binary} not found: .ci/run installs it (apt-get install redis-server)`;

/** How much of a server's stdout + stderr is kept for error messages. */
const OUTPUT_LIMIT = 4096;
const READY_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 50;
const PING_TIMEOUT_MS = 500;
const TERM_GRACE_MS = 3_000;
const KILL_WAIT_MS = 5_000;
const CLI_TIMEOUT_MS = 10_000;
const CLUSTER_CREATE_TIMEOUT_MS = 20_000;
const CLUSTER_READY_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS = 5;

export interface StartRedisOptions {
  /** The port to listen on; a free one when absent. A given port is never retried. */
  port?: number;
  /** Extra redis-server arguments, appended after the defaults (so they win). */
  args?: string[];
}

/** One redis-server process started by this module. */
export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The PID of the current process; a new one after restart(). */
  readonly pid: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The server's private working directory (removed by stop(), kept by kill()). */
  readonly dir: string;
  /** SIGTERM by PID, SIGKILL after 3 s, wait for exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL by PID and wait for exit: a crash. The temp dir stays for restart(). */
  kill(): Promise<void>;
  /** Starts the server again on the same port, after stop() or kill(); resolves once it answers PING. */
  restart(): Promise<void>;
  /** SIGSTOP by PID: the server accepts connections but answers nothing. */
  pause(): void;
  /** SIGCONT by PID, after pause(). */
  resume(): void;
  /** `redis-cli INFO <section>` against this server. */
  info(section?: string): Promise<string>;
  /** `redis-cli -h 127.0.0.1 -p <port> ...args`; resolves stdout, rejects on a non-zero exit. */
  cli(...args: string[]): Promise<string>;
  /** The last ~4 KB the process wrote to stdout and stderr. */
  output(): string;
}

export interface RedisCluster {
  readonly nodes: RedisServer[];
  readonly startupNodes: Array<{ host: string; port: number }>;
  /** Stops every node (see RedisServer.stop). Idempotent. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free when this resolves; bind it soon). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** `count` distinct free ports: all are held open together, then released. */
async function freePorts(count: number): Promise<number[]> {
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

/** A reply of the error kind (`-ERR ...`) from redisCommand(). */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

export type RedisReply = string | number | null | RedisReply[];

/**
 * Sends one command over a fresh raw socket and resolves its decoded reply; rejects on an error
 * reply, a refused connection, or no complete reply within `timeoutMs` (error code ETIMEDOUT).
 * For readiness checks and fault specs that must not depend on a client library.
 */
export function redisCommand(
  port: number,
  args: string[],
  { host = HOST, timeoutMs = PING_TIMEOUT_MS }: { host?: string; timeoutMs?: number } = {},
): Promise<RedisReply> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    let settled = false;
    const socket: Socket = createConnection({ host, port });
    const finish = (error: Error | undefined, reply?: RedisReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply as RedisReply);
    };
    const timer = setTimeout(() => {
      const error = new Error(`no reply to ${args[0]} from ${host}:${port} within ${timeoutMs} ms`);
      (error as NodeJS.ErrnoException).code = 'ETIMEDOUT';
      finish(error);
    }, timeoutMs);
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`${host}:${port} closed the connection before replying to ${args[0]}`)));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      let parsed: ReturnType<typeof parseReply>;
      try {
        parsed = parseReply(buffer, 0);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (parsed === undefined) return;
      if (parsed.error !== undefined) finish(new RedisReplyError(parsed.error));
      else finish(undefined, parsed.value);
    });
    socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`);
  });
}

/** Decodes one RESP2 reply at `at`; undefined while incomplete. */
function parseReply(buffer: Buffer, at: number): { value: RedisReply; error?: string; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', at);
  if (lineEnd === -1) return undefined;
  const kind = String.fromCharCode(buffer[at]);
  const line = buffer.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (kind) {
    case '+': return { value: line, end: next };
    case '-': return { value: null, error: line, end: next };
    case ':': return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RedisReply[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, end);
        if (item === undefined) return undefined;
        items.push(item.error !== undefined ? `-${item.error}` : item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP reply type ${JSON.stringify(kind)}`);
  }
}

/** Runs redis-cli; rejects with its output on a non-zero exit or after CLI_TIMEOUT_MS. */
function runCli(args: string[], timeoutMs = CLI_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout);
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(MISSING(REDIS_CLI)));
        return;
      }
      const how = error.killed ? `timed out after ${timeoutMs} ms` : `exited with ${error.code ?? error.signal}`;
      reject(new Error(`redis-cli ${args.join(' ')} ${how}\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`));
    });
  });
}

function tail(text: string): string {
  return text.length > OUTPUT_LIMIT ? text.slice(-OUTPUT_LIMIT) : text;
}

/** One spawned process of a RedisServer. */
interface Run {
  readonly child: ChildProcess;
  readonly pid: number;
  exited: boolean;
  readonly exit: Promise<void>;
  paused: boolean;
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
      if (!run.exited) process.kill(run.pid, 'SIGKILL');
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

class Instance implements RedisServer {
  readonly host = HOST;
  readonly url: string;
  private run: Run | undefined;
  private outputTail = '';

  constructor(readonly port: number, readonly dir: string, private readonly extraArgs: string[]) {
    this.url = `redis://${HOST}:${port}`;
  }

  get pid(): number {
    if (!this.run) throw new Error(`redis-server on port ${this.port} has not been started`);
    return this.run.pid;
  }

  output(): string {
    return this.outputTail;
  }

  private append(chunk: Buffer | string): void {
    this.outputTail = (this.outputTail + chunk.toString()).slice(-OUTPUT_LIMIT);
  }

  private isRunning(): boolean {
    return this.run !== undefined && !this.run.exited;
  }

  /** Spawns redis-server and resolves once it answers PING as itself; kills it on failure. */
  async start(): Promise<void> {
    if (this.isRunning()) throw new Error(`redis-server on port ${this.port} is already running (pid ${this.pid})`);
    await mkdir(this.dir, { recursive: true });
    undeletedDirs.add(this.dir);
    installSafetyNet();
    const argv = [
      '--port', String(this.port),
      '--bind', HOST,
      '--save', '',
      '--appendonly', 'no',
      '--protected-mode', 'no',
      '--daemonize', 'no',
      '--dir', this.dir,
      ...this.extraArgs,
    ];
    if (this.outputTail) this.append(`\n--- restart on port ${this.port}\n`);
    const child = spawn(REDIS_SERVER, argv, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => this.append(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.append(chunk));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) => {
        reject(error.code === 'ENOENT' ? new Error(MISSING(REDIS_SERVER)) : error);
      });
    });
    let markExited!: () => void;
    const run: Run = {
      child,
      pid: child.pid!,
      exited: false,
      paused: false,
      exit: new Promise<void>((resolve) => { markExited = resolve; }),
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
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (run.exited) {
        const output = this.output();
        throw new StartError(
          `redis-server on port ${this.port} exited during startup (exit code ${run.child.exitCode}, signal ${run.child.signalCode})\n--- output\n${output}`,
          /address already in use/i.test(output),
        );
      }
      try {
        // Racing the exit: a server that failed to bind is reported at once, not after a PING timeout.
        const ping = redisCommand(this.port, ['PING']).catch((error: unknown) => {
          lastError = error;
          return undefined;
        });
        if ((await Promise.race([ping, run.exit.then(() => undefined)])) === 'PONG') {
          // Make sure it is our process answering, not a stranger that took the port first.
          const info = await redisCommand(this.port, ['INFO', 'server']);
          if (typeof info === 'string' && info.includes(`process_id:${run.pid}\r\n`)) return;
          lastError = new Error(`port ${this.port} is answered by another redis-server`);
        }
      } catch (error) {
        lastError = error;
      }
      await sleep(POLL_INTERVAL_MS);
    }
    throw new StartError(
      `redis-server on port ${this.port} (pid ${run.pid}) did not answer PING within ${READY_TIMEOUT_MS} ms` +
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
    this.signal(run, 'SIGKILL');
    if (!(await this.waitExit(run, KILL_WAIT_MS))) {
      throw new Error(`redis-server pid ${run.pid} (port ${this.port}) did not exit ${KILL_WAIT_MS} ms after SIGKILL`);
    }
    run.paused = false;
  }

  async stop(): Promise<void> {
    const run = this.run;
    if (run && !run.exited) {
      this.signal(run, 'SIGTERM');
      if (run.paused) this.signal(run, 'SIGCONT'); // a stopped process acts on SIGTERM only once continued
      if (!(await this.waitExit(run, TERM_GRACE_MS))) await this.forceExit(run);
      run.paused = false;
    }
    await rm(this.dir, { recursive: true, force: true });
    undeletedDirs.delete(this.dir);
  }

  async kill(): Promise<void> {
    if (this.run) await this.forceExit(this.run);
  }

  async restart(): Promise<void> {
    if (this.isRunning()) {
      throw new Error(`redis-server on port ${this.port} (pid ${this.pid}) is still running: stop() or kill() it before restart()`);
    }
    await this.start();
  }

  private requireRunning(action: string): Run {
    if (!this.run || this.run.exited) throw new Error(`cannot ${action}: redis-server on port ${this.port} is not running`);
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

  info(section?: string): Promise<string> {
    return this.cli(...(section === undefined ? ['INFO'] : ['INFO', section]));
  }

  cli(...args: string[]): Promise<string> {
    return runCli(['-h', HOST, '-p', String(this.port), ...args]);
  }
}

/**
 * Creates a temp dir and starts a server in it; with no fixed port, a port lost to a race is
 * retried on another free one (bounded).
 */
async function launch(choose: (dir: string) => Promise<{ port: number; args: string[] }>, retry: boolean): Promise<Instance> {
  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'ksm-redis-'));
    const { port, args } = await choose(dir);
    const server = new Instance(port, dir, args);
    try {
      await server.start();
      return server;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      undeletedDirs.delete(dir);
      if (retry && error instanceof StartError && error.addressInUse && attempt < PORT_ATTEMPTS) continue;
      throw error;
    }
  }
}

/** Starts a private redis-server on 127.0.0.1 and resolves once it answers PING. */
export function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const args = options.args ?? [];
  const fixed = options.port;
  return launch(async () => ({ port: fixed ?? (await freePort()), args }), fixed === undefined);
}

/**
 * Three cluster-enabled masters (no replicas) joined with `redis-cli --cluster create`; resolves
 * once every node reports cluster_state:ok.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: Instance[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(await launch(async (dir) => {
        // The bus port is chosen too, rather than port + 10000 (which may be taken or > 65535).
        const [port, busPort] = await freePorts(2);
        return {
          port,
          args: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', join(dir, 'nodes.conf'),
            '--cluster-node-timeout', '2000',
            '--cluster-port', String(busPort),
          ],
        };
      }, true));
    }
    await runCli(
      ['--cluster', 'create', ...nodes.map((node) => `${HOST}:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      CLUSTER_CREATE_TIMEOUT_MS,
    );
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS;
    let states: string[] = [];
    for (;;) {
      states = await Promise.all(nodes.map(async (node) => {
        const info = await node.cli('CLUSTER', 'INFO').catch((error: Error) => error.message);
        return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
      }));
      if (states.every((state) => state === 'ok')) break;
      if (Date.now() >= deadline) {
        throw new Error(
          `cluster did not reach cluster_state:ok within ${CLUSTER_READY_TIMEOUT_MS} ms (states: ${states.join(', ')})\n` +
            nodes.map((node) => `--- node ${node.port}\n${node.output()}`).join('\n'),
        );
      }
      await sleep(100);
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return {
    nodes,
    startupNodes: nodes.map((node) => ({ host: HOST, port: node.port })),
    stop,
  };
}

/**
 * One private server for a whole spec file: started in test.before, stopped in
 * test.after.always. The getter throws if the server is not up.
 */
export function useRedis<Context = unknown>(test: TestFn<Context>, options?: StartRedisOptions): () => RedisServer {
  let server: RedisServer | undefined;
  test.before(async () => {
    server = await startRedis(options);
  });
  test.after.always(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('useRedis(): no server (test.before has not run or failed)');
    return server;
  };
}

/** Like useRedis(), for a three-node cluster. */
export function useRedisCluster<Context = unknown>(test: TestFn<Context>): () => RedisCluster {
  let cluster: RedisCluster | undefined;
  test.before(async () => {
    cluster = await startRedisCluster();
  });
  test.after.always(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('useRedisCluster(): no cluster (test.before has not run or failed)');
    return cluster;
  };
}
