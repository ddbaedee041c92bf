import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { APPS } from '../apps';
import type { Route } from '../contenders';
import { makeSessions } from '../pool';
import { median } from '../stats';
import { startRedis, type RedisServer } from '../../spec/helpers/redisServer';
import { instructionsByPart } from './callgrind';
import { flag, option, serverContenders } from './inprocess';

// Where the layer's extra user time under load goes (issue #17), simulated: a contender's server
// under valgrind (callgrind with its cache and branch simulation, V8 `--single-threaded`), driven
// over real HTTP from this process by `--connections` keep-alive connections, one session each
// (made by /inc, as the bench does; the cookie is sent unchanged, as wrk does). Per route: a child
// that serves `--warmup` requests and then `--ops`, and one that serves the warm-up and 4 × `--ops`;
// the difference over 3 × `--ops` is what one request costs, start-up and loading cancelled out.
// Events per request: instructions, split into the collector's, the compilers' and the rest (the
// program: JavaScript, builtins, the runtime, node, OpenSSL, libc; by function name, see partOf() in callgrind.ts);
// data reads and writes; first-level instruction and data misses, last-level misses; branches and
// the mispredicted ones (conditional and indirect); and KCachegrind's cycle estimate from them. The
// caches are simulated after this machine's, by valgrind: not the machine's counters (this VM
// exposes none), but a count that the rest of the machine does not move, which can say whether
// one contender's request takes more misses than another's for the same work. Windows shorter
// than the defaults are dominated by the JIT (2 000 + 800 against 2 000 + 3 200 requests counted
// 45–180k more instructions per signed request than these, and unstable). Not part of `npm run bench`; no
// PostgreSQL contenders; about 8 minutes per contender and route alone, longer side by side:
//   npx tsc -p . --outDir build-bench && node build-bench/bench/extras/cachesim.js --contenders raw-token,ours-token-signed [--routes /inc]
//     [--rounds 1] [--ops 1500] [--warmup 2000] [--connections 32] [--keep DIR: callgrind's files, for callgrind_annotate]

const ROUTES: Route[] = ['/inc', '/read'];
const EVENTS = ['Ir', 'Dr', 'Dw', 'I1mr', 'D1mr', 'D1mw', 'ILmr', 'DLmr', 'DLmw', 'Bc', 'Bcm', 'Bi', 'Bim'] as const;
/** The events, and the instructions of the garbage collector's and the compilers' functions (partOf() in callgrind.ts). */
type Counts = Record<(typeof EVENTS)[number] | 'gcIr' | 'compileIr', number>;
const KEYS = [...EVENTS, 'gcIr', 'compileIr'] as const;

/** KCachegrind's cycle estimate: an instruction 1, a first-level miss or a mispredicted branch 10, a last-level miss 100. */
function cycleEstimate(x: Counts): number {
  return x.Ir + 10 * (x.I1mr + x.D1mr + x.D1mw) + 100 * Math.max(0, x.ILmr + x.DLmr + x.DLmw) + 10 * (x.Bcm + x.Bim);
}

/** A child that has not served its requests by then is stopped (by its PID) and the run fails. */
const CHILD_LIMIT_MS = 15 * 60_000;

/** The server side (`--serve NAME --exit-after N`): the contender's app, its port on stdout, ended after N responses (or the time limit). */
async function serve(name: string, exitAfter: number): Promise<void> {
  setTimeout(() => process.exit(3), CHILD_LIMIT_MS).unref(); // (if the parent went away)
  const app = await APPS[name]!()({ redisPort: Number(option('redis-port') ?? 0), postgresUrl: '', dataDir: option('data-dir') ?? '' });
  let finished = 0;
  app.server.on('request', (_req, res) => {
    res.on('finish', () => {
      if (++finished === exitAfter) setImmediate(() => process.exit(0)); // (after the response has been written)
    });
  });
  const address = app.server.address();
  console.log(`PORT ${typeof address === 'object' && address ? address.port : 0}`);
}

