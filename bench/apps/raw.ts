import { createSecretKey, randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import Koa, { type Context } from 'koa';
import type { Redis } from 'ioredis';
import { restoreFastStringPrototype } from '../../lib/redis/fastStrings';
import { listen, routes } from './koaBase';
import { LIFETIME_S, type AppEnv, type RunningApp } from './types';

/**
 * ioredis, for the Redis limit and floor only (raw-token and raw-file load none), with
 * `String.prototype` put back in V8's fast mode as the library's Redis entry does
 * (lib/redis/fastStrings.ts): loading ioredis slows every string method in the process, and a
 * limit or floor that kept that would credit the session layer with a fix to the client's load.
 */
function ioredisClient(): typeof import('ioredis').Redis {
  const { Redis: Client } = require('ioredis') as typeof import('ioredis'); // eslint-disable-line @typescript-eslint/no-require-imports
  restoreFastStringPrototype();
  return Client;
}

/** A session id the floors accept (the library's alphabet). */
const ID = /^[a-zA-Z0-9,-]{1,128}$/;

/** The `sid` cookie's value, read by hand (the floors have no cookie layer). */
function sidOf(ctx: Context): string | undefined {
  return /(?:^|;\s*)sid=([^;]*)/.exec(ctx.get('cookie'))?.[1];
}

/** The count in a record's JSON (`{"c":…,"d":{"n":…}}`, checked as the library checks a record), 0 when there is none. */
function countOf(json: string | null): number {
  const record = json === null ? null : JSON.parse(json) as { c?: unknown; d?: { n?: unknown } };
  return record !== null && typeof record.c === 'number' && typeof record.d === 'object' && typeof record.d?.n === 'number' ? record.d.n : 0;
}

/** The physical limit of a Redis-backed request: GET (+SET) on a key named by a plain cookie. */
export function rawIoredis(env: AppEnv, pipelined = true): Promise<RunningApp> {
  const client = new (ioredisClient())({ port: env.redisPort, host: '127.0.0.1', enableAutoPipelining: pipelined });
  const app = new Koa();
  const key = (ctx: Context): string => {
    let id = ctx.cookies.get('rid');
    if (!id) {
      id = randomBytes(16).toString('hex');
      ctx.cookies.set('rid', id, { maxAge: LIFETIME_S * 1000 });
    }
    return `raw:${id}`;
  };
  routes(app, async (ctx) => {
    const k = key(ctx);
    const n = Number(await client.get(k)) + 1;
    await client.set(k, String(n), 'PX', LIFETIME_S * 1000);
    ctx.body = String(n);
  }, async (ctx) => {
    ctx.body = String(Number(await client.get(key(ctx))));
  });
  return listen(app, [pipelined ? 'auto-pipelined ioredis client' : 'plain ioredis client'], async () => { await client.quit(); });
}

/**
 * Our Redis protocol without the session layer (issue #17: what bounds the ratio to the raw
 * route): the library's own scripts run by a plain ioredis client from a hand-written route, the
 * least a session with our guarantees sends. `/read`: GETEX (the GET and the sliding TTL in one
 * command; a missing record would also look for a move marker), the record's JSON parsed and
 * checked. `/inc`: LOCK_READ (the lock, its claim check and the read in one round trip), the
 * record's JSON, WRITE_UNLOCK (the fenced write, the release and its PUBLISH). The socket is
 * corked for a tick as the adapter corks it (lib/redis/Commands.ts), so that the floor sends its
 * commands as ours does. No Manager, no policy, no events, no cookie rule, no cache headers, no
 * waiting for a lock (the bench gives each connection its own session; a refused lock answers
 * 503), the cookie read by hand. ours − this = the session layer's cost.
 *
 * `acquire: 'setnx'` (contender `raw-session-setnx`, a measurement, not a protocol we use): the
 * lock taken without a script, `SET lock NX PX` and `MGET data moved claim` in one write, a claim
 * found answering 503 — what a script-free acquire would save (docs/benchmarks.md). Ours could not
 * use it as it is: a lock taken while another process's waiter holds the claim would have to be
 * handed over, which needs the releases to hand the lock to the claimant.
 */
export async function rawSession(env: AppEnv, acquire: 'script' | 'setnx' = 'script'): Promise<RunningApp> {
  const client = new (ioredisClient())({ port: env.redisPort, host: '127.0.0.1' });
  const app = new Koa();
  await rawSessionRoutes(app, client, acquire);
  // (no notes: the contender's label in bench/contenders.ts says what this route does, SET NX's variant too)
  return listen(app, [], async () => { await client.quit(); });
}

/** The routes of {@link rawSession} on `app` over `client` (also run in-process by bench/extras/layer.ts). */
export async function rawSessionRoutes(app: Koa, client: Redis, acquire: 'script' | 'setnx' = 'script'): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { LOCK_READ, WRITE_UNLOCK } = require('../../lib/redis/scripts') as typeof import('../../lib/redis/scripts');
  for (const script of [LOCK_READ, WRITE_UNLOCK]) await client.script('LOAD', script.lua);
  const ttl = LIFETIME_S * 1000;
  let corked = false;
  const cork = (): void => {
    if (corked) return;
    corked = true;
    client.stream.cork();
    process.nextTick(() => {
      corked = false;
      client.stream.uncork();
    });
  };
  const key = (ctx: Context): string => {
    let id = sidOf(ctx);
    if (id === undefined || !ID.test(id)) {
      id = randomBytes(16).toString('hex');
      ctx.cookies.set('sid', id, { maxAge: ttl });
    }
    return `raw-session:{${id}}`;
  };
  /** The lock taken and the record read: its text, or undefined when refused. */
  const lockRead = async (k: string, token: string): Promise<string | null | undefined> => {
    cork();
    if (acquire === 'script') {
      const [ok, text] = await client.evalsha(LOCK_READ.sha, 4, k, `${k}.lock`, `${k}.claim`, `${k}.moved`, token, 30_000, 150) as [number, string | null];
      return ok === 1 ? text : undefined;
    }
    const [ok, [text, moved, claim]] = await Promise.all([client.set(`${k}.lock`, token, 'PX', 30_000, 'NX'), client.mget(k, `${k}.moved`, `${k}.claim`)]);
    return ok === 'OK' && claim === null ? text ?? moved : undefined;
  };
  routes(app, async (ctx) => {
    const k = key(ctx);
    const token = randomUUID();
    const text = await lockRead(k, token);
    if (text === undefined) return ctx.throw(503, 'locked');
    const n = countOf(text) + 1;
    cork();
    await client.evalsha(WRITE_UNLOCK.sha, 2, k, `${k}.lock`, JSON.stringify({ c: Date.now(), d: { n } }), ttl, token, text === null ? '0' : '1');
    ctx.body = String(n);
  }, async (ctx) => {
    const k = key(ctx);
    cork();
    ctx.body = String(countOf(await client.getex(k, 'PX', ttl)));
  });
}

