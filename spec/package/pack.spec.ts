import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../helpers/serverProcess';
import { CONSUMERS, RESOLUTIONS, STRICT } from './consumers';

// The package as a user gets it (issue #12): `npm pack` of a clean copy of the repository (its
// `prepare` builds dist/), the tarball installed into a scratch app that has only koa, the
// README's app run from it, the main entry's loaded modules listed, each entry point's missing
// peer named, and strict consumers of every entry point compiled under each resolution mode.
// npm reads its cache first (`--prefer-offline`): `npm ci` has just filled it with these versions.

const run = promisify(execFile);
const REPO = resolve(__dirname, '..', '..', '..');
const LOCK = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
/** The version this repository's lock file pins, so npm finds it in the cache. */
const pinned = (name: string): string => `${name}@${LOCK.packages[`node_modules/${name}`]!.version}`;
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

let work: string;
let tarball: string;
let packed: string[];
let consumer: string;

async function npm(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, maxBuffer: 64 * 1024 * 1024, env: cleanEnv() });
  return stdout;
}

/** This process runs under `npm test`: its npm_* settings must not leak into the scratch installs. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

/** A clean copy of the repository: the files git tracks or would track, and the repo's node_modules. */
function copyRepo(to: string): Promise<void> {
  return run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, maxBuffer: 16 * 1024 * 1024 })
    .then(({ stdout }) => {
      for (const file of stdout.split('\0').filter(Boolean)) {
        if (!existsSync(join(REPO, file))) continue; // deleted in the work tree
        mkdirSync(dirname(join(to, file)), { recursive: true });
        copyFileSync(join(REPO, file), join(to, file));
      }
      symlinkSync(join(REPO, 'node_modules'), join(to, 'node_modules'), 'dir');
    });
}

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ksm-pack-'));
  const clone = join(work, 'clone');
  await copyRepo(clone);
  const out = await npm(clone, ['pack', '--json', '--pack-destination', work]);
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
  tarball = join(work, info.filename);
  packed = info.files.map((f) => f.path).sort();
  consumer = join(work, 'app');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true }));
  await npm(consumer, ['install', ...NPM_FLAGS, tarball, pinned('koa')]);
});

