import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

// What `require()` of each entry point costs a fresh process (issue #12: the main entry loads
// no backend client; target under 20 ms here), beside koa-session's: the median of --rounds
// fresh processes each, in one run, and the modules each loads. Run after `npm run build`:
//   node build/bench/extras/require.js [--rounds 15]

const ROOT = resolve(__dirname, '..', '..', '..');
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 15;

const ENTRIES: [string, string][] = [
  ['koa-session-manager', join(ROOT, 'dist', 'index.js')],
  ['koa-session-manager/file', join(ROOT, 'dist', 'file', 'index.js')],
  ['koa-session-manager/redis', join(ROOT, 'dist', 'redis', 'index.js')],
  ['koa-session-manager/memcached', join(ROOT, 'dist', 'memcached', 'index.js')],
  ['koa-session-manager/postgres', join(ROOT, 'dist', 'postgres', 'index.js')],
  ['koa-session-manager/mysql', join(ROOT, 'dist', 'mysql', 'index.js')],
  ['koa-session-manager/decorators', join(ROOT, 'dist', 'decorators', 'index.js')],
  ['koa-session (for comparison)', 'koa-session'],
  ['koa (for comparison)', 'koa'],
];

const PROBE = `
const before = Object.keys(require.cache).length;
const t = process.hrtime.bigint();
require(process.argv[1]);
const ms = Number(process.hrtime.bigint() - t) / 1e6;
const loaded = Object.keys(require.cache).slice(before);
const packages = [...new Set(loaded.filter((f) => f.includes('node_modules')).map((f) => f.split('node_modules/').pop().split('/')[0]))];
console.log(JSON.stringify({ ms, modules: loaded.length, packages }));`;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`| entry | require, median of ${rounds} (ms) | modules | packages loaded |`);
console.log('| --- | --- | --- | --- |');
for (const [label, target] of ENTRIES) {
  const runs = Array.from({ length: rounds }, () =>
    JSON.parse(execFileSync(process.execPath, ['-e', PROBE, target], { cwd: ROOT, encoding: 'utf8' })) as { ms: number; modules: number; packages: string[] });
  const last = runs[runs.length - 1]!;
  console.log(`| ${label} | ${median(runs.map((r) => r.ms)).toFixed(1)} | ${last.modules} | ${last.packages.join(', ') || '–'} |`);
}
