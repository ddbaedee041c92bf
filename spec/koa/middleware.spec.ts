import test, { type ExecutionContext } from 'ava';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import { session } from '../../lib/koa/middleware';
import type { SessionOptions } from '../../lib/koa/options';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import type { Adapter } from '../../lib/adapters/Adapter';
import { CountingEmitter, DownAdapter, SpyAdapter } from '../helpers/doubles';
import { Client, listen } from '../helpers/http';

/** An app with the session middleware and a few routes that exercise it. */
async function serve(t: { teardown(fn: () => unknown): void }, options: SessionOptions = {}, configure?: (app: Koa) => void) {
  const spy = new SpyAdapter((options.adapter as Adapter | undefined) ?? new MemoryAdapter());
  const app = new Koa();
  app.silent = true;
  configure?.(app);
  const mw = session({ gc: false, ...options, adapter: spy });
  app.use(mw);
  app.use(async (ctx) => {
    switch (ctx.path) {
      case '/inc': {
        const n = ctx.session.get<number>('n', 0)!;
        if (ctx.query.delay) await sleep(Number(ctx.query.delay));
        ctx.session.set('n', n + 1);
        ctx.body = { n: n + 1 };
        return;
      }
      case '/read': ctx.body = { n: ctx.session.get('n'), id: ctx.session.getId() }; return;
      case '/noop': ctx.body = 'ok'; return;
      case '/login':
        await ctx.session.regenerateId();
        if (ctx.query.delay) await sleep(Number(ctx.query.delay));
        ctx.session.set('user', 'ann');
        ctx.body = 'in';
        return;
      case '/logout': await ctx.session.destroy(); ctx.body = 'out'; return;
      case '/throw': ctx.session.set('beforeThrow', true); throw new Error('handler failed: secret detail');
      case '/cached-throw':
        ctx.session.set('seen', true);
        throw Object.assign(new Error('Not here'), { status: 404, expose: true, headers: { 'cache-control': 'public, max-age=600' } });
      case '/login-then-throw': await ctx.session.regenerateId(); ctx.session.set('user', 'ann'); throw new Error('audit log down');
      case '/flash': ctx.flash.success('Saved <b>'); ctx.redirect('/show'); return;
      case '/show': ctx.body = ctx.flash.output(); return;
      case '/cart': ctx.persistent.set('items', [...(ctx.persistent.get<string[]>('items') ?? []), String(ctx.query.add)]); ctx.body = ctx.persistent.toArray(); return;
      case '/early': {
        ctx.session.set('early', true);
        await ctx.session.writeClose();
        await sleep(Number(ctx.query.delay ?? 0));
        ctx.body = { early: ctx.session.get('early') };
        return;
      }
      default: ctx.status = 404;
    }
  });
  const server = await listen(app);
  t.teardown(() => server.close());
  return { ...server, spy, store: (options.adapter as Adapter | undefined) ?? spy.inner, mw, client: new Client(server.url) };
}

function tempDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ksm-mw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('session() › a visitor whose session stores nothing gets no cookie and no store record', async (t) => {
  const { client, spy } = await serve(t);
  const res = await client.fetch('/read');
  t.is(res.status, 200);
  t.deepEqual(res.headers.getSetCookie(), []);
  t.is(spy.count('write') + spy.count('updateTimestamp'), 0);
});

test('session() › the cookie is HttpOnly, SameSite=Lax, Path=/, Max-Age = lifetime + a tenth (the cookie rule), not Secure over HTTP', async (t) => {
  const { client } = await serve(t, { lifetime: 900 });
  await client.fetch('/inc');
  const [cookie] = client.lastCookies;
  t.is(cookie.name, 'sid');
  t.regex(cookie.value, /^[a-zA-Z0-9,-]{32}$/);
  t.is(cookie.attributes['httponly'], true);
  t.is(cookie.attributes['samesite'], 'Lax');
  t.is(cookie.attributes['path'], '/');
  t.is(cookie.attributes['max-age'], '990');
  const expires = Date.parse(cookie.attributes['expires'] as string);
  t.true(Math.abs(expires - (Date.now() + 990_000)) < 5_000);
  t.false('secure' in cookie.attributes);
});

