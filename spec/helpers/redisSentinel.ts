import { setTimeout as sleep } from 'node:timers/promises';
import { HOST } from './serverProcess';
import { redisCommand, startRedis, type RedisReply, type RedisServer } from './redisServer';

// A private Sentinel deployment for specs: a master, one replica and three sentinels, each a
// redis-server process of redisServer.ts (free 127.0.0.1 port, own temp dir, stopped by PID).
// The sentinels' config files are written here (Sentinel rewrites them in their dirs); they
// announce 127.0.0.1 and fail over after `downAfterMs` without an answer from the master.

const READY_TIMEOUT_MS = 30_000;

export interface StartSentinelOptions {
  /** The master name the sentinels monitor. @default 'mymaster' */
  name?: string;
  /** `sentinel down-after-milliseconds`. @default 1000 */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. @default 5000 */
  failoverTimeoutMs?: number;
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
  /** Stops every process this set started (sentinels first). Idempotent. */
  stop(): Promise<void>;
}

function fields(reply: RedisReply): Record<string, string> {
  const result: Record<string, string> = {};
  if (!Array.isArray(reply)) return result;
  for (let i = 0; i + 1 < reply.length; i += 2) result[String(reply[i])] = String(reply[i + 1]);
  return result;
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
  const started: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(started.slice().reverse().map((server) => server.stop()));
  };
  try {
    const master = await startRedis();
    started.push(master);
    const replica = await startRedis({ args: ['--replicaof', HOST, String(master.port)] });
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
      const sentinel = await startRedis({ config, sentinel: true });
      started.push(sentinel);
      sentinels.push(sentinel);
    }
    await waitFor('the sentinels did not find each other and the replica', async () => {
      for (const sentinel of sentinels) {
        const state = fields(await redisCommand(sentinel.port, ['SENTINEL', 'MASTER', name]));
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
        const reply = await redisCommand(sentinels[i].port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name]);
        return Array.isArray(reply) ? Number(reply[1]) : Number.NaN;
      },
      node(port) {
        const node = nodes.find((server) => server.port === port);
        if (!node) throw new Error(`no data node of this set on port ${port}`);
        return node;
      },
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
