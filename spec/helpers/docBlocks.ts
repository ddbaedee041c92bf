import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** One fenced code block of a Markdown file. */
export interface DocBlock {
  /** The Markdown file, relative to the repository root, with `/` separators. */
  readonly file: string;
  /** 1-based line of the block's first code line in that file. */
  readonly line: number;
  /** The fence's info string, lower-cased (`ts`, `typescript`, `sh`, `json`, …). */
  readonly lang: string;
  readonly code: string;
  /** The HTML comment on the line before the fence, without `<!--` and `-->` (`fragment`, `readme-app`). */
  readonly marker: string | undefined;
}

/** A problem found in the docs, located in its Markdown file. */
export interface DocProblem {
  /** `README.md:42:7` */
  readonly where: string;
  readonly message: string;
}

const FENCE = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/;
const MARKER = /^\s*<!--\s*(.*?)\s*-->\s*$/;

/**
 * The fenced code blocks of `markdown`, with the line each starts on and the HTML comment on
 * the line just before its fence (the way a block is marked as a fragment).
 *
 * @example
 * extractBlocks('<!-- fragment -->\n```ts\nrouter.get(…);\n```\n', 'docs/x.md');
 * // [{ file: 'docs/x.md', line: 3, lang: 'ts', code: 'router.get(…);', marker: 'fragment' }]
 */
export function extractBlocks(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (open === null) continue;
    const [, indent, fence, info] = open;
    const body: string[] = [];
    let end = i + 1;
    for (; end < lines.length; end++) {
      const close = FENCE.exec(lines[end]);
      if (close !== null && close[2][0] === fence[0] && close[2].length >= fence.length && close[3] === '') break;
      body.push(lines[end].startsWith(indent) ? lines[end].slice(indent.length) : lines[end].trimStart());
    }
    const marker = i > 0 ? MARKER.exec(lines[i - 1])?.[1] : undefined;
    blocks.push({ file, line: i + 2, lang: info.toLowerCase(), code: body.join('\n'), marker });
    i = end;
  }
  return blocks;
}

/** `README.md` and every `.md` under `docs/` except the generated `docs/api/`, relative to `root`. */
export function docFiles(root: string): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (path !== 'docs/api') walk(path);
      } else if (entry.name.endsWith('.md')) {
        files.push(path);
      }
    }
  };
  if (existsSync(join(root, 'docs'))) walk('docs');
  return files;
}

/** The TypeScript blocks (` ```ts `, ` ```typescript `) of the given files. */
export function typeScriptBlocks(root: string, files: readonly string[]): DocBlock[] {
  return files.flatMap((file) => extractBlocks(readFileSync(join(root, file), 'utf8'), file))
    .filter((block) => block.lang === 'ts' || block.lang === 'typescript');
}

/**
 * The compiler options every block is checked with, as tsconfig.json spells them: an app's
 * strictest usual settings, with the decorator flags routing-controllers needs.
 * `moduleDetection: force` makes each block a module, so its `declare module
 * 'koa-session-manager'` is an augmentation, never a replacement of the package's typings.
 */
export const BLOCK_TSCONFIG = {
  target: 'ES2022', module: 'node16', moduleResolution: 'node16', moduleDetection: 'force', lib: ['ES2022'],
  types: ['node'], strict: true, exactOptionalPropertyTypes: true, skipLibCheck: false,
  experimentalDecorators: true, emitDecoratorMetadata: true, esModuleInterop: true, noEmit: true,
} as const;

/**
 * What a fragment may use without declaring it: Koa, a koa-router `Router`, every export of the
 * main entry, and an `app`, a `router` and an `adapter`. One line, so that a fragment's line N
 * is line N + 1 of its file.
 */
export function fragmentPreamble(root: string): string {
  const names = exportedNames(join(root, 'dist', 'index.d.ts'));
  return [
    "import Koa from 'koa';",
    "import Router from 'koa-router';",
    `import { ${names.join(', ')} } from 'koa-session-manager';`,
    'declare const app: Koa;',
    'declare const router: Router;',
    'declare const adapter: Adapter;',
  ].join(' ');
}

/** The names a declaration file exports through `export { … }` and `export type { … }`. */
function exportedNames(dts: string): string[] {
  const source = ts.createSourceFile(dts, readFileSync(dts, 'utf8'), ts.ScriptTarget.ES2022);
  const names: string[] = [];
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement) && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const element of statement.exportClause.elements) names.push(element.name.text);
    }
  }
  return names;
}

/** Where a block is written: `README.md:42` becomes `README.md_L42.ts`. */
function blockFileName(block: DocBlock): string {
  return `${block.file.replaceAll('/', '__')}_L${block.line}.ts`;
}

/**
 * Compile every block in one program against the built package, each block a module of its own
 * in `outDir` (which must lie inside the package, so that `koa-session-manager` resolves to it
 * by self-reference). Fragments get {@link fragmentPreamble} on their first line. Writes a
 * `tsconfig.json` beside the blocks, so `npx tsc -p <outDir>` reproduces the result. Returns the
 * diagnostics, located in the Markdown files where they come from a block.
 */