/** `total` GETs of `path`, `cookies.length` at a time over keep-alive connections, each with its own cookie. */
async function drive(port: number, path: string, cookies: string[], total: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: cookies.length });
  const one = (cookie: string): Promise<void> => new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: cookie ? { cookie } : {} }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${path}: status ${res.statusCode}`))));
    });
    // A kept-alive socket the server closed as idle just as the request left on it (under valgrind
    // a pause of the server's loop can outlast its keep-alive timeout): never served, so sent again.
    req.on('error', (err: NodeJS.ErrnoException) => (req.reusedSocket && err.code === 'ECONNRESET' ? one(cookie).then(resolve, reject) : reject(err)));
    req.end();
  });
  let left = total;
  await Promise.all(cookies.map(async (cookie) => {
    while (left > 0) {
      left--;
      await one(cookie);
    }
  }));
  agent.destroy();
}

/** One child under callgrind: sessions, warm-up and `ops` requests of `path`; its event totals. */
async function child(name: string, path: Route, ops: number, warmup: number, connections: number, env: string[], work: string): Promise<Counts> {
  const out = join(work, `callgrind.${name}.${ops}.out`);
  const total = connections + warmup + ops;
  const proc = spawn('valgrind', ['--tool=callgrind', '--cache-sim=yes', '--branch-sim=yes', `--callgrind-out-file=${out}`, '--smc-check=all-non-file',
    process.execPath, '--single-threaded', __filename, '--serve', name, '--exit-after', String(total), ...env], { stdio: ['ignore', 'pipe', 'pipe'] });
  const limit = setTimeout(() => proc.kill('SIGKILL'), CHILD_LIMIT_MS);
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let text = '';
      proc.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const found = /PORT (\d+)/.exec(text);
        if (found) resolve(Number(found[1]));
      });
      void exited.then(() => reject(new Error(`${name} exited before listening: ${stderr}`)));
    });
    try {
      const cookies = await makeSessions(`http://127.0.0.1:${port}`, connections);
      await drive(port, path, cookies, warmup + ops);
    } catch (err) {
      throw new Error(`${name} ${path}: ${(err as Error).message}; the server's exit: ${await Promise.race([exited, sleep(5000)])}, its last words: ${stderr}`);
    }
    const code = await exited;
    if (code !== 0) throw new Error(`${name}: valgrind exited ${code}: ${stderr}`);
  } finally {
    clearTimeout(limit);
    if (proc.exitCode === null && proc.pid !== undefined) proc.kill('SIGKILL');
  }
  const text = readFileSync(out, 'utf8');
  const events = /^events: (.+)$/m.exec(text)?.[1]?.split(' ');
  const summary = /^summary: (.+)$/m.exec(text)?.[1]?.split(' ').map(Number);
  if (!events || !summary) throw new Error(`${out}: no events or summary line`);
  const parts = instructionsByPart(text, events);
  const keep = option('keep');
  if (keep === undefined) rmSync(out);
  else {
    copyFileSync(out, join(keep, `callgrind.${name}.${path.slice(1)}.${ops}.${Date.now()}.out`)); // for callgrind_annotate
    rmSync(out);
  }
  return { ...Object.fromEntries(EVENTS.map((event) => [event, summary[events.indexOf(event)] ?? NaN])), gcIr: parts.gc, compileIr: parts.compile } as Counts;
}

async function main(): Promise<void> {
  const serveName = option('serve');
  if (serveName !== undefined) return serve(serveName, flag('exit-after', 1));
  const { names, redis: needsRedis } = serverContenders('raw-token,ours-token-signed');
  // Bounded: at most 5 rounds, 4 000 requests per window, 64 connections.
  const rounds = Math.min(5, flag('rounds', 1));
  const ops = Math.min(4000, flag('ops', 1500));
  const warmup = Math.min(10_000, flag('warmup', 2000));
  const connections = Math.min(64, flag('connections', 32));
  const routes = (option('routes')?.split(',') ?? ROUTES) as Route[];
  if (!routes.every((route) => ROUTES.includes(route))) throw new Error(`--routes: ${ROUTES.join(', ')}`);
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('cachesim needs valgrind (apt-get install valgrind)');
  const redis: RedisServer | undefined = needsRedis ? await startRedis() : undefined;
  const work = mkdtempSync(join(tmpdir(), 'ksm-cachesim-'));
  const env = ['--redis-port', String(redis?.port ?? 0), '--data-dir', work];
  const runs = new Map<string, Counts[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? names : [...names].reverse()) {
        for (const path of routes) {
          const started = Date.now();
          const small = await child(name, path, ops, warmup, connections, env, work);
          const between = Date.now();
          const large = await child(name, path, 4 * ops, warmup, connections, env, work);
          console.error(`${name} ${path}: children of ${warmup} + ${ops} and ${warmup} + ${4 * ops} requests took ${((between - started) / 1000).toFixed(0)} s and ${((Date.now() - between) / 1000).toFixed(0)} s`);
          const per = Object.fromEntries(KEYS.map((key) => [key, (large[key] - small[key]) / (3 * ops)])) as Counts;
          runs.set(`${name} ${path}`, [...(runs.get(`${name} ${path}`) ?? []), per]);
          console.error(`${name} ${path} round ${round + 1}: ${KEYS.map((key) => `${key} ${per[key].toFixed(0)}`).join(', ')}`);
        }
      }
    }
  } finally {
    await redis?.stop();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`Node ${process.version} --single-threaded under valgrind (callgrind, --cache-sim=yes --branch-sim=yes), ${connections} keep-alive connections, ` +
    `one session each; per (contender, route, round) a child of ${warmup} + ${ops} requests and one of ${warmup} + ${4 * ops}, the difference over ${3 * ops}; ` +
    `medians of ${rounds} round(s). Events per request (instructions in thousands).\n`);
  console.log('| contender | route | instructions (k) | of them the program (k) | GC (k) | compilers (k) | data reads + writes (k) | I1 misses | D1 misses | LL misses | branches (k) | mispredicted | indirect mispredicted | cycle estimate (k) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [key, list] of runs) {
    const [name, route] = key.split(' ');
    const m = (pick: (x: Counts) => number) => median(list.map(pick));
    console.log(`| ${name} | ${route} | ${(m((x) => x.Ir) / 1000).toFixed(1)} | ${(m((x) => x.Ir - x.gcIr - x.compileIr) / 1000).toFixed(1)} | ${(m((x) => x.gcIr) / 1000).toFixed(1)} | ` +
      `${(m((x) => x.compileIr) / 1000).toFixed(1)} | ${(m((x) => x.Dr + x.Dw) / 1000).toFixed(1)} | ${m((x) => x.I1mr).toFixed(0)} | ` +
      `${m((x) => x.D1mr + x.D1mw).toFixed(0)} | ${Math.max(0, m((x) => x.ILmr + x.DLmr + x.DLmw)).toFixed(0)} | ${(m((x) => x.Bc + x.Bi) / 1000).toFixed(1)} | ${m((x) => x.Bcm).toFixed(0)} | ${m((x) => x.Bim).toFixed(0)} | ` +
      `${(m(cycleEstimate) / 1000).toFixed(1)} |`);
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
