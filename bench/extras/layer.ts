import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Koa, { type Context } from 'koa';
import koaSession from 'koa-session';
import { flag, median, option, request, setCookies, type Handle } from './inprocess';
import { chain, routes } from '../apps/koaBase';
import { rawSessionRoutes, rawTokenRoutes } from '../apps/raw';
import { startRedis } from '../../spec/helpers/redisServer';
import { instructionsByFunction, jitNamer, kindOf, partOf } from './callgrind';

// What the session layer itself costs a request (issue #17), without HTTP: CPU per request of a
// Koa app driven in-process through app.callback() (no socket, no HTTP parsing), the bench's two
// routes, `--inflight` requests at a time each with its own session (as wrk's connections), over a
// Map behind a resolved promise (`--store map`), a private redis-server (`--store redis`), or no
// store: a TokenStore (`--store token-signed`, `--store token-encrypted`; a fixed secret).
// Variants, each (variant, round) in a fresh process, rounds interleaved:
// - bare:     the route alone (bare Koa);
// - raw:      the raw ioredis contender's route (a cookie, one awaited get, and a set on /inc);
//             with `--store token-signed|token-encrypted` koa-session's cookie store, the
//             reference of #14's targets (its two cookies, an HMAC checked and one made);
// - floor:    (`--store redis`) our Redis scripts from a hand-written route, no session layer
//             (bench/apps/raw.ts, rawSession): what our guarantees cost in Redis; (`--store
//             token-signed`) our HS256 token from a hand-written route (rawToken);
// - ours:     session({ start: 'lazy' }) over a MemoryAdapter, RedisAdapter or TokenStore, /inc under
//             sessionPolicy(), /read under sessionPolicy({ readOnly: true }), as the bench's ours-*;
// - baseline: (`--baseline DIR`) the same on another compiled library (DIR/index.js, and its
//             adapter from DIR/redis), for an A/B.
// ours − raw (with Redis or a signed token: ours − floor) is the session layer's JavaScript per request. Not part
// of `npm run bench`:
//   npx tsc -p . --outDir build-bench && node build-bench/bench/extras/layer.js [--rounds 7] [--ops 20000]
//     [--store map|redis] [--inflight 32] [--baseline DIR] [--variants ours,baseline]
// A child alone (`--child ours --route /read --store redis --redis-port P`) under `node --cpu-prof`
// profiles one route.
// `--count instructions` (default `--count cpu`) counts instructions instead of CPU time (valgrind's callgrind, V8 with
// --single-threaded): about 50 times slower, but a count that the rest of the machine does not
// move. Two builds of the same code (`--baseline` a copy of lib) differed by 1–4 % of a request
// (where CPU time swings by ±15 µs on a busy 2-core VM): the major GCs that fall into one
// child's window and not the other's. Defaults there: 2 rounds, --ops 1000. (Collecting the heap
// before each window, tried, made the counts repeat to 0.5 % but tripled them: V8 then sized its
// heap anew and collected all through the window.)
// `--count functions`: the same two children per variant and route, each request's instructions by
// function (JIT-compiled JavaScript named from V8's perf map, `--perf-basic-prof`): the parts
// (program, collector, compilers), the program's by kind, and the functions whose count differs
// most between the first two variants, e.g. `--variants floor,ours --store token-signed --route /inc`
// (the layer over its floor) or `--variants baseline,ours --baseline DIR` (a change). The collector's
// count swings with the major collections a window holds; compare the program's.
// `--warmup N`: requests per route before the measured ones (default min(ops, 5000)).

type Lib = typeof import('../../lib');
const ROUTES = ['/inc', '/read'] as const;
type Variant = 'bare' | 'raw' | 'floor' | 'ours' | 'baseline';

/** The raw route's store and ours' adapter: a Map, or a private Redis (`--store redis`). */
interface Store {
  /** The Redis client (`--store redis`), for the floor's routes. */
  client?: import('ioredis').Redis;
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
  /** The adapter of the library in `libDir` (ours, or the baseline's own). */
  adapter(lib: Lib, libDir: string): import('../../lib').Adapter;
}