test('session() › secure auto › Secure behind a trusted HTTPS proxy, and no throw over plain HTTP', async (t) => {
  const { client } = await serve(t, {}, (app) => { app.proxy = true; });
  await client.fetch('/inc', { headers: { 'x-forwarded-proto': 'https' } });
  t.is(client.lastCookies[0].attributes['secure'], true);
  const plain = new Client(client.base);
  const res = await plain.fetch('/inc');
  t.is(res.status, 200);
  t.false('secure' in plain.lastCookies[0].attributes);
});

test('session() › secure true › sets Secure even over plain HTTP instead of throwing', async (t) => {
  const { client } = await serve(t, { cookie: { secure: true, sameSite: 'strict', path: '/app', domain: 'example.test' } });
  const res = await client.fetch('/inc');
  t.is(res.status, 200);
  t.deepEqual(client.lastCookies[0].attributes, {
    'max-age': '3960', expires: client.lastCookies[0].attributes['expires'], path: '/app', domain: 'example.test', samesite: 'Strict', httponly: true, secure: true,
  });
});

test('session() › a session carries data across requests through the cookie', async (t) => {
  const { client } = await serve(t);
  t.deepEqual(await client.json('/inc'), { n: 1 });
  t.deepEqual(await client.json('/inc'), { n: 2 });
  t.is((await client.json('/read')).n, 2);
});

test('session() › lazy write › an unchanged session costs one read and one timestamp update', async (t) => {
  const { client, spy } = await serve(t);
  await client.fetch('/inc');
  spy.calls.length = 0;
  await client.fetch('/read');
  t.deepEqual(spy.calls.map((c) => c.split(':')[0]), ['lock', 'read', 'updateTimestamp']);
});

test('session() › idle expiry › a session idle past its lifetime is replaced by a fresh one', async (t) => {
  const { client } = await serve(t, { lifetime: 1 });
  await client.fetch('/inc');
  const old = client.jar.get('sid');
  await sleep(1300);
  const after = await client.json('/read');
  t.is(after.n, null);
  t.not(after.id, old);
});

test('session() › idle expiry › activity keeps a session alive past one lifetime', async (t) => {
  const { client } = await serve(t, { lifetime: 1 });
  await client.fetch('/inc');
  for (let i = 0; i < 3; i++) {
    await sleep(500);
    t.is((await client.json('/read')).n, 1);
  }
});

test('session() › absolute expiry › a session is replaced after absoluteLifetime however active', async (t) => {
  const events = new CountingEmitter();
  let expired = 0;
  events.on('session:expired', (e) => { if (e.reason === 'absolute') expired++; });
  const { client } = await serve(t, { lifetime: 60, absoluteLifetime: 1, events });
  await client.fetch('/inc');
  t.is(client.lastCookies[0].attributes['max-age'], '1', 'the cookie never outlives the absolute lifetime');
  await sleep(600);
  t.is((await client.json('/read')).n, 1);
  await sleep(600);
  t.is((await client.json('/read')).n, null);
  t.is(expired, 1);
});

test('session() › regenerateId › sends a new cookie; the old id no longer finds the data', async (t) => {
  const { client, url } = await serve(t);
  await client.fetch('/inc');
  const old = client.jar.get('sid')!;
  await client.fetch('/login');
  const fresh = client.jar.get('sid')!;
  t.not(fresh, old);
  t.is((await client.json('/read')).n, 1, 'the data moved with the session');
  const attacker = new Client(url);
  attacker.jar.set('sid', old);
  const seen = await attacker.json('/read');
  t.is(seen.n, null);
  t.not(seen.id, old);
});

test('session() › regenerateId › a request in flight with the old cookie cannot sign the user out', async (t) => {
  const events = new CountingEmitter();
  let inFlight: Promise<Response> | undefined;
  let oldCookie = '';
  const { client, url } = await serve(t, { events });
  // Fired while the sign-in request holds the old id's lock: it queues behind it.
  events.on('session:regenerated', () => { inFlight = fetch(`${url}/inc`, { headers: { cookie: oldCookie } }); });
  await client.fetch('/inc');
  oldCookie = `sid=${client.jar.get('sid')}`;
  await client.fetch('/login?delay=100');
  const late = await inFlight!;
  t.is(late.status, 200);
  t.deepEqual(late.headers.getSetCookie(), [], 'no cookie that would replace the signed-in one');
  const after = await client.json('/read');
  t.is(after.id, client.jar.get('sid'));
  t.is(after.n, 1);
});