/**
 * Our signed-token protocol without the session layer (issue #17: what bounds the token targets
 * of issue #14): an HS256 token (the header `TokenStore` sends, `jti`, `iat`, `exp` and the
 * record's `{"c":…,"d":…}` in one payload) made by the library's own `signHs256`, in a cookie
 * read by hand. A token this process made is kept by its text (an LRU of 1 000, as the store's
 * default cache) and not verified again; any other is verified by jose, as the store does. `/inc`
 * sends the new token with `Max-Age` and `Expires`; `/read` sends nothing. No Manager, no
 * policy, no events, no cookie rule, no cache headers. ours-token-signed − this = the session
 * layer's cost.
 */
export function rawToken(): Promise<RunningApp> {
  const app = new Koa();
  rawTokenRoutes(app);
  return listen(app, [], async () => undefined); // (its label says what it does)
}

/** The routes of {@link rawToken} on `app`, signing with `secretBytes` (a fresh secret unless given; bench/extras/layer.ts gives a fixed one). */
export function rawTokenRoutes(app: Koa, secretBytes: Buffer = randomBytes(32)): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { headerB64, signHs256 } = require('../../lib/token/compact') as typeof import('../../lib/token/compact');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jose = require('jose') as typeof import('jose');
  const secret = createSecretKey(secretBytes);
  const header = headerB64({ alg: 'HS256', kid: 'k1', typ: 'session+jwt' });
  const kept = new Map<string, { id: string; text: string; exp: number }>();
  const keep = (token: string, id: string, text: string, exp: number): void => {
    kept.set(token, { id, text, exp });
    if (kept.size > 1000) kept.delete(kept.keys().next().value!);
  };
  type Opened = { id: string; text: string } | null;
  const open = async (ctx: Context): Promise<Opened> => {
    const token = sidOf(ctx);
    if (token === undefined) return null;
    const hit = kept.get(token);
    if (hit !== undefined && hit.exp * 1000 > Date.now()) {
      kept.delete(token);
      kept.set(token, hit);
      return hit;
    }
    try {
      const { payload } = await jose.jwtVerify(token, secret, { algorithms: ['HS256'], typ: 'session+jwt', requiredClaims: ['jti', 'iat', 'exp'] });
      const { jti, c, d } = payload as { jti: string; c: number; d: unknown };
      return { id: jti, text: JSON.stringify({ c, d }) };
    } catch {
      return null;
    }
  };
  const count = (opened: Opened): number => countOf(opened?.text ?? null);
  let expiresAt = 0;
  let expiresText = '';
  routes(app, async (ctx) => {
    const opened = await open(ctx);
    const n = count(opened) + 1;
    const id = opened?.id ?? randomBytes(16).toString('hex');
    const now = Math.floor(Date.now() / 1000);
    const exp = now + LIFETIME_S;
    const record = JSON.stringify({ c: Date.now(), d: { n } });
    const payload = `{"jti":"${id}","iat":${now},"exp":${exp},${record.slice(1)}`;
    const token = signHs256(secret, header, Buffer.from(payload));
    keep(token, id, record, exp);
    if (exp !== expiresAt) {
      expiresAt = exp;
      expiresText = new Date(exp * 1000).toUTCString();
    }
    ctx.res.setHeader('Set-Cookie', [`sid=${token}; Max-Age=${LIFETIME_S}; Expires=${expiresText}; Path=/; HttpOnly; SameSite=Lax`]);
    ctx.body = String(n);
  }, async (ctx) => {
    ctx.body = String(count(await open(ctx)));
  });
}