function mapStore(): Store {
  const map = new Map<string, string>();
  return {
    get: async (key) => map.get(key) ?? null,
    set: async (key, value) => { map.set(key, value); },
    adapter: (lib) => new lib.MemoryAdapter(),
  };
}

/** No store: the session in a token (ours: a TokenStore), or in koa-session's signed cookie (raw). */
function tokenStore(mode: 'signed' | 'encrypted'): Store {
  const none = (): never => { throw new Error('a token store has no get/set'); };
  return {
    get: none,
    set: none,
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    adapter: (_, libDir) => new (require(`${libDir}/token`) as typeof import('../../lib/token')).TokenStore({ mode, keys: [{ kid: 'k1', secret: Buffer.alloc(32, 7) }] }) as unknown as import('../../lib').Adapter,
  };
}

function redisStore(port: number): Store {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { Redis } = require('ioredis') as typeof import('ioredis');
  // Every variant alike, as the library's Redis entry does when it loads ioredis: loading ioredis
  // slows every string method in the process (lib/redis/fastStrings.ts), and a floor or a baseline
  // left with that would credit the variant under test with the fix (issue #17).
  (require('../../lib/redis/fastStrings') as typeof import('../../lib/redis/fastStrings')).restoreFastStringPrototype();
  const client = new Redis({ port, host: '127.0.0.1' });
  return {
    client,
    get: (key) => client.get(key),
    set: (key, value) => client.set(key, value, 'PX', 3_600_000),
    // Long timeouts: under valgrind (--count) a reply to 32 requests in flight can take seconds.
    adapter: (_, libDir) => new (require(`${libDir}/redis`) as typeof import('../../lib/redis')).RedisAdapter({ host: '127.0.0.1', port, timeout: 60, readTimeout: 60 }),
  };
}

async function appOf(variant: Variant, libDir: string, store: Store): Promise<Koa> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lib = require(libDir) as Lib;
  const app = new Koa();
  if (variant === 'floor' && option('store') === 'token-signed') {
    rawTokenRoutes(app, Buffer.alloc(32, 7));
  } else if (variant === 'floor') {
    if (store.client === undefined) throw new Error('the floor needs --store redis or token-signed');
    await rawSessionRoutes(app, store.client);
  } else if (variant === 'bare') {
    let n = 0;
    routes(app, (ctx) => { ctx.body = String(++n); }, (ctx) => { ctx.body = String(n); });
  } else if (variant === 'raw' && store.client === undefined && option('store')?.startsWith('token-')) {
    app.keys = ['a secret of the bench, for keygrip'];
    app.use(koaSession({ key: 'koa.sess', maxAge: 3_600_000, rolling: false, renew: false }, app));
    const bag = (ctx: Context) => (ctx as unknown as { session: Record<string, number> }).session;
    routes(app, (ctx) => { ctx.body = String((bag(ctx).n = (bag(ctx).n ?? 0) + 1)); }, (ctx) => { ctx.body = String(bag(ctx).n ?? 0); });
  } else if (variant === 'raw') {
    const { get, set } = store;
    const key = (ctx: Context) => {
      let id = ctx.cookies.get('rid');
      if (!id) ctx.cookies.set('rid', (id = 'abcdefabcdefabcdefabcdefabcdefab'), { maxAge: 3_600_000 });
      return `raw:${id}`;
    };
    routes(app, async (ctx) => {
      const k = key(ctx);
      const n = Number(await get(k)) + 1;
      await set(k, String(n));
      ctx.body = String(n);
    }, async (ctx) => { ctx.body = String(Number(await get(key(ctx)))); });
  } else { // ours, or the same on the --baseline library
    app.use(lib.session({ adapter: store.adapter(lib, libDir), start: 'lazy', gc: false }));
    routes(app, chain(lib.sessionPolicy(), (ctx) => {
      const n = ctx.session.get<number>('n', 0)! + 1;
      ctx.session.set('n', n);
      ctx.body = String(n);
    }), chain(lib.sessionPolicy({ readOnly: true }), (ctx) => { ctx.body = String(ctx.session.get<number>('n', 0)); }));
  }
  return app;
}

