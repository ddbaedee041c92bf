import { AsyncLocalStorage } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import Koa from 'koa';
import type { SessionService } from '../../lib';
import { flag, median, option, request, setCookies } from './inprocess';

// What `session({ context: true })` (issue #19) adds to one request: CPU per request of a Koa app
// with the session middleware over a MemoryAdapter (no I/O, so what is left is Node, Koa and us),
// driven in-process through app.callback() with bare request/response objects (no socket, no
// HTTP parsing), one session, requests one after another. Variants:
// - off:       session() — the default;
// - on:        session({ context: true }), the same handler through ctx (the context's own cost);
// - service:   session({ context: true }), the handler through a singleton service holding a
//              SessionService (three lookups of the current session per request);
// - koa-als:   session() in new Koa({ asyncLocalStorage: true }) — Koa's own context storage,
//              for comparison: the same Node mechanism;
// - hooks:     "off" in a process where another AsyncLocalStorage is in use (an APM agent, a
//              logger's): Node's promise hooks are on, ours is not;
// - on+hooks:  "on" in such a process: what ours adds where promise hooks are on anyway;
// - baseline:  with `--baseline DIR`, "off" on the library compiled in DIR (e.g. the commit before
//              the option: `git archive HEAD lib`, compiled): what "off" costs against no option.
// Each (variant, round) runs in a fresh process: on Node 20 the first AsyncLocalStorage.run()
// turns on promise hooks for the whole process, so an "off" run after an "on" one in the same
// process would pay for them too. Rounds interleave the variants (shuffled); the table gives the
// median of the rounds' CPU per request (process.cpuUsage(), user + system) and the extra over
// "off". Target: under 2 µs. Not part of `npm run bench`. After compiling
// (`npx tsc -p . --outDir build-bench`):
//   node build-bench/bench/extras/context.js [--rounds 7] [--ops 20000] [--baseline DIR]

const VARIANTS = ['off', 'on', 'service', 'koa-als', 'hooks', 'on+hooks', 'baseline'] as const;
type Variant = (typeof VARIANTS)[number];
type Lib = typeof import('../../lib');

const ROUTES = ['/inc', '/read'] as const;


/** A singleton service as an app would write one: it never sees ctx. */
class CounterService {
  constructor(private readonly session: SessionService) {}
  inc(): number {
    const n = this.session.manager.get<number>('n', 0)! + 1;
    this.session.manager.set('n', n);
    return n;
  }
  read(): number {
    return this.session.manager.get<number>('n', 0)!;
  }
}

function appOf(variant: Variant, lib: Lib): Koa {
  const app = new Koa(variant === 'koa-als' ? { asyncLocalStorage: true } : {});
  const context = variant === 'on' || variant === 'service' || variant === 'on+hooks';
  // The baseline's session() may not know the option: it is left out when off.
  app.use(lib.session({ adapter: new lib.MemoryAdapter(), gc: false, ...(context ? { context } : {}) }));
  const counter = context ? new CounterService(new lib.SessionService()) : undefined;
  app.use((ctx) => {
    if (variant === 'service') {
      ctx.body = String(ctx.path === '/inc' ? counter!.inc() : counter!.read());
      return;
    }
    const n = ctx.session.get<number>('n', 0)!;
    if (ctx.path === '/inc') ctx.session.set('n', n + 1);
    ctx.body = String(ctx.path === '/inc' ? n + 1 : n);
  });
  return app;
}


async function child(variant: Variant, ops: number, lib: Lib): Promise<void> {
  // Another library's storage, entered once: from here on Node runs its promise hooks for every promise.
  if (variant.endsWith('hooks')) new AsyncLocalStorage<object>().enterWith({});
  const handle = appOf(variant, lib).callback() as unknown as (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  const first = await request(handle, '/inc');
  const cookie = setCookies(first)[0]!.split(';')[0]!;
  const result: Record<string, number> = {};
  for (const path of ROUTES) {
    for (let n = 0; n < Math.min(ops, 3000); n++) await request(handle, path, cookie); // warm up
    const start = process.cpuUsage();
    for (let n = 0; n < ops; n++) await request(handle, path, cookie);
    const used = process.cpuUsage(start);
    result[path] = (used.user + used.system) / ops;
  }
  process.stdout.write(JSON.stringify(result));
}


function parent(rounds: number, ops: number, baseline: string | undefined): void {
  const variants = VARIANTS.filter((v) => v !== 'baseline' || baseline !== undefined);
  const results = new Map(variants.map((v) => [v, ROUTES.map((): number[] => [])]));
  for (let round = 0; round < rounds; round++) {
    const order = [...variants].sort(() => Math.random() - 0.5);
    for (const variant of order) {
      const lib = variant === 'baseline' ? ['--lib', resolve(baseline!)] : [];
      const out = JSON.parse(execFileSync(process.execPath, [__filename, '--child', variant, '--ops', String(ops), ...lib], { encoding: 'utf8' })) as Record<string, number>;
      ROUTES.forEach((route, i) => results.get(variant)![i]!.push(out[route]!));
    }
  }
  const off = ROUTES.map((_, i) => median(results.get('off')![i]!));
  console.log(`Node ${process.version}, ${rounds} rounds of ${ops} requests per route and variant, each in a fresh process; median CPU per request`);
  console.log('| variant | /inc (µs) | extra | /read (µs) | extra | /inc per round | /read per round |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const variant of variants) {
    const per = ROUTES.map((_, i) => median(results.get(variant)![i]!));
    const extra = (i: number) => (variant === 'off' ? '' : (per[i]! - off[i]!).toFixed(2));
    const list = (i: number) => results.get(variant)![i]!.map((x) => x.toFixed(1)).join(' ');
    console.log(`| ${variant} | ${per[0]!.toFixed(2)} | ${extra(0)} | ${per[1]!.toFixed(2)} | ${extra(1)} | ${list(0)} | ${list(1)} |`);
  }
}

const at = process.argv.indexOf('--child');
if (at >= 0) {
  const variant = process.argv[at + 1] as Variant;
  if (!VARIANTS.includes(variant)) throw new Error(`unknown variant ${variant}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  void child(variant, flag('ops', 20_000), require(option('lib') ?? '../../lib') as Lib);
} else {
  parent(flag('rounds', 7), flag('ops', 20_000), option('baseline'));
}
