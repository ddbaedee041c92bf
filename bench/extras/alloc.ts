import { Session } from 'node:inspector';
import { join } from 'node:path';

// Bytes a request allocates, by file and by function of our library (issue #17): one layer.ts
// child (`--child <variant> --route <route> --store <store>`) run under V8's sampling heap profiler
// with the collected objects kept (what --heap-prof leaves out), every sample over the child's
// requests (warm-up included; start-up is small beside them). Not part of `npm run bench`:
//   npx tsc -p . --outDir build-bench && node build-bench/bench/extras/alloc.js --child ours --route /inc --store token-signed [--ops 20000] [--warmup 2000] [--inflight 32]
// The counts are samples (one per 1 KB allocated on average), so a few hundred bytes are noise.

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}

const args = process.argv.slice(2);
const value = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
};
const ops = Number(value('ops', '20000'));
const warmup = Number(value('warmup', '2000'));
const inflight = Number(value('inflight', '32'));
if (!args.includes('--ops')) args.push('--ops', String(ops));
if (!args.includes('--warmup')) args.push('--warmup', String(warmup));
// The child's requests: `inflight` sessions made, then warm-up and measured requests per loop.
const requests = inflight + inflight * (Math.ceil(warmup / inflight) + Math.ceil(ops / inflight));

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });

process.on('exit', () => {
  // (The main thread's inspector session answers synchronously, so this runs before the exit.)
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (err) throw err;
    report((result as { profile: { head: Node } }).profile.head);
  });
});

function report(head: Node): void {
  const byFile = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: Node): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/.*\/(build-bench|build|node_modules)\//, '$1/') || '(native)';
    total += node.selfSize;
    byFile.set(file, (byFile.get(file) ?? 0) + node.selfSize);
    const name = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
    node.children.forEach(walk);
  };
  walk(head);
  const ours = (key: string): boolean => /^build(-bench)?\/lib\//.test(key);
  const perRequest = (bytes: number): string => `${Math.round(bytes / requests)} B`;
  const lines = [
    `${args.join(' ')}: ${requests} requests`,
    `allocated per request: ${perRequest(total)}; by our library (lib/): ${perRequest([...byFile].filter(([k]) => ours(k)).reduce((s, [, v]) => s + v, 0))}`,
    '',
    '| file | per request |',
    '| --- | ---: |',
    ...[...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `| ${k} | ${perRequest(v)} |`),
    '',
    '| function of our library | per request |',
    '| --- | ---: |',
    ...[...byFunction].filter(([k]) => ours(k.split(' ')[1] ?? '')).sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, v]) => `| ${k} | ${perRequest(v)} |`),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

process.argv = [process.argv[0]!, join(__dirname, 'layer.js'), ...args];
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./layer');