test('session() › destroy › deletes the record and clears the cookie', async (t) => {
  const { client, store } = await serve(t);
  await client.fetch('/inc');
  const id = client.jar.get('sid')!;
  await client.fetch('/logout');
  t.is(client.lastCookies[0].name, 'sid');
  t.is(client.lastCookies[0].attributes['max-age'], '0');
  t.false(client.jar.has('sid'));
  t.is(await store.read(id), null);
});

test('session() › a stale cookie whose session is gone is cleared when nothing new is stored', async (t) => {
  const { client } = await serve(t);
  client.jar.set('sid', 'noSuchSessionAnywhere12345');
  await client.fetch('/read');
  t.is(client.lastCookies[0]?.attributes['max-age'], '0');
});

test('session() › hostile cookies › give a fresh session, never an error', async (t) => {
  const { client } = await serve(t);
  for (const value of ['..%2F..%2Fetc%2Fpasswd', '../../etc/passwd', 'a'.repeat(4000), '%00', '"quoted"', '{}']) {
    client.jar.clear();
    client.jar.set('sid', value);
    const res = await client.fetch('/inc');
    t.is(res.status, 200, value.slice(0, 20));
    t.regex(client.jar.get('sid')!, /^[a-zA-Z0-9,-]{32}$/);
  }
});

test('session() › commit › the data is stored before the response reaches the client', async (t) => {
  // A gate, not a time window: the write waits until the spec opens it, so a commit that is
  // not awaited lets the response through however long the wait.
  const slow = new MemoryAdapter();
  const write = slow.write.bind(slow);
  let writing!: () => void;
  let open!: () => void;
  const started = new Promise<void>((resolve) => { writing = resolve; });
  const gate = new Promise<void>((resolve) => { open = resolve; });
  let writtenAt = 0;
  slow.write = async (...args) => { writing(); await gate; const written = await write(...args); writtenAt = performance.now(); return written; };
  const { client } = await serve(t, { adapter: slow });
  let receivedAt = 0;
  const response = client.fetch('/inc').then((res) => { receivedAt = performance.now(); return res; });
  await started;
  t.is(await Promise.race([response.then(() => 'response'), sleep(1000).then(() => 'still held')]), 'still held', 'no response while the write is held');
  open();
  t.is((await response).status, 200);
  t.true(writtenAt > 0 && writtenAt <= receivedAt);
});

test('session() › commit › a flash set before a redirect is there on the next request, exactly once', async (t) => {
  const { client } = await serve(t);
  const res = await client.fetch('/flash');
  t.is(res.status, 302);
  t.is(await client.text('/show'), '<div class="successMessage">Saved &lt;b&gt;</div>\n');
  t.is(await client.text('/show'), '');
});

test('session() › ctx.persistent › is a Bag kept in the session', async (t) => {
  const { client } = await serve(t);
  await client.fetch('/cart?add=apple');
  t.deepEqual(await client.json('/cart?add=pear'), { items: ['apple', 'pear'] });
});

test('session() › a handler that throws › still commits, answers without a stack trace, and releases the lock', async (t) => {
  const { client, store } = await serve(t);
  await client.fetch('/inc');
  const res = await client.fetch('/throw');
  t.is(res.status, 500);
  const body = await res.text();
  t.false(body.includes('secret detail'));
  t.false(body.includes('at '));
  const raw = JSON.parse((await store.read(client.jar.get('sid')!))!);
  t.true(raw.d.beforeThrow);
  t.deepEqual(await client.json('/inc'), { n: 2 }, 'the next request is not blocked by a leftover lock');
});

test('session() › a handler that throws › a new session still gets its cookie (Koa drops headers on errors)', async (t) => {
  const { client, store } = await serve(t);
  const res = await client.fetch('/throw');
  t.is(res.status, 500);
  const id = client.jar.get('sid');
  t.truthy(id, 'the cookie survived the error response');
  t.true(JSON.parse((await store.read(id!))!).d.beforeThrow);
});