test.after.always(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('the tarball holds the built library, its typings, LICENSE and README, and nothing that points at files it lacks', (t) => {
  for (const entry of ['', 'redis/', 'memcached/', 'postgres/', 'mysql/', 'token/', 'file/', 'decorators/', 'php/']) {
    t.true(packed.includes(`dist/${entry}index.js`), `dist/${entry}index.js`);
    t.true(packed.includes(`dist/${entry}index.d.ts`), `dist/${entry}index.d.ts`);
  }
  for (const file of ['LICENSE', 'README.md', 'package.json']) t.true(packed.includes(file), file);
  t.deepEqual(packed.filter((f) => !f.startsWith('dist/') && !['LICENSE', 'README.md', 'package.json'].includes(f)), []);
  t.deepEqual(packed.filter((f) => f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), []);
  const installed = join(consumer, 'node_modules', 'koa-session-manager');
  const mapped = packed.filter((f) => f.endsWith('.js') && readFileSync(join(installed, f), 'utf8').includes('sourceMappingURL'));
  t.deepEqual(mapped, []);
});

test.serial('the main entry loads no backend client: only its own modules', async (t) => {
  const probe = `
    const before = new Set(Object.keys(require.cache));
    require('koa-session-manager');
    const loaded = Object.keys(require.cache).filter((f) => !before.has(f));
    const packages = [...new Set(loaded.map((f) => f.split('node_modules/').pop().split('/')[0]))].sort();
    console.log(JSON.stringify({ count: loaded.length, packages }));`;
  const { stdout } = await run(process.execPath, ['-e', probe], { cwd: consumer });
  const { count, packages } = JSON.parse(stdout) as { count: number; packages: string[] };
  // Nothing but its own modules: koa is only a type here, debug comes with the first log message.
  t.deepEqual(packages, ['koa-session-manager']);
  t.true(count < 60, `${count} modules`);
});

test.serial('an entry point whose peer is missing names the npm install to run', async (t) => {
  for (const [entry, peer] of [['redis', 'ioredis'], ['memcached', 'memjs'], ['postgres', 'pg'], ['mysql', 'mysql2'], ['token', 'jose'], ['decorators', 'routing-controllers']]) {
    const probe = `try { require('koa-session-manager/${entry}'); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
    const { stdout } = await run(process.execPath, ['-e', probe], { cwd: consumer });
    t.deepEqual(JSON.parse(stdout), {
      name: 'PeerDependencyMissing',
      code: 'ERR_SESSION_PEER_MISSING',
      message: `koa-session-manager/${entry} needs the package "${peer}": run npm install ${peer}`,
    }, entry);
  }
});

test.serial("the README's app compiles strictly and runs verbatim from the installed package", async (t) => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /<!-- readme-app -->\s*\n```ts\n([\s\S]*?)\n```/.exec(readme)?.[1];
  if (block === undefined) return t.fail('README.md has no ```ts block after <!-- readme-app -->');
  const dir = join(consumer, 'readme');
  mkdirSync(dir);
  writeFileSync(join(dir, 'app.ts'), block);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...STRICT, ...RESOLUTIONS.node16, noEmit: false, outDir: 'out', rootDir: '.' }, files: ['app.ts'],
  }));
  await compile(t, dir);
  const port = await freePort();
  const app: ChildProcess = spawn(process.execPath, [join(dir, 'out', 'app.js')], {
    cwd: consumer, env: { ...cleanEnv(), PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  app.stdout!.on('data', (chunk) => (output += chunk));
  app.stderr!.on('data', (chunk) => (output += chunk));
  try {
    const url = `http://127.0.0.1:${port}/`;
    const first = await fetchWhenUp(url, app);
    t.is(first.status, 200, output);
    t.regex(await first.text(), /visit 1\b/);
    const cookie = first.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    t.not(cookie, '');
    const second = await fetch(url, { headers: { cookie } });
    t.regex(await second.text(), /visit 2\b/);
  } finally {
    app.kill('SIGTERM');
  }
});

test.serial('strict consumers of every entry point compile under node10, node16, nodenext and bundler resolution', async (t) => {
  await npm(consumer, ['install', ...NPM_FLAGS, ...['ioredis', 'memjs', 'pg', 'mysql2', 'jose', 'routing-controllers', 'reflect-metadata', 'class-transformer', 'class-validator'].map(pinned)]);
  // Two at a time: the machine has two cores.
  const modes = Object.entries(RESOLUTIONS);
  for (let i = 0; i < modes.length; i += 2) {
    await Promise.all(modes.slice(i, i + 2).map(([mode, resolution]) => {
      const dir = join(consumer, `strict-${mode}`);
      mkdirSync(dir);
      for (const [file, source] of Object.entries(CONSUMERS)) writeFileSync(join(dir, file), source);
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...STRICT, ...resolution }, files: Object.keys(CONSUMERS) }));
      return compile(t, dir, mode);
    }));
  }
});

test.serial('with its peer installed each entry point loads, from CommonJS and from an ES module', async (t) => {
  const esm = `import { session, Manager } from 'koa-session-manager';
    import { RedisAdapter } from 'koa-session-manager/redis';
    import { MemcachedAdapter } from 'koa-session-manager/memcached';
    import { PostgresAdapter } from 'koa-session-manager/postgres';
    import { MysqlAdapter } from 'koa-session-manager/mysql';
    import { TokenStore } from 'koa-session-manager/token';
    import { StreamAdapter } from 'koa-session-manager/file';
    import { Session } from 'koa-session-manager/decorators';
    console.log([session, Manager, RedisAdapter, MemcachedAdapter, PostgresAdapter, MysqlAdapter, TokenStore, StreamAdapter, Session].map((x) => typeof x).join());`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', esm], { cwd: consumer });
  t.is(stdout.trim(), Array(9).fill('function').join());
  const cjs = `for (const e of ['', '/redis', '/memcached', '/postgres', '/mysql', '/token', '/file', '/decorators', '/php']) require('koa-session-manager' + e); console.log('ok');`;
  t.is((await run(process.execPath, ['-e', cjs], { cwd: consumer })).stdout.trim(), 'ok');
});

async function compile(t: { fail(message: string): void; pass(): void }, dir: string, label = ''): Promise<void> {
  try {
    await run(process.execPath, [TSC, '-p', dir], { cwd: dir });
    t.pass();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    t.fail(`${label} tsc: ${e.stdout || e.stderr || e.message}`);
  }
}

/** GET `url` once the app listens (it prints nothing we rely on): retry refused connections for up to 10 s. */
async function fetchWhenUp(url: string, app: ChildProcess): Promise<Response> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (app.exitCode !== null || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
