import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';
import { freePort, HOST, ServerProcess, startServerProcess } from './serverProcess';
import { redisCommand, RedisReplyError, startRedis, type RedisReply, type RedisServer } from './redisServer';
import type { TlsCerts } from './tlsCerts';

// A private Sentinel deployment for specs: a master, one replica and three sentinels, each a
// redis-server process on a free 127.0.0.1 port with its own temp dir, stopped by PID (those of
// redisServer.ts; with `tls`, TlsNode below). The sentinels' config files are written here
// (Sentinel rewrites them in their dirs); they announce 127.0.0.1 and fail over after
// `downAfterMs` without an answer from the master.

const READY_TIMEOUT_MS = 30_000;

export interface StartSentinelOptions {
  /** The master name the sentinels monitor. @default 'mymaster' */
  name?: string;
  /** `sentinel down-after-milliseconds`. @default 1000 */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. @default 5000 */
  failoverTimeoutMs?: number;
  /**
   * TLS only: every server listens with TLS alone (`port 0`, `tls-port`), serves `certs.server`
   * (SAN IP:127.0.0.1, so a client verifies the address the sentinels report), asks clients for a
   * certificate of `certs.ca`, and replicates and talks to the others over TLS (`tls-replication
   * yes`, `certs.client` as its own client certificate). `port` is then the TLS port.
   */
  tls?: TlsCerts;
}

export interface RedisSentinelSet {
  readonly name: string;
  /** The master when the set started (it stays this object after a failover: see masterPort()). */
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinels: RedisServer[];
  /** `[{ host: '127.0.0.1', port }]` of the three sentinels, for the adapter's `sentinels`. */
  readonly addresses: Array<{ host: string; port: number }>;
  /** The master's port as sentinel `i` reports it now (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  masterPort(i?: number): Promise<number>;
  /** The server of the data nodes on `port`. */
  node(port: number): RedisServer;
  /** One command to a server of this set on `port` over a fresh socket (TLS with `tls`); its reply. */
  command(port: number, args: string[]): Promise<RedisReply>;
  /** Clients subscribed to a channel (the failover detector's +switch-master) on each sentinel. */
  subscribers(): Promise<number[]>;
  /** Stops every process this set started (sentinels first). Idempotent. */
  stop(): Promise<void>;
}

function fields(reply: RedisReply): Record<string, string> {
  const result: Record<string, string> = {};
  if (!Array.isArray(reply)) return result;
  for (let i = 0; i + 1 < reply.length; i += 2) result[String(reply[i])] = String(reply[i + 1]);
  return result;
}

const PROBE_TIMEOUT_MS = 1_000;