test('session() › a handler that throws › the error response that keeps the cookie is not publicly cacheable either', async (t) => {
  const { client } = await serve(t);
  const res = await client.fetch('/cached-throw');
  t.is(res.status, 404);
  t.truthy(client.jar.get('sid'), 'the cookie survived the error response');
  t.is(res.headers.get('cache-control'), 'no-store, no-cache, must-revalidate', "the error's own public Cache-Control is replaced");
  t.is(res.headers.get('pragma'), 'no-cache');
});

test('session() › a handler that throws after regenerateId() › the browser gets the new id, nothing is lost', async (t) => {
  const { client } = await serve(t);
  await client.fetch('/inc');
  const old = client.jar.get('sid');
  t.is((await client.fetch('/login-then-throw')).status, 500);
  t.not(client.jar.get('sid'), old);
  const after = await client.json('/read');
  t.is(after.n, 1, 'the data moved with the new id');
  t.is(after.id, client.jar.get('sid'));
});

test('session() › mounted twice › fails clearly instead of waiting for its own lock', async (t) => {
  const app = new Koa();
  app.silent = true;
  const errors: string[] = [];
  app.on('error', (err) => errors.push(err.code));
  app.use(session({ adapter: new MemoryAdapter(), gc: false }));
  app.use(session({ adapter: new MemoryAdapter(), gc: false }));
  app.use((ctx) => { ctx.body = 'ok'; });
  const server = await listen(app);
  t.teardown(() => server.close());
  const started = Date.now();
  t.is((await fetch(`${server.url}/`)).status, 500);
  t.true(Date.now() - started < 1000);
  t.deepEqual(errors, ['ERR_SESSION_MOUNTED_TWICE']);
});

test('session() › store down › answers 503 without a stack trace, quickly', async (t) => {
  const events = new CountingEmitter();
  const ops: string[] = [];
  events.on('session:storeError', (e) => ops.push(e.operation));
  const { client } = await serve(t, { adapter: new DownAdapter() as Adapter, events });
  client.jar.set('sid', 'anExistingSessionId1');
  const started = Date.now();
  const res = await client.fetch('/inc');
  t.is(res.status, 503);
  t.false((await res.text()).includes('ECONNREFUSED'));
  t.true(Date.now() - started < 1000);
  t.deepEqual(ops, ['read']);
});

test('session() › store fails on write › the response is 503, not a silent loss', async (t) => {
  const failing = new MemoryAdapter();
  failing.write = async () => { throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }); };
  const { client } = await serve(t, { adapter: failing });
  const res = await client.fetch('/inc');
  t.is(res.status, 503);
  t.false((await res.text()).includes('ENOSPC'));
});

test('session() › writeClose() in a handler › releases the lock so the next request need not wait for slow work', async (t) => {
  const { client } = await serve(t, { locking: { wait: 5 } });
  await client.fetch('/inc');
  const slow = client.fetch('/early?delay=600');
  await sleep(100);
  const started = Date.now();
  t.is((await client.json('/read')).n, 1);
  t.true(Date.now() - started < 400, 'the reader did not wait for the slow handler');
  t.deepEqual(await (await slow).json(), { early: true });
});

test('session() › events › can go to the Koa app (app.on("session:…"))', async (t) => {
  const app = new Koa();
  const seen: string[] = [];
  app.on('session:created', () => seen.push('created'));
  app.on('session:started', ({ context }) => seen.push(`started ${(context as Koa.Context).path}`));
  const { client } = await serve(t, { events: app });
  await client.fetch('/inc');
  t.deepEqual(seen, ['created', 'started /inc']);
});

test('session() › gc › runs in the background after a response at the configured probability', async (t) => {
  const { client, spy } = await serve(t, { gc: { probability: 1 }, lifetime: 77 });
  await client.fetch('/noop');
  await sleep(20);
  t.deepEqual(spy.calls.filter((c) => c.startsWith('gc')), ['gc:77']);
});

test('session() › gc › probability 0 never runs; an interval runs at most once per interval', async (t) => {
  const never = await serve(t, { gc: { probability: 0 } });
  for (let i = 0; i < 5; i++) await never.client.fetch('/noop');
  t.is(never.spy.count('gc'), 0);
  const interval = await serve(t, { gc: { interval: 0.2 } });
  for (let i = 0; i < 5; i++) await interval.client.fetch('/noop');
  t.is(interval.spy.count('gc'), 0);
  await sleep(250);
  await interval.client.fetch('/noop');
  await interval.client.fetch('/noop');
  t.is(interval.spy.count('gc'), 1);
});

