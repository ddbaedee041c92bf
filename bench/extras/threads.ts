import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerChild } from '../child';
import type { Route } from '../contenders';
import { makeSessions } from '../pool';
import { median } from '../stats';
import { runLoad, wrkVersion } from '../wrk';
import { startRedis, type RedisServer } from '../../spec/helpers/redisServer';
import { flag, option, serverContenders } from './inprocess';

// Where a server's CPU per request goes under wrk, by thread and by user/kernel time (issue #17):
// the main thread (JavaScript, the HTTP parser, the system calls it makes) against V8's and
// libuv's other threads (the GC's parallel helpers, the compiler, the thread pool), from
// /proc/<pid>/task/<tid>/stat before and after each window. Each (round, contender) in a fresh
// server, rounds interleaved, both routes, one session per connection (bench/pool.ts). Not part of
// `npm run bench`; no PostgreSQL contenders (the Redis ones get a private redis-server):
//   npx tsc -p . --outDir build-bench && node build-bench/bench/extras/threads.js --contenders raw-token,ours-token-signed [--rounds 4] [--duration 4] [--connections 32]

const ROUTES: Route[] = ['/inc', '/read'];
/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux). */
const TICK_US = 10_000;

interface Split { mainUser: number; mainSystem: number; others: number }

/** CPU time of `pid`'s threads so far, µs: the main thread's user and system time, and the rest's. */
function threadTimes(pid: number): Split {
  const split: Split = { mainUser: 0, mainSystem: 0, others: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // a thread that ended between the listing and the read
    }
    // The fields after the command name (which may hold spaces): state is the first, utime the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [user, system] = [Number(fields[11]) * TICK_US, Number(fields[12]) * TICK_US];
    if (tid === String(pid)) {
      split.mainUser += user;
      split.mainSystem += system;
    } else {
      split.others += user + system;
    }
  }
  return split;
}

async function main(): Promise<void> {
  const { names, redis: needsRedis } = serverContenders('raw-token,ours-token-signed');
  // Bounded: at most 20 rounds of 30 s windows, 256 connections.
  const rounds = Math.min(20, flag('rounds', 4));
  const seconds = Math.min(30, flag('duration', 4));
  const connections = Math.min(256, flag('connections', 32));
  const wrk = wrkVersion();
  const redis: RedisServer | undefined = needsRedis ? await startRedis() : undefined;
  const work = mkdtempSync(join(tmpdir(), 'ksm-threads-'));
  const runs = new Map<string, Array<Split & { rps: number }>>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? names : [...names].reverse()) {
        const server = await ServerChild.start(name, { redisPort: redis?.port ?? 0, dataDir: work, maxSeconds: seconds * 4 + 60 });
        try {
          const cookies = await makeSessions(server.url, connections);
          for (const path of ROUTES) {
            const load = { url: server.url, path, cookies, connections, workDir: work };
            await runLoad({ ...load, seconds: 1 }); // warm-up
            const before = threadTimes(server.pid);
            const result = await runLoad({ ...load, seconds });
            const after = threadTimes(server.pid);
            const requests = Math.max(1, result.requests);
            const per = (key: keyof Split) => (after[key] - before[key]) / requests;
            const list = runs.get(`${name} ${path}`) ?? [];
            list.push({ rps: result.rps, mainUser: per('mainUser'), mainSystem: per('mainSystem'), others: per('others') });
            runs.set(`${name} ${path}`, list);
          }
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`Node ${process.version} · ${wrk} · ${connections} connections · ${rounds} interleaved rounds of ${seconds} s per contender and route, ` +
    'each round a fresh server; medians over the rounds. CPU µs per request from /proc (10 ms ticks: ±1 µs at these rates).\n');
  console.log('| contender | route | req/s | main thread, user µs | main thread, system µs | other threads µs |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const [key, list] of runs) {
    const [name, route] = key.split(' ');
    const m = (pick: (x: Split & { rps: number }) => number) => median(list.map(pick));
    console.log(`| ${name} | ${route} | ${m((x) => x.rps).toFixed(0)} | ${m((x) => x.mainUser).toFixed(1)} | ${m((x) => x.mainSystem).toFixed(1)} | ${m((x) => x.others).toFixed(1)} |`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
