import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestFn } from 'ava';
import { exchange, freePort, freePorts, HOST, ServerProcess, startServerProcess, tail, useStarted } from './serverProcess';
import { makeTempDir } from './tmp';
import { makeTlsCerts, type TlsCerts } from './tlsCerts';

export { freePort };

// Private redis-server processes for specs (DESIGN.md, "Real servers in tests"): each one on a
// free 127.0.0.1 port with its own temp dir, no persistence, stopped by PID. Nothing here ever
// touches a server this module did not start, and nothing is found or killed by name.

const REDIS_SERVER = 'redis-server';
const REDIS_CLI = 'redis-cli';
const MISSING = (binary: string) =>
  `${binary} not found: .ci/run installs it (apt-get install redis-server)`;

const POLL_INTERVAL_MS = 50;
const PING_TIMEOUT_MS = 500;
const CLI_TIMEOUT_MS = 10_000;
const CLUSTER_CREATE_TIMEOUT_MS = 20_000;
const CLUSTER_READY_TIMEOUT_MS = 15_000;

export interface StartRedisOptions {
  /** The port to listen on; a free one when absent. A given port is never retried. */
  port?: number;
  /** Extra redis-server arguments, appended after the defaults (so they win). */
  args?: string[];
  /**
   * The text of a config file, written to `<dir>/redis.conf` and given first: Sentinel needs one
   * (and rewrites it). The defaults and `args` still follow it on the command line.
   */
  config?: string;
  /** Run as a Sentinel (`--sentinel`, with `config`); it answers PING and INFO as a server does. */
  sentinel?: boolean;
}

export interface StartRedisTlsOptions {
  /** Whether clients must present a certificate signed by the CA (`--tls-auth-clients`). @default 'yes' */
  authClients?: 'yes' | 'no' | 'optional';
  /** Serve this certificate instead of the one for 127.0.0.1/localhost (e.g. `certs.wrongName`). */
  serve?: 'server' | 'wrongName';
  /** Certificates made earlier (makeTlsCerts); new ones in a temp dir of its own when absent. */
  certs?: TlsCerts;
}

/** A redis-server that also listens with TLS; its plain `port` is for the helper's probes and cli(). */
export interface RedisTlsServer extends RedisServer {
  readonly tlsPort: number;
  /** `rediss://127.0.0.1:<tlsPort>` */
  readonly tlsUrl: string;
  readonly certs: TlsCerts;
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
  return exchange({
    host,
    port,
    request: `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`,
    timeoutMs,
    timedOut: `no reply to ${args[0]} from ${host}:${port} within ${timeoutMs} ms`,
    closed: `${host}:${port} closed the connection before replying to ${args[0]}`,
    parse: (received) => {
      const parsed = parseReply(received, 0);
      if (parsed?.error !== undefined) throw new RedisReplyError(parsed.error);
      return parsed?.value;
    },
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

const KIND = { binary: REDIS_SERVER, missing: MISSING(REDIS_SERVER), probe: 'PING', pollIntervalMs: POLL_INTERVAL_MS };

class Instance extends ServerProcess implements RedisServer {
  readonly url: string;

  constructor(port: number, override readonly dir: string, private readonly extraArgs: string[], private readonly lead: string[] = []) {
    super(KIND, port, dir);
    this.url = `redis://${HOST}:${port}`;
  }

  protected args(): string[] {
    return [
      ...this.lead,
      '--port', String(this.port),
      '--bind', HOST,
      '--save', '',
      '--appendonly', 'no',
      '--protected-mode', 'no',
      '--daemonize', 'no',
      '--dir', this.dir,
      ...this.extraArgs,
    ];
  }

  protected async answers(): Promise<boolean> {
    return (await redisCommand(this.port, ['PING'])) === 'PONG';
  }

  protected async isOwn(pid: number): Promise<boolean> {
    const info = await redisCommand(this.port, ['INFO', 'server']);
    return typeof info === 'string' && info.includes(`process_id:${pid}\r\n`);
  }

  info(section?: string): Promise<string> {
    return this.cli(...(section === undefined ? ['INFO'] : ['INFO', section]));
  }

  cli(...args: string[]): Promise<string> {
    return runCli(['-h', HOST, '-p', String(this.port), ...args]);
  }
}

/** Creates a temp dir and starts a server in it (see startServerProcess). */
function launch(choose: (dir: string) => Promise<{ port: number; args: string[]; lead?: string[] }>, retry: boolean): Promise<Instance> {
  return startServerProcess(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ksm-redis-'));
    const { port, args, lead } = await choose(dir);
    return new Instance(port, dir, args, lead);
  }, retry);
}

/** Starts a private redis-server (or Sentinel) on 127.0.0.1 and resolves once it answers PING. */
export function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const args = options.args ?? [];
  const fixed = options.port;
  if (options.sentinel && options.config === undefined) throw new Error('startRedis({ sentinel: true }) needs a config');
  return launch(async (dir) => {
    const lead: string[] = [];
    if (options.config !== undefined) {
      const file = join(dir, 'redis.conf');
      await writeFile(file, options.config, { mode: 0o600 });
      lead.push(file);
    }
    if (options.sentinel) lead.push('--sentinel');
    return { port: fixed ?? (await freePort()), args, lead };
  }, fixed === undefined);
}

/**
 * A private redis-server with TLS on a second free port, its certificates made with openssl in a
 * temp dir of its own (removed by stop(), as the server's dir is), unless `certs` are given.
 */
export async function startRedisTls(options: StartRedisTlsOptions = {}): Promise<RedisTlsServer> {
  const certsDir = options.certs === undefined ? await makeTempDir('tls') : undefined;
  try {
    const certs = options.certs ?? await makeTlsCerts(certsDir!.path);
    const served = certs[options.serve ?? 'server'];
    let tlsPort = 0;
    const server = await launch(async () => {
      const [port, tls] = await freePorts(2);
      tlsPort = tls;
      return {
        port,
        args: [
          '--tls-port', String(tls),
          '--tls-cert-file', served.cert.path,
          '--tls-key-file', served.key.path,
          '--tls-ca-cert-file', certs.ca.path,
          '--tls-auth-clients', options.authClients ?? 'yes',
        ],
      };
    }, true);
    const stop = server.stop.bind(server);
    return Object.assign(server, {
      tlsPort,
      tlsUrl: `rediss://${HOST}:${tlsPort}`,
      certs,
      stop: async () => {
        await stop();
        await certsDir?.remove();
      },
    });
  } catch (error) {
    await certsDir?.remove();
    throw error;
  }
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
  return useStarted(test, () => startRedis(options), 'useRedis(): no server');
}

/** Like useRedis(), for a server with TLS (startRedisTls). */
export function useRedisTls<Context = unknown>(test: TestFn<Context>, options?: StartRedisTlsOptions): () => RedisTlsServer {
  return useStarted(test, () => startRedisTls(options), 'useRedisTls(): no server');
}

/** Like useRedis(), for a three-node cluster. */
export function useRedisCluster<Context = unknown>(test: TestFn<Context>): () => RedisCluster {
  return useStarted(test, startRedisCluster, 'useRedisCluster(): no cluster');
}