async function child(variant: Variant, ops: number, inflight: number, libDir: string, store: Store): Promise<void> {
  const handle = (await appOf(variant, libDir, store)).callback() as unknown as Handle;
  const cookies: Array<string | undefined> = [];
  for (let i = 0; i < inflight; i++) {
    const set = setCookies(await request(handle, '/inc'));
    cookies.push(set.length === 0 ? undefined : set.map((line) => line.split(';')[0]!).join('; '));
  }
  // `inflight` loops, each with its own session, as wrk's connections are.
  const run = (path: string, count: number) => Promise.all(cookies.map(async (cookie) => {
    for (let n = 0; n < count; n++) await request(handle, path, cookie);
  }));
  const result: Record<string, number> = {};
  // `--route /read`: that route alone (for a CPU profile of one route: `node --cpu-prof … --child ours …`).
  for (const path of ROUTES.filter((route) => option('route') === undefined || route === option('route'))) {
    await run(path, Math.ceil(flag('warmup', Math.min(ops, 5000)) / inflight)); // warm up
    const start = process.cpuUsage();
    await run(path, Math.ceil(ops / inflight));
    const used = process.cpuUsage(start);
    result[path] = (used.user + used.system) / (Math.ceil(ops / inflight) * inflight);
  }
  process.stdout.write(JSON.stringify(result));
  process.exit(0); // the Redis clients
}

/** V8 without its background threads: the compiler and the GC's helpers run on the main thread, in a repeatable order. */
const SINGLE_THREADED = '--single-threaded';

/**
 * Instructions the child runs per request (thousands), counted by valgrind (callgrind): a child
 * of `ops` requests and one of 4 × `ops`, each after the same warm-up, so that start-up, loading
 * and the warm-up cancel out of the difference.
 */
function instructionsPerRequest(args: string[], ops: number): number {
  const total = (n: number): number => {
    const run = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', '--smc-check=all-non-file',
      process.execPath, SINGLE_THREADED, __filename, ...args, '--ops', String(n), '--warmup', String(WARMUP)], { encoding: 'utf8' });
    const collected = /Collected : (\d+)/.exec(run.stderr ?? '')?.[1];
    if (run.status !== 0 || collected === undefined) throw new Error(`valgrind: ${run.error?.message ?? run.stderr?.slice(-500)}`);
    return Number(collected);
  };
  const small = total(ops);
  return (total(4 * ops) - small) / (3 * ops) / 1000;
}

/**
 * Instructions per request by function (see `--count functions`): callgrind's file and V8's perf
 * map of a child of `ops` and one of 4 × `ops` requests, the difference over 3 × `ops`.
 */