const badOptions: Array<[string, SessionOptions]> = [
  ['adapter', { adapter: {} as Adapter }],
  ['name', { name: 'my.session' }],
  ['name', { name: '12345' }],
  ['name', { name: 'sessão' }],
  ['cookie.path', { cookie: { path: 'no-slash' } }],
  ['cookie.path', { cookie: { path: '/a;b' } }],
  ['cookie.domain', { cookie: { domain: 'bad domain' } }],
  ['cookie.sameSite', { cookie: { sameSite: 'sometimes' as 'lax' } }],
  ['cookie.sameSite', { cookie: { sameSite: 'none', secure: false } }],
  ['cookie.secure', { cookie: { secure: 'yes' as unknown as boolean } }],
  ['cookie.httpOnly', { cookie: { httpOnly: 'no' as unknown as boolean } }],
  ['lifetime', { lifetime: 0 }],
  ['lifetime', { lifetime: -5 }],
  ['lifetime', { lifetime: Number.NaN }],
  ['absoluteLifetime', { absoluteLifetime: -1 }],
  ['strict', { strict: 'yes' as unknown as boolean }],
  ['lazyWrite', { lazyWrite: 1 as unknown as boolean }],
  ['locking', { locking: 'on' as unknown as boolean }],
  ['locking.wait', { locking: { wait: -1 } }],
  ['locking.expiry', { locking: { expiry: 0 } }],
  ['gc', { gc: { probability: 2 } }],
  ['gc', { gc: { interval: 0 } }],
  ['uniqueId', { uniqueId: 5 as unknown as string }],
  ['serializer', { serializer: {} as never }],
  ['events', { events: {} as never }],
  ['persistentName', { persistentName: '' }],
];
for (const [option, options] of badOptions) {
  test(`session() › options › rejects a bad ${option} at construction, naming it (${JSON.stringify(options).slice(0, 40)})`, (t) => {
    const err = t.throws(() => session({ adapter: new MemoryAdapter(), ...options }), { code: 'ERR_SESSION_INVALID_OPTION' });
    t.is((err as Error & { option: string }).option, option);
    t.true(err!.message.includes(`"${option}"`));
  });
}

test('session() › options › a default directory another user could write is refused', (t) => {
  const root = tempDir(t);
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  try {
    const dir = join(root, `koa-session-manager-${process.getuid!()}`);
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    t.throws(() => session(), { code: 'ERR_SESSION_SAVE_PATH_UNAVAILABLE' });
    chmodSync(dir, 0o700);
    t.notThrows(() => session());
  } finally {
    // Synchronous from set to restore: no other spec of this file runs in between.
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
});

test('session() › options › the default adapter is a StreamAdapter in the temp directory', (t) => {
  const mw = session();
  t.true(mw.adapter instanceof StreamAdapter);
  t.is((mw.adapter as StreamAdapter).savePath, join(tmpdir(), `koa-session-manager-${process.getuid!()}`));
});

async function hammer(t: ExecutionContext, locking: boolean, count: number): Promise<number> {
  const { client } = await serve(t, { adapter: new StreamAdapter({ savePath: tempDir(t) }), locking: locking && { wait: 60 } });
  await client.fetch('/inc');
  const cookie = `sid=${client.jar.get('sid')}`;
  const responses = await Promise.all(Array.from({ length: count }, () => fetch(`${client.base}/inc?delay=1`, { headers: { cookie } })));
  t.true(responses.every((r) => r.status === 200));
  await Promise.all(responses.map((r) => r.arrayBuffer()));
  return (await client.json('/read')).n - 1;
}

test.serial('session() › concurrency › 200 concurrent increments of one session through the StreamAdapter end at exactly 200', async (t) => {
  t.is(await hammer(t, true, 200), 200);
});

test.serial('session() › concurrency › with locking off the same load loses updates (so the spec above can fail)', async (t) => {
  const n = await hammer(t, false, 200);
  t.log(`without locking: ${n} of 200 increments survived`);
  t.true(n < 200);
});
