import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

// A module that re-exports a value it imported (`import { X } from './a'; export { X };`, or
// `export { X } from './a'`) compiles to a getter on `exports`
// (`Object.defineProperty(exports, "X", { get })`) after TypeScript's `exports.X = void 0`, and
// redefining a data property as an accessor puts the exports object in V8's dictionary mode. Every
// `Module_1.name` an importer reads from it is then a generic property lookup that optimized code
// cannot inline: `Manager_1.Manager` and `Manager_1.REQUIRE_START`, read by the middleware on every
// request, were (issue #17; `--print-opt-code` showed them as LoadIC calls). The library's own
// modules therefore re-export no values; the package's entry points (index.js of each subpath,
// required once by an app at start) may.

const LIB = resolve(__dirname, '../lib');

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return modules(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
}

/** `%HasFastProperties` of each module's exports, in a child with V8's natives syntax on. */
function exportsShape(paths: string[]): Record<string, boolean> {
  const script = `const paths = ${JSON.stringify(paths)}; const out = {};
    for (const p of paths) out[p] = %HasFastProperties(require(p));
    process.stdout.write(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' })) as Record<string, boolean>;
}

test('exports › no module of the library but the entry points keeps its exports in V8\'s dictionary mode (a re-exported value)', (t) => {
  const all = modules(LIB);
  const isEntry = (path: string) => /(^|\/)index\.js$/.test(relative(LIB, path));
  const shape = exportsShape(all);
  const slow = all.filter((path) => !isEntry(path) && !shape[path]).map((path) => relative(LIB, path));
  t.deepEqual(slow, [], 're-export nothing from these, or import the value from its own module');
  // The check sees the case: the main entry re-exports values, and is in dictionary mode.
  t.false(shape[join(LIB, 'index.js')], 'lib/index.js (re-exports) reads as a dictionary');
  t.true(all.filter((path) => !isEntry(path)).length > 50);
});