/** A RESP reply decoded from `buffer` at `at`: undefined while incomplete. */
function parse(buffer: Buffer, at = 0): { value: RedisReply; error?: string; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', at);
  if (lineEnd === -1) return undefined;
  const line = buffer.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (String.fromCharCode(buffer[at])) {
    case '+': return { value: line, end: next };
    case '-': return { value: null, error: line, end: next };
    case ':': return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      return buffer.length < next + length + 2 ? undefined : { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const items: RedisReply[] = [];
      let end = next;
      for (let i = 0; i < Number(line); i++) {
        const item = parse(buffer, end);
        if (item === undefined) return undefined;
        items.push(item.error !== undefined ? `-${item.error}` : item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default: throw new Error(`unexpected RESP reply ${JSON.stringify(buffer.toString('utf8', at, at + 20))}`);
  }
}

/**
 * redisCommand() over TLS to a server of a TLS set: verified against `certs.ca` (the server's
 * certificate holds IP:127.0.0.1), with `certs.client` as the client certificate.
 */
export function tlsCommand(port: number, args: string[], certs: TlsCerts, timeoutMs = PROBE_TIMEOUT_MS): Promise<RedisReply> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const socket = connect({ host: HOST, port, ca: certs.ca.pem, cert: certs.client.cert.pem, key: certs.client.key.pem });
    const finish = (error: Error | undefined, reply?: RedisReply) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(Object.assign(new Error(`no reply to ${args[0]} from ${HOST}:${port} (TLS) within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`${HOST}:${port} (TLS) closed the connection before replying to ${args[0]}`)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        const reply = parse(received);
        if (reply?.error !== undefined) finish(new RedisReplyError(reply.error));
        else if (reply !== undefined) finish(undefined, reply.value);
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`);
  });
}

const format = (reply: RedisReply): string => (Array.isArray(reply) ? reply.map(format).join('\n') : reply === null ? '' : String(reply));

/** A redis-server (or Sentinel) that listens with TLS only: probed, and cli() answered, over TLS. */
class TlsNode extends ServerProcess implements RedisServer {
  readonly url: string;

  constructor(port: number, override readonly dir: string, private readonly certs: TlsCerts, private readonly lead: string[], private readonly extraArgs: string[]) {
    super({ binary: 'redis-server', missing: 'redis-server not found: apt-get install redis-server', probe: 'PING (TLS)', pollIntervalMs: 50 }, port, dir);
    this.url = `rediss://${HOST}:${port}`;
  }

  protected args(): string[] {
    const { ca, server, client } = this.certs;
    return [
      ...this.lead,
      '--port', '0', '--tls-port', String(this.port), '--bind', HOST,
      '--tls-cert-file', server.cert.path, '--tls-key-file', server.key.path, '--tls-ca-cert-file', ca.path,
      '--tls-client-cert-file', client.cert.path, '--tls-client-key-file', client.key.path,
      '--tls-auth-clients', 'yes', '--tls-replication', 'yes',
      '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--dir', this.dir,
      ...this.extraArgs,
    ];
  }

  protected async answers(): Promise<boolean> {
    return (await tlsCommand(this.port, ['PING'], this.certs)) === 'PONG';
  }

  protected async isOwn(pid: number): Promise<boolean> {
    const info = await tlsCommand(this.port, ['INFO', 'server'], this.certs);
    return typeof info === 'string' && info.includes(`process_id:${pid}\r\n`);
  }

  info(section?: string): Promise<string> {
    return this.cli(...(section === undefined ? ['INFO'] : ['INFO', section]));
  }

  /** The command over TLS; the reply as text (an array one item a line), not redis-cli's exact output. */
  async cli(...args: string[]): Promise<string> {
    return format(await tlsCommand(this.port, args, this.certs, 10_000));
  }
}

/** Starts a TLS-only node (see TlsNode) on a free port; `config` as startRedis()'s. */
function startTlsNode(certs: TlsCerts, options: { config?: string; sentinel?: boolean; args?: string[] }): Promise<RedisServer> {
  return startServerProcess(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ksm-redis-tls-'));
    const lead: string[] = [];
    if (options.config !== undefined) {
      lead.push(join(dir, 'redis.conf'));
      await writeFile(lead[0], options.config, { mode: 0o600 });
    }
    if (options.sentinel) lead.push('--sentinel');
    const port = await freePort();
    // A replica tells its master (and so the sentinels) its TLS port.
    const announce = options.sentinel ? [] : ['--replica-announce-port', String(port)];
    return new TlsNode(port, dir, certs, lead, [...announce, ...(options.args ?? [])]);
  }, true);
}

/** Waits until `check` resolves a falsy value, at most READY_TIMEOUT_MS; `check` says what is missing. */
async function waitFor(what: string, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let missing: string | undefined = 'not checked';
  while (Date.now() < deadline) {
    missing = await check().catch((error: Error) => error.message);
    if (missing === undefined) return;
    await sleep(100);
  }
  throw new Error(`${what} within ${READY_TIMEOUT_MS} ms: ${missing}`);
}

/**
 * Starts a master, a replica of it and three sentinels (quorum 2) and resolves once the replica
 * is in sync and every sentinel knows the replica and the two other sentinels (a failover needs
 * them); rejects, having stopped what it started, otherwise.
 */
export async function startRedisSentinel(options: StartSentinelOptions = {}): Promise<RedisSentinelSet> {
  const name = options.name ?? 'mymaster';
  const certs = options.tls;
  const start = (node: { config?: string; sentinel?: boolean; args?: string[] }) => (certs ? startTlsNode(certs, node) : startRedis(node));
  const ask = (port: number, args: string[]) => (certs ? tlsCommand(port, args, certs) : redisCommand(port, args));
  const started: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(started.slice().reverse().map((server) => server.stop()));
  };
  try {
    const master = await start({});
    started.push(master);
    const replica = await start({ args: ['--replicaof', HOST, String(master.port)] });
    started.push(replica);
    await waitFor('the replica did not sync', async () => {
      const info = await replica.info('replication');
      return /master_link_status:up/.test(info) ? undefined : 'master_link_status is not up';
    });
    const config = [
      `sentinel monitor ${name} ${HOST} ${master.port} 2`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 5000}`,
      `sentinel parallel-syncs ${name} 1`,
      `sentinel announce-ip ${HOST}`,
      '',
    ].join('\n');
    const sentinels: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const sentinel = await start({ config, sentinel: true });
      started.push(sentinel);
      sentinels.push(sentinel);
    }
    await waitFor('the sentinels did not find each other and the replica', async () => {
      for (const sentinel of sentinels) {
        const state = fields(await ask(sentinel.port, ['SENTINEL', 'MASTER', name]));
        if (state['num-other-sentinels'] !== '2' || state['num-slaves'] !== '1') {
          return `sentinel ${sentinel.port}: ${state['num-other-sentinels']} other sentinels, ${state['num-slaves']} replicas`;
        }
      }
      return undefined;
    });
    const nodes = [master, replica];
    return {
      name,
      master,
      replica,
      sentinels,
      addresses: sentinels.map((sentinel) => ({ host: HOST, port: sentinel.port })),
      async masterPort(i = 0) {
        const reply = await ask(sentinels[i].port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name]);
        return Array.isArray(reply) ? Number(reply[1]) : Number.NaN;
      },
      node(port) {
        const node = nodes.find((server) => server.port === port);
        if (!node) throw new Error(`no data node of this set on port ${port}`);
        return node;
      },
      command: ask,
      async subscribers() {
        const lists = await Promise.all(sentinels.map((sentinel) => ask(sentinel.port, ['CLIENT', 'LIST'])));
        return lists.map((list) => String(list).split('\n').filter((line) => / sub=[1-9]/.test(line)).length);
      },
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** What failoverHeardWhileConnecting() saw. */
export interface FailoverWhileConnecting {
  /** The 'end' events of the client: ioredis gave it up (no reconnection of its own). */
  ended: number;
  /** The master's port after the failover (the replica's). */
  newMaster: number;
  /** Milliseconds from the sentinels answering again to the first session served; NaN: none within `withinMs`. */
  servedAfterMs: number;
  /** Subscribers on each sentinel once served again: the failover detector of the new connection. */
  subscribersAfter: number[];
}

/**
 * A failover detector hears +switch-master while its client is asking the sentinels for the
 * master, deterministically: the sentinels refuse the client's question (an ACL takes
 * SENTINEL GET-MASTER-ADDR-BY-NAME from the default user), so the client, once its connection
 * is killed (CLIENT KILL on the master), keeps asking them in one connect(); meanwhile a
 * SENTINEL FAILOVER promotes the replica and the sentinels publish +switch-master to the
 * detector that subscribed after the first connection (it stays subscribed); then the ACL is
 * lifted. ioredis 6's own connector aborts that connect() and ends the client for good.
 * `client` is the adapter's, `serve` one session request through it.
 */
export async function failoverHeardWhileConnecting(
  set: RedisSentinelSet,
  client: { status: string; stream?: { localPort?: number | undefined }; on(event: 'end', listener: () => void): unknown },
  serve: () => Promise<unknown>,
  withinMs = 10_000,
): Promise<FailoverWhileConnecting> {
  await serve();
  await waitFor('the failover detector did not subscribe on every sentinel', async () => {
    const counts = await set.subscribers();
    return counts.every((n) => n > 0) ? undefined : `subscribers: ${counts.join(', ')}`;
  });
  let ended = 0;
  client.on('end', () => ended++);
  const acl = (rule: string) => Promise.all(set.sentinels.map((sentinel) => set.command(sentinel.port, ['ACL', 'SETUSER', 'default', rule])));
  await acl('-sentinel|get-master-addr-by-name');
  try {
    const localPort = client.stream?.localPort;
    if (localPort === undefined) throw new Error('the client has no connection');
    await set.command(set.master.port, ['CLIENT', 'KILL', 'ADDR', `${HOST}:${localPort}`]);
    const deadline = Date.now() + 5_000;
    while (client.status !== 'connecting' && Date.now() < deadline) await sleep(5);
    if (client.status !== 'connecting') throw new Error(`the client did not reconnect after CLIENT KILL: ${client.status}`);
    await sleep(200); // asking the sentinels, refused: "All sentinels are unreachable", again
    await set.command(set.sentinels[0].port, ['SENTINEL', 'FAILOVER', set.name]);
    const master = () => set.command(set.sentinels[0].port, ['SENTINEL', 'MASTER', set.name]).then((reply) => Number(fields(reply).port));
    await waitFor('SENTINEL FAILOVER did not promote the replica', async () => ((await master()) === set.replica.port ? undefined : 'not yet'));
    await sleep(300); // +switch-master reaches the detector (published on the switch)
    if (client.status !== 'connecting' && ended === 0) throw new Error(`the client stopped asking the sentinels: ${client.status}`);
  } finally {
    await acl('+sentinel|get-master-addr-by-name');
  }
  const answering = performance.now();
  let servedAfterMs = Number.NaN;
  while (performance.now() - answering < withinMs) {
    try {
      await serve();
      servedAfterMs = performance.now() - answering;
      break;
    } catch {
      await sleep(50);
    }
  }
  let subscribersAfter: number[] = [];
  if (!Number.isNaN(servedAfterMs)) {
    await waitFor('the new connection\'s failover detector did not subscribe', async () => {
      subscribersAfter = await set.subscribers();
      return subscribersAfter.every((n) => n > 0) ? undefined : `subscribers: ${subscribersAfter.join(', ')}`;
    }).catch(() => undefined);
  }
  return { ended, newMaster: set.replica.port, servedAfterMs, subscribersAfter };
}