/**
 * Our file protocol without the session layer (issue #17: what bounds the files' targets): the
 * system calls `StreamAdapter` makes (`io: 'sync'`, locking on), in its order, from a
 * hand-written route over the same `<ttl>\n<json>` files. `/read`: open (O_NOFOLLOW), fstat,
 * read, close, the record's JSON parsed. `/inc`: the claim's stat, the lock file created
 * exclusively (open, write, fstat, close), the read, the temp file written (open, write, close),
 * the fence's stat of the lock file and the update check (open, fstat, read, close of the
 * session file), rename(2) over it, the release's stat and unlink of the lock file. No Manager,
 * no policy, no events, no cookie rule or cache headers, no waiting for a lock (a held one
 * answers 503), the cookie read by hand. ours-file − this = the session layer's cost.
 */
export function rawFile(env: AppEnv): Promise<RunningApp> {
  const READ = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW;
  const app = new Koa();
  const fileOf = (ctx: Context): string => {
    let id = sidOf(ctx);
    if (id === undefined || !ID.test(id)) {
      id = randomBytes(16).toString('hex');
      ctx.cookies.set('sid', id, { maxAge: LIFETIME_S * 1000 });
    }
    return join(env.dataDir, `sess_${id}`);
  };
  /** The file's text and mtime, or null when there is none. */
  const readFile = (path: string): { text: string; mtimeMs: number } | null => {
    let fd: number;
    try {
      fd = fs.openSync(path, READ);
    } catch {
      return null;
    }
    try {
      const info = fs.fstatSync(fd);
      const buffer = Buffer.allocUnsafe(info.size);
      const read = fs.readSync(fd, buffer, 0, info.size, 0);
      return { text: buffer.toString('utf8', 0, read), mtimeMs: info.mtimeMs };
    } finally {
      fs.closeSync(fd);
    }
  };
  /** The session's count, 0 when the file is missing, expired or not a record. */
  const count = (file: { text: string; mtimeMs: number } | null): number => {
    if (file === null) return 0;
    const nl = file.text.indexOf('\n');
    if (file.mtimeMs + Number(file.text.slice(0, nl)) * 1000 <= Date.now()) return 0;
    return countOf(file.text.slice(nl + 1));
  };
  const exists = (path: string): boolean => {
    try {
      fs.statSync(path);
      return true;
    } catch {
      return false;
    }
  };
  routes(app, (ctx) => {
    const path = fileOf(ctx);
    const lock = `${path}.lock`;
    if (exists(`${path}.claim`)) ctx.throw(503, 'claimed');
    let fd: number;
    try {
      fd = fs.openSync(lock, 'wx', 0o600);
    } catch {
      return ctx.throw(503, 'locked');
    }
    fs.writeSync(fd, `${randomUUID()}\n30`);
    fs.fstatSync(fd);
    fs.closeSync(fd);
    try {
      const file = readFile(path);
      const n = count(file) + 1;
      const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      fs.writeFileSync(temp, `${LIFETIME_S}\n${JSON.stringify({ c: Date.now(), d: { n } })}`, { flag: 'wx', mode: 0o600 });
      if (exists(lock) && file !== null) readFile(path); // the fence, and the update check of a session that was there
      fs.renameSync(temp, path);
      ctx.body = String(n);
    } finally {
      if (exists(lock)) fs.unlinkSync(lock);
    }
  }, (ctx) => {
    ctx.body = String(count(readFile(fileOf(ctx))));
  });
  return listen(app, ['synchronous fs calls, as io: \'sync\' makes them; a held lock answers 503 (no waiting)'], async () => undefined);
}