function functionsPerRequest(args: string[], ops: number): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'ksm-functions-'));
  try {
    const counts = (n: number): Map<string, number> => {
      const out = join(dir, `callgrind.${n}`);
      const run = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, '--smc-check=all-non-file',
        process.execPath, SINGLE_THREADED, '--perf-basic-prof', __filename, ...args, '--ops', String(n), '--warmup', String(WARMUP)], { encoding: 'utf8', cwd: dir }); // (V8's isolate log lands in dir)
      if (run.status !== 0) throw new Error(`valgrind: ${run.error?.message ?? run.stderr?.slice(-500)}`);
      const text = readFileSync(out, 'utf8');
      const map = `/tmp/perf-${/^pid: (\d+)/m.exec(text)?.[1]}.map`; // (where V8 writes it)
      let name: (fn: string) => string;
      try {
        name = jitNamer(readFileSync(map, 'utf8'));
      } finally {
        rmSync(map, { force: true });
      }
      const byName = new Map<string, number>();
      for (const [fn, ir] of instructionsByFunction(text, /^events: (.*)$/m.exec(text)![1]!.split(' '))) byName.set(name(fn), (byName.get(name(fn)) ?? 0) + ir);
      return byName;
    };
    const small = counts(ops);
    const big = counts(4 * ops);
    return new Map([...new Set([...small.keys(), ...big.keys()])].map((fn) => [fn, ((big.get(fn) ?? 0) - (small.get(fn) ?? 0)) / (3 * ops)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints `--count functions`' tables for one route: parts, the program's kinds, the functions that differ most. */
function printFunctions(route: string, byVariant: Map<Variant, Map<string, number>>, top: number): void {
  const variants = [...byVariant.keys()];
  const k = (x: number) => (x / 1000).toFixed(1);
  const sumBy = (of: Map<string, number>, key: (fn: string) => string | undefined) => {
    const sums = new Map<string, number>();
    for (const [fn, ir] of of) {
      const at = key(fn);
      if (at !== undefined) sums.set(at, (sums.get(at) ?? 0) + ir);
    }
    return sums;
  };
  console.log(`\n${route}: thousands of instructions per request\n| part | ${variants.join(' | ')} |\n| --- |${variants.map(() => ' ---: |').join('')}`);
  const parts = variants.map((v) => sumBy(byVariant.get(v)!, partOf));
  for (const [part, label] of [['rest', 'the program'], ['gc', 'the collector'], ['compile', 'the compilers']] as const) console.log(`| ${label} | ${parts.map((p) => k(p.get(part) ?? 0)).join(' | ')} |`);
  const kinds = variants.map((v) => sumBy(byVariant.get(v)!, (fn) => (partOf(fn) === 'rest' ? kindOf(fn) : undefined)));
  console.log(`\n| the program's, by kind | ${variants.join(' | ')} |\n| --- |${variants.map(() => ' ---: |').join('')}`);
  for (const kind of [...new Set(kinds.flatMap((m) => [...m.keys()]))].sort()) console.log(`| ${kind} | ${kinds.map((m) => k(m.get(kind) ?? 0)).join(' | ')} |`);
  if (variants.length < 2) return;
  const [a, b] = [byVariant.get(variants[0]!)!, byVariant.get(variants[1]!)!];
  const fns = [...new Set([...a.keys(), ...b.keys()])].filter((fn) => partOf(fn) === 'rest');
  fns.sort((x, y) => Math.abs((b.get(y) ?? 0) - (a.get(y) ?? 0)) - Math.abs((b.get(x) ?? 0) - (a.get(x) ?? 0)));
  console.log(`\n| the program's functions: ${variants[1]} − ${variants[0]} (instructions) | ${variants[0]} | ${variants[1]} | function |\n| ---: | ---: | ---: | --- |`);
  for (const fn of fns.slice(0, top)) console.log(`| ${((b.get(fn) ?? 0) - (a.get(fn) ?? 0)).toFixed(0)} | ${(a.get(fn) ?? 0).toFixed(0)} | ${(b.get(fn) ?? 0).toFixed(0)} | ${fn.replaceAll('|', '\\|').slice(0, 120)} |`);
}

/** Requests per route before the measured ones (`--count instructions`: the same in both children). */
const WARMUP = 3000;

async function parent(rounds: number, ops: number, inflight: number, baseline: string | undefined, storeName: string, count: boolean, functions = false): Promise<void> {
  if (!['map', 'redis', 'token-signed', 'token-encrypted'].includes(storeName)) throw new Error('--store map|redis|token-signed|token-encrypted');
  if ((count || functions) && spawnSync('valgrind', ['--version']).status !== 0) throw new Error('--count instructions|functions needs valgrind (apt-get install valgrind)');
  const only = option('variants')?.split(',');
  const VARIANTS = (['bare', 'raw', ...(storeName === 'redis' || storeName === 'token-signed' ? ['floor' as const] : []), 'ours', ...(baseline === undefined ? [] : ['baseline' as const])] as Variant[])
    .filter((variant) => only === undefined || only.includes(variant))
    .sort((a, b) => (only === undefined ? 0 : only.indexOf(a) - only.indexOf(b))); // (--count functions compares the first two as given)
  const redis = storeName === 'redis' ? await startRedis() : undefined;
  const argsOf = (variant: Variant) => ['--child', variant, '--inflight', String(inflight), '--store', storeName,
    ...(redis ? ['--redis-port', String(redis.port)] : []), ...(variant === 'baseline' ? ['--lib', resolve(baseline!)] : [])];
  try {
    if (functions) {
      for (const route of ROUTES.filter((r) => option('route') === undefined || r === option('route'))) {
        printFunctions(route, new Map(VARIANTS.map((variant) => [variant, functionsPerRequest([...argsOf(variant), '--route', route], ops)])), flag('top', 30));
      }
      return;
    }
    const cpu = new Map(VARIANTS.map((v) => [v, ROUTES.map((): number[] => [])]));
    for (let round = 0; round < rounds; round++) {
      for (const variant of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        const args = argsOf(variant);
        if (count) {
          for (const [i, route] of ROUTES.entries()) cpu.get(variant)![i]!.push(instructionsPerRequest([...args, '--route', route], ops));
        } else {
          const out = JSON.parse(execFileSync(process.execPath, [__filename, ...args, '--ops', String(ops)], { encoding: 'utf8' })) as Record<string, number>;
          ROUTES.forEach((route, i) => cpu.get(variant)![i]!.push(out[route]!));
        }
      }
    }
    const unit = count ? 'k instr' : 'µs';
    console.log(count
      ? `Node ${process.version} (${SINGLE_THREADED}) under valgrind (callgrind), store ${storeName}, ${inflight} in flight, ${rounds} rounds; per route and variant ` +
        `a child of ${ops} and one of ${4 * ops} requests after ${WARMUP} to warm up, each in a fresh process; median instructions per request (thousands) = the difference / ${3 * ops}`
      : `Node ${process.version}, store ${storeName}, ${inflight} in flight, ${rounds} rounds of ${ops} requests per route and variant, each in a fresh process; median CPU per request (µs)`);
    console.log(`| variant | /inc ${unit} | /read ${unit} | /inc per round | /read per round |`);
    console.log('| --- | ---: | ---: | --- | --- |');
    for (const variant of VARIANTS) {
      const list = (i: number) => cpu.get(variant)![i]!.map((x) => x.toFixed(1)).join(' ');
      console.log(`| ${variant} | ${median(cpu.get(variant)![0]!).toFixed(2)} | ${median(cpu.get(variant)![1]!).toFixed(2)} | ${list(0)} | ${list(1)} |`);
    }
    if (VARIANTS.includes('ours') && VARIANTS.includes('baseline')) {
      const change = (i: number) => median(cpu.get('ours')![i]!) - median(cpu.get('baseline')![i]!);
      console.log(`\nours − baseline: /inc ${change(0).toFixed(2)} ${unit}, /read ${change(1).toFixed(2)} ${unit}`);
    }
    const minus = (a: Variant, b: Variant) => ROUTES.map((route, i) => `${route} ${(median(cpu.get(a)![i]!) - median(cpu.get(b)![i]!)).toFixed(2)} ${unit}`).join(', ');
    const ran = (...variants: Variant[]) => variants.every((variant) => VARIANTS.includes(variant));
    if (ran('ours', 'raw')) console.log(`\nours − raw: ${minus('ours', 'raw')}`);
    if (ran('ours', 'floor')) console.log(`ours − floor (the session layer): ${minus('ours', 'floor')}`);
    if (ran('floor', 'raw')) console.log(`floor − raw (our protocol over the raw route's): ${minus('floor', 'raw')}`);
  } finally {
    await redis?.stop();
  }
}

const at = process.argv.indexOf('--child');
if (at >= 0) {
  const port = Number(option('redis-port'));
  const storeName = option('store');
  const store = storeName === 'redis' ? redisStore(port) : storeName?.startsWith('token-') ? tokenStore(storeName === 'token-signed' ? 'signed' : 'encrypted') : mapStore();
  void child(process.argv[at + 1] as Variant, flag('ops', 20_000), flag('inflight', 1), option('lib') ?? resolve(__dirname, '../../lib'), store);
} else {
  const count = option('count');
  if (count !== undefined && count !== 'instructions' && count !== 'functions' && count !== 'cpu') throw new Error('--count cpu|instructions|functions');
  // One pair of children per variant and route: a --rounds there would be ignored, so it is refused.
  if (count === 'functions' && option('rounds') !== undefined) throw new Error('--count functions runs one round; --rounds is not used there');
  const instructions = count === 'instructions' || count === 'functions';
  void parent(flag('rounds', instructions ? 2 : 7), flag('ops', instructions ? 1000 : 20_000), flag('inflight', 1), option('baseline'), option('store') ?? 'map', count === 'instructions', count === 'functions');
}
