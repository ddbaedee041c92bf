import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import {
  anchorOf, anchorsOf, brokenLinks, compileBlocks, docFiles, extractBlocks, missingPaths, report, typeScriptBlocks,
} from './helpers/docBlocks';

const ROOT = join(__dirname, '..', '..');
const FILES = docFiles(ROOT);
const BLOCKS = typeScriptBlocks(ROOT, FILES);

/** Every file under `dir`, relative to it, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string): void => {
    for (const name of readdirSync(join(dir, sub))) {
      const path = sub === '' ? name : `${sub}/${name}`;
      if (statSync(join(dir, path)).isDirectory()) walk(path);
      else out.push(path);
    }
  };
  if (existsSync(dir)) walk('');
  return out.sort();
}

test('docs › extractBlocks › finds each fence with its language, first code line and marker', (t) => {
  const markdown = [
    '# Title', '', '```sh', 'npm test', '```', '', '<!-- fragment -->', '```ts', "router.get('/', h);", '```',
    '', '- a list item:', '', '  ```typescript', '  const a = 1;', '  ```', '', '````md', '```ts', 'inner', '```', '````',
  ].join('\n');
  t.deepEqual(extractBlocks(markdown, 'x.md'), [
    { file: 'x.md', line: 4, lang: 'sh', code: 'npm test', marker: undefined },
    { file: 'x.md', line: 9, lang: 'ts', code: "router.get('/', h);", marker: 'fragment' },
    { file: 'x.md', line: 15, lang: 'typescript', code: 'const a = 1;', marker: undefined },
    { file: 'x.md', line: 19, lang: 'md', code: '```ts\ninner\n```', marker: undefined },
  ]);
});

test('docs › anchors are GitHub\'s: lower case, punctuation dropped, spaces to dashes, repeats numbered', (t) => {
  t.is(anchorOf('Per-route policy: read-only and unlocked routes'), 'per-route-policy-read-only-and-unlocked-routes');
  t.is(anchorOf('StreamAdapter (files)'), 'streamadapter-files');
  t.is(anchorOf('Options of `session()`'), 'options-of-session');
  t.deepEqual([...anchorsOf('# A\n## A\n```sh\n# not a heading\n```\n')], ['a', 'a-1']);
});

test('docs › README.md and docs/ have TypeScript blocks to check, and one README app', (t) => {
  t.true(FILES.includes('README.md') && FILES.some((f) => f.startsWith('docs/')), FILES.join(', '));
  t.false(FILES.some((f) => f.startsWith('docs/api/')), 'the generated reference is not checked as prose');
  t.true(BLOCKS.filter((b) => b.file === 'README.md').length >= 3);
  t.true(BLOCKS.length >= 20, `${BLOCKS.length} blocks`);
  const fragments = BLOCKS.filter((b) => b.marker === 'fragment');
  t.true(fragments.length <= 3, `few fragments; complete blocks are the rule: ${fragments.map((b) => `${b.file}:${b.line}`).join(', ')}`);
});

test('docs › the README app imports only koa, koa-session-manager and node: builtins, and listens on PORT', (t) => {
  const apps = BLOCKS.filter((b) => b.marker === 'readme-app');
  t.is(apps.length, 1, 'exactly one block marked <!-- readme-app -->');
  t.is(apps[0]?.file, 'README.md');
  const code = apps[0]?.code ?? '';
  const imports = [...code.matchAll(/^import\s[^;]*?['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  t.deepEqual(imports.filter((name) => name !== 'koa' && name !== 'koa-session-manager' && !name.startsWith('node:')), []);
  t.regex(code, /Number\(process\.env\.PORT \?\? 3000\)/);
  t.regex(code, /declare module 'koa-session-manager'/);
});

test('docs › every TypeScript block compiles against the built package', (t) => {
  const dist = join(ROOT, 'dist', 'index.d.ts');
  if (!existsSync(dist)) return t.fail('dist/ is missing: run `npm run build` (npm test does) before this spec');
  const built = statSync(dist).mtimeMs;
  const newer = filesUnder(join(ROOT, 'lib')).filter((f) => statSync(join(ROOT, 'lib', f)).mtimeMs > built);
  if (newer.length > 0) return t.fail(`dist/ is older than lib/${newer[0]}: run \`npm run build\` (npm test does)`);
  const problems = compileBlocks(ROOT, BLOCKS, join(ROOT, 'build', 'docs-blocks'));
  t.is(report(problems), '', `${problems.length} errors; npx tsc -p build/docs-blocks shows them on the extracted blocks`);
});

test('docs › relative links and their anchors lead somewhere', (t) => {
  t.is(report(FILES.flatMap((file) => brokenLinks(ROOT, file))), '');
});

test('docs › repository paths named in backticks exist', (t) => {
  t.is(report(FILES.flatMap((file) => missingPaths(ROOT, file))), '');
});

test('docs › docs/api is what `npm run docs` writes from the doc comments, and TypeDoc warns of nothing', async (t) => {
  const typedoc = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
  if (!existsSync(typedoc)) return t.fail('typedoc is not installed: it and typedoc-plugin-markdown are devDependencies (npm install)');
  const out = await mkdtemp(join(tmpdir(), 'ksm-api-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  try {
    // typedoc.json treats warnings as errors: a broken {@link} or an unexported type fails here.
    await promisify(execFile)(process.execPath, [typedoc, '--out', out, '--logLevel', 'Warn'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 1 << 24 });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    return t.fail(`npm run docs fails:\n${stdout ?? ''}${stderr ?? ''}`);
  }
  const committed = join(ROOT, 'docs', 'api');
  const want = filesUnder(out);
  const have = filesUnder(committed);
  const stale = [
    ...want.filter((f) => !have.includes(f)).map((f) => `missing: docs/api/${f}`),
    ...have.filter((f) => !want.includes(f)).map((f) => `not generated any more: docs/api/${f}`),
    ...want.filter((f) => have.includes(f) && readFileSync(join(out, f), 'utf8') !== readFileSync(join(committed, f), 'utf8'))
      .map((f) => `differs: docs/api/${f}`),
  ];
  t.deepEqual(stale, [], 'docs/api is stale: run `npm run docs` and commit the result');
});
