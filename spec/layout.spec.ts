import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The shape of lib/ (issue #12): no import cycle between its modules, counting type-only
// imports too (a cycle of types is a cycle of concepts, and the next value import makes it a
// runtime one); no module far beyond the ~250-line guideline; and the main entry reaches no
// backend's client library.

const LIB = resolve(__dirname, '..', '..', 'lib');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

/** Relative imports and re-exports of a module, resolved to files; `packages` gets the bare ones. */
function imports(file: string, packages?: Set<string>): string[] {
  // Doc comments hold @example imports: only real statements count.
  const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const result: string[] = [];
  for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'/g)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith('.')) { packages?.add(spec); continue; }
    const base = resolve(dirname(file), spec);
    const candidates = [`${base}.ts`, join(base, 'index.ts')];
    const found = candidates.find((c) => { try { readFileSync(c); return true; } catch { return false; } });
    if (found === undefined) throw new Error(`${relative(LIB, file)}: cannot resolve ${spec}`);
    result.push(found);
  }
  return result;
}

/** Each cycle of a module graph, as `a → b → a`: a depth-first walk reports every back edge. */
function findCycles(graph: Map<string, string[]>, name: (f: string) => string = (f) => f): string[] {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g].map(name).join(' → '));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

test('lib/ has no import cycle, type-only imports included', (t) => {
  const graph = new Map(sources(LIB).map((f) => [f, imports(f)]));
  t.deepEqual(findCycles(graph, (f) => relative(LIB, f)), []);
});

test('the cycle check sees a cycle (a two-module loop is reported)', (t) => {
  // The check above must be able to fail: the same walk over a graph with a known loop.
  t.deepEqual(findCycles(new Map([['a', ['b']], ['b', ['a']], ['c', ['a']]])), ['a → b → a']);
});

test('no module of lib/ is far beyond ~250 lines (more than a quarter over)', (t) => {
  const long = sources(LIB)
    .map((f) => [relative(LIB, f), readFileSync(f, 'utf8').split('\n').length] as const)
    .filter(([, lines]) => lines > 250 * 1.25);
  t.deepEqual(long, []);
});

test('the main entry reaches no backend client library, statically', (t) => {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const walk = (f: string): void => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const g of imports(f, packages)) walk(g);
  };
  walk(join(LIB, 'index.ts'));
  const external = [...packages].filter((p) => !p.startsWith('node:')).sort();
  // Both type-only imports here: koa's Context and Middleware, debug's Debugger (lib/log.ts
  // requires debug at the first message). spec/package lists what a require really loads.
  t.deepEqual(external, ['debug', 'koa']);
});
