import { Redis } from 'ioredis';
import { redisCommand } from '../spec/helpers/redisServer';

export interface RedisCounters {
  /** Command calls since the server started (INFO itself left out; commands inside scripts included). */
  calls: number;
  /** CPU time of the redis-server process (user + system), µs. */
  cpuUs: number;
}

/** INFO cpu + commandstats, in one round trip on a fresh socket. */
export async function redisCounters(port: number): Promise<RedisCounters> {
  const info = String(await redisCommand(port, ['INFO', 'cpu', 'commandstats'], { timeoutMs: 5000 }));
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info') calls += Number(match[2]);
  }
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return { calls, cpuUs: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6 };
}

export interface RoundTrips {
  /** Commands sent by clients (each one a round trip of its request). */
  topLevel: number;
  /** Commands run inside Lua scripts (no round trip of their own). */
  inScripts: number;
}

/**
 * Counts the commands Redis receives while `work` runs, through MONITOR: a command a client sent
 * is a round trip, one a Lua script ran is not (MONITOR marks it `lua`). INFO commandstats counts
 * both alike, hence this separate, unmeasured pass.
 */
export async function countRoundTrips(port: number, work: () => Promise<void>): Promise<RoundTrips> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await client.connect();
  const monitor = await client.monitor();
  const counts: RoundTrips = { topLevel: 0, inScripts: 0 };
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (String(args[0]).toLowerCase() === 'monitor') return;
    if (source === 'lua') counts.inScripts++;
    else counts.topLevel++;
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 50));
    await work();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the last lines reach the monitor
  } finally {
    monitor.disconnect();
    client.disconnect();
  }
  return counts;
}
