import { Agent, request } from 'node:http';
import { ServerChild } from './child';
import type { Contender, Route } from './contenders';
import { makeSessions, readCount } from './pool';
import type { PostgresServer } from '../spec/helpers/postgresServer';
import { countStatements, postgresCpuUs, postgresStatements } from './postgresStats';
import { countRoundTrips, redisCounters, type RedisCounters } from './redisStats';
import { runLoad } from './wrk';

/** A contender's server, started, with its session pool. */
export interface Prepared {
  contender: Contender;
  server: ServerChild;
  cookies: string[];
}

/** One route of one contender in one round. */
export interface Sample {
  contender: string;
  route: Route;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** Server CPU (user + system) per request, µs. */
  cpuUs: number;
  /**
   * Store commands per request: Redis commands (INFO commandstats; commands inside scripts count
   * too), or PostgreSQL statements (pg_stat_statements, top level: each one a round trip).
   */
  storeCmds: number;
  /** The store's CPU per request, µs: redis-server's (INFO cpu), or the postmaster's and its backends' (/proc). */
  storeCpuUs: number;
}

export interface Setup {
  redisPort: number;
  /** The private PostgreSQL, when a contender uses it. */
  postgres?: PostgresServer;
  connections: number;
  workDir: string;
  maxSeconds: number;
}

/**
 * A contender whose session is in its cookie: a new pool before a window. wrk sends the cookie of
 * the pool and never takes a Set-Cookie, so without this every token would get older than ours'
 * touch slack (60 s) during a run, and every `/read` would then make a token it throws away.
 */
export async function refreshPool(p: Prepared, setup: Setup): Promise<void> {
  if (p.contender.carried) p.cookies = await makeSessions(p.server.url, setup.connections);
}

