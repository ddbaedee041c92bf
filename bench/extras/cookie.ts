import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import Koa from 'koa';
import { flag, median, option, request, setCookies, type Handle } from './inprocess';

// What re-sending the session cookie costs (issue #17), and what the rule that spares it saves
// (lib/manager/storeCalls.ts: the cookie rule): CPU per request of a Koa app with session() over a MemoryAdapter,
// driven in-process (no socket, no HTTP parsing), one session, requests one after another, on
// two routes under the default policy: `/inc` changes the session (a write), `/touch` reads it
// (unchanged: a timestamp refresh). Variants, each (variant, round) in a fresh process:
// - rule:   this tree's library: the cookie is sent again only when due (see the cookie rule);
// - every:  `--baseline DIR`, the library before the rule (`git archive <commit> lib`, compiled):
//           Set-Cookie (and the cache headers) on every response.
// The difference is the cookie's cost per request. Not part of `npm run bench`. After compiling
// (`npx tsc -p . --outDir build-bench`):
//   node build-bench/bench/extras/cookie.js --baseline DIR [--rounds 7] [--ops 20000]

type Lib = typeof import('../../lib');
const ROUTES = ['/inc', '/touch'] as const;

function appOf(lib: Lib): Koa {
  const app = new Koa();
  app.use(lib.session({ adapter: new lib.MemoryAdapter(), gc: false }));
  app.use((ctx) => {
    const n = ctx.session.get<number>('n', 0)!;
    if (ctx.path === '/inc') ctx.session.set('n', n + 1);
    ctx.body = String(ctx.path === '/inc' ? n + 1 : n);
  });
  return app;
}

async function child(ops: number, lib: Lib): Promise<void> {
  const handle = appOf(lib).callback() as unknown as Handle;
  const first = await request(handle, '/inc');
  const cookie = setCookies(first)[0]!.split(';')[0]!;
  const result: Record<string, number> = {};
  for (const path of ROUTES) {
    for (let n = 0; n < Math.min(ops, 3000); n++) await request(handle, path, cookie); // warm up
    let sent = 0;
    const start = process.cpuUsage();
    for (let n = 0; n < ops; n++) if ((await request(handle, path, cookie)).hasHeader('set-cookie')) sent++;
    const used = process.cpuUsage(start);
    result[path] = (used.user + used.system) / ops;
    result[`${path} sent`] = sent / ops;
  }
  process.stdout.write(JSON.stringify(result));
}

function parent(rounds: number, ops: number, baseline: string): void {
  const variants = ['rule', 'every'] as const;
  const cpu = new Map(variants.map((v) => [v, ROUTES.map((): number[] => [])]));
  const sent = new Map(variants.map((v) => [v, ROUTES.map(() => 0)]));
  for (let round = 0; round < rounds; round++) {
    for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
      const lib = variant === 'every' ? ['--lib', resolve(baseline)] : [];
      const out = JSON.parse(execFileSync(process.execPath, [__filename, '--child', '--ops', String(ops), ...lib], { encoding: 'utf8' })) as Record<string, number>;
      ROUTES.forEach((route, i) => { cpu.get(variant)![i]!.push(out[route]!); sent.get(variant)![i] = out[`${route} sent`]!; });
    }
  }
  console.log(`Node ${process.version}, ${rounds} rounds of ${ops} requests per route and variant, each in a fresh process; median CPU per request`);
  console.log('| variant | /inc µs | Set-Cookie sent | /touch µs | Set-Cookie sent | /inc per round | /touch per round |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- | --- |');
  for (const variant of variants) {
    const per = ROUTES.map((_, i) => median(cpu.get(variant)![i]!));
    const list = (i: number) => cpu.get(variant)![i]!.map((x) => x.toFixed(1)).join(' ');
    const share = (i: number) => `${(sent.get(variant)![i]! * 100).toFixed(0)} %`;
    console.log(`| ${variant} | ${per[0]!.toFixed(2)} | ${share(0)} | ${per[1]!.toFixed(2)} | ${share(1)} | ${list(0)} | ${list(1)} |`);
  }
}

if (process.argv.includes('--child')) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  void child(flag('ops', 20_000), require(option('lib') ?? '../../lib') as Lib);
} else {
  const baseline = option('baseline');
  if (baseline === undefined) throw new Error('--baseline DIR: the library before the rule, compiled (its lib/index.js)');
  parent(flag('rounds', 7), flag('ops', 20_000), baseline);
}