export function compileBlocks(root: string, blocks: readonly DocBlock[], outDir: string): DocProblem[] {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const preamble = fragmentPreamble(root);
  const byPath = new Map<string, DocBlock>();
  for (const block of blocks) {
    const path = join(outDir, blockFileName(block));
    const fragment = block.marker === 'fragment';
    writeFileSync(path, `${fragment ? `${preamble}\n` : ''}${block.code}\n`);
    byPath.set(resolve(path), block);
  }
  const files = [...byPath.keys()].map((path) => relative(outDir, path));
  writeFileSync(join(outDir, 'tsconfig.json'), `${JSON.stringify({ compilerOptions: BLOCK_TSCONFIG, files }, null, 2)}\n`);
  const { options, errors } = ts.convertCompilerOptionsFromJson(BLOCK_TSCONFIG, outDir);
  if (errors.length > 0) throw new Error(ts.flattenDiagnosticMessageText(errors[0]!.messageText, '\n'));
  const program = ts.createProgram([...byPath.keys()], options);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => locate(diagnostic, byPath, root));
}

/** A diagnostic as `file:line:column` of the Markdown block it comes from (or of its own file). */
function locate(diagnostic: ts.Diagnostic, byPath: ReadonlyMap<string, DocBlock>, root: string): DocProblem {
  const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
  const { file, start } = diagnostic;
  if (file === undefined || start === undefined) return { where: '(program)', message };
  const { line, character } = file.getLineAndCharacterOfPosition(start);
  const block = byPath.get(resolve(file.fileName));
  if (block === undefined) return { where: `${relative(root, file.fileName).split(sep).join('/')}:${line + 1}:${character + 1}`, message };
  const codeLine = block.marker === 'fragment' ? line - 1 : line;
  if (codeLine < 0) return { where: `${block.file}:${block.line - 1} (fragment preamble)`, message };
  return { where: `${block.file}:${block.line + codeLine}:${character + 1}`, message };
}

/**
 * GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` removed, spaces
 * become `-`.
 *
 * @example
 * anchorOf('Per-route policy: read-only and unlocked routes'); // 'per-route-policy-read-only-and-unlocked-routes'
 */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** `markdown` with its fenced code blocks blanked out (line numbers kept). */
function prose(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split(/\r?\n/).map((line) => {
    const open = FENCE.exec(line);
    if (open !== null) {
      if (fence === undefined) fence = open[2];
      else if (open[2][0] === fence[0] && open[2].length >= fence.length && open[3] === '') fence = undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/** The anchors of a Markdown file's headings (outside code blocks), numbered as GitHub numbers repeats. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const base = anchorOf(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/**
 * Relative links (`[text](path#anchor)`) that lead nowhere: a missing file, or an anchor that no
 * heading of the target makes. Links with a scheme (`https:`, `mailto:`) are not followed.
 */
export function brokenLinks(root: string, file: string): DocProblem[] {
  const problems: DocProblem[] = [];
  const lines = prose(readFileSync(join(root, file), 'utf8'));
  lines.forEach((line, index) => {
    for (const match of line.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = path === '' ? join(root, file) : resolve(join(root, dirname(file)), path);
      const where = `${file}:${index + 1}:${(match.index ?? 0) + 1}`;
      if (!existsSync(resolved)) {
        problems.push({ where, message: `link to ${target}: ${relative(root, resolved)} does not exist` });
      } else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
        problems.push({ where, message: `link to ${target}: no heading of ${relative(root, resolved)} has the anchor #${anchor}` });
      }
    }
  });
  return problems;
}

/** Top-level folders whose paths, named in backticks in the prose, must exist. */
const REPO_PATHS = /`((?:lib|spec|examples|bench|docs|\.ci)\/[\w./-]*)`/g;

/**
 * Repository paths named in backticks (`` `lib/redis/RedisAdapter.ts` ``, `` `spec/helpers/` ``)
 * that do not exist. `build/…` and `dist/…` are outputs and not checked.
 */
export function missingPaths(root: string, file: string): DocProblem[] {
  const problems: DocProblem[] = [];
  prose(readFileSync(join(root, file), 'utf8')).forEach((line, index) => {
    for (const match of line.matchAll(REPO_PATHS)) {
      const path = match[1];
      if (/[*<>]|\.\.\./.test(path)) continue; // a pattern or a placeholder (`spec/**/*.spec.ts`, `lib/…`)
      if (!existsSync(join(root, path))) {
        problems.push({ where: `${file}:${index + 1}:${(match.index ?? 0) + 1}`, message: `\`${path}\` does not exist` });
      }
    }
  });
  return problems;
}

/** Problems as one line each, for a spec's failure message. */
export function report(problems: readonly DocProblem[]): string {
  return problems.map((p) => `${p.where} ${p.message}`).join('\n');
}