/** Starts a contender's server and makes one session per connection. */
export async function prepare(contender: Contender, setup: Setup, dataDir: string): Promise<Prepared> {
  const server = await ServerChild.start(contender.name, { redisPort: setup.redisPort, postgresUrl: setup.postgres?.url, dataDir, maxSeconds: setup.maxSeconds });
  try {
    const cookies = await makeSessions(server.url, setup.connections);
    return { contender, server, cookies };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Unmeasured load on both routes, so the JIT and the connections are warm. */
export async function warmUp(p: Prepared, setup: Setup, seconds: number): Promise<void> {
  if (seconds <= 0) return;
  for (const path of ['/inc', '/read']) {
    await runLoad({ url: p.server.url, path, cookies: p.cookies, connections: setup.connections, seconds, workDir: setup.workDir });
  }
}

/** The store's counters of `p`'s contender: Redis' (INFO), PostgreSQL's (pg_stat_statements and /proc), or none. */
async function storeCounters(p: Prepared, setup: Setup): Promise<RedisCounters> {
  if (p.contender.redis) return redisCounters(setup.redisPort);
  if (p.contender.postgres && setup.postgres) {
    const calls = await postgresStatements(setup.postgres);
    return { calls, cpuUs: postgresCpuUs(setup.postgres.pid) };
  }
  return { calls: 0, cpuUs: 0 };
}

/** One measured window: wrk on `route`, with the server's CPU and the store's commands counted around it. */
export async function measure(p: Prepared, route: Route, round: number, setup: Setup, seconds: number): Promise<Sample> {
  const counters = () => storeCounters(p, setup);
  const storeBefore = await counters();
  const before = await p.server.usage();
  const load = await runLoad({ url: p.server.url, path: route, cookies: p.cookies, connections: setup.connections, seconds, workDir: setup.workDir });
  const after = await p.server.usage();
  const storeAfter = await counters();
  const requests = Math.max(1, load.requests);
  return {
    contender: p.contender.name,
    route,
    round,
    rps: load.rps,
    p50: load.p50,
    p99: load.p99,
    errors: load.errors,
    cpuUs: (after.cpuUs - before.cpuUs) / requests,
    storeCmds: (storeAfter.calls - storeBefore.calls) / requests,
    storeCpuUs: (storeAfter.cpuUs - storeBefore.cpuUs) / requests,
  };
}

/**
 * Store round trips per request of each route over `count` sequential requests: Redis commands
 * clients sent (MONITOR), or PostgreSQL statements (pg_stat_statements, reset first).
 */
export async function roundTrips(p: Prepared, setup: Setup, count = 50): Promise<Record<Route, number>> {
  const result = {} as Record<Route, number>;
  for (const route of ['/inc', '/read'] as const) {
    const work = async () => {
      for (let i = 0; i < count; i++) await readCount(p.server.url, route, p.cookies[i % p.cookies.length]);
    };
    if (p.contender.postgres && setup.postgres) result[route] = (await countStatements(setup.postgres, work)) / count;
    else result[route] = (await countRoundTrips(setup.redisPort, work)).topLevel / count;
  }
  return result;
}

/** The session still works after the load: /read shows at least the first /inc. */
export async function sanityCheck(p: Prepared): Promise<string | undefined> {
  const n = await readCount(p.server.url, '/read', p.cookies[0]);
  return n >= 1 ? undefined : `${p.contender.name}: /read gave ${n} after the load (expected >= 1)`;
}

export interface Contended {
  contender: string;
  /** Measured through a shared cookie jar (a Node client that takes every Set-Cookie), not wrk. */
  jar?: boolean;
  rps: number;
  p50: number;
  requests: number;
  /** How much the session's counter grew: equal to `requests` when no update was lost. */
  stored: number;
  /** Failed requests (the cookie-jar run; wrk's errors are not counted here). */
  errors?: number;
}

/**
 * All connections on one session's /inc: the throughput of serialized requests, and whether
 * concurrent increments survive (they do with locking; without it most are lost).
 */
export async function contended(p: Prepared, setup: Setup, seconds: number): Promise<Contended> {
  const cookie = p.cookies[0];
  const before = await readCount(p.server.url, '/read', cookie);
  const load = await runLoad({ url: p.server.url, path: '/inc', cookies: [cookie], connections: setup.connections, seconds, workDir: setup.workDir });
  await new Promise((resolve) => setTimeout(resolve, 200)); // requests wrk stopped waiting for
  const after = await readCount(p.server.url, '/read', cookie);
  return { contender: p.contender.name, rps: load.rps, p50: load.p50, requests: load.requests, stored: after - before };
}

/**
 * One session whose data is in its cookie, all `connections` on `/inc` through one cookie jar, as
 * one browser's parallel requests: each request sends the jar's cookie of the moment, each
 * response's Set-Cookie replaces it. Without a store, increments survive only when a request
 * started after the previous one's response came back: the last writer wins. wrk cannot share a
 * cookie between its connections, so a Node client (keep-alive sockets, `connections` requests in
 * flight) makes the load: its req/s are the client's, not comparable with wrk's.
 */
export async function contendedJar(p: Prepared, connections: number, seconds: number): Promise<Contended> {
  const [first] = await makeSessions(p.server.url, 1);
  const jar = new Map(first.split('; ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const));
  const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  const before = await readCount(p.server.url, '/read', cookie());
  const { hostname, port } = new URL(p.server.url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let errors = 0;
  const one = () => new Promise<void>((resolve) => {
    const started = performance.now();
    const req = request({ host: hostname, port, path: '/inc', agent, headers: { cookie: cookie() }, timeout: 5000 }, (res) => {
      // The jar takes the response's cookies together (koa-session's value and its signature).
      for (const header of res.headers['set-cookie'] ?? []) {
        const pair = header.split(';')[0].trim();
        jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      }
      if (res.statusCode !== 200) errors++;
      res.resume();
      res.once('end', () => {
        latencies.push(performance.now() - started);
        resolve();
      });
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => {
      errors++;
      resolve();
    });
    req.end();
  });
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) await one();
  }));
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  const after = await readCount(p.server.url, '/read', cookie());
  latencies.sort((a, b) => a - b);
  const requests = latencies.length;
  return { contender: p.contender.name, jar: true, rps: requests / elapsedS, p50: latencies[Math.floor(requests / 2)] ?? NaN, requests, stored: after - before, errors };
}
