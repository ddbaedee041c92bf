import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import Router from 'koa-router';
import { checkCsrfToken, csrf, csrfToken, CSRF_SESSION_KEY, InvalidCsrfToken } from '../../lib/csrf';
import { maskToken, unmaskToken } from '../../lib/csrf/token';
import { session } from '../../lib/koa/middleware';
import { sessionPolicy } from '../../lib/koa/policy';
import type { SessionOptions } from '../../lib/koa/options';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { InvalidOption, SessionModificationDenied } from '../../lib/errors';
import { SpyAdapter } from '../helpers/doubles';
import { Client, form, listen } from '../helpers/http';

type AppRouter = Router<Koa.DefaultState, Koa.Context>;

/**
 * An app with lazy sessions on a spied MemoryAdapter, koa-bodyparser (forms and JSON), and routes
 * that give the token, change the session under csrf(), and sign in (regenerateId). A refusal
 * answers 403 with its code and reason as JSON.
 */
async function serve(t: ExecutionContext, options: SessionOptions = {}, appWide = false) {
  const memory = new MemoryAdapter();
  const spy = new SpyAdapter(memory);
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof InvalidCsrfToken)) throw err;
      ctx.status = err.status;
      ctx.body = { code: err.code, reason: err.reason, message: err.message };
    }
  });
  app.use(session({ gc: false, start: 'lazy', ...options, adapter: spy }));
  app.use(bodyParser({ enableTypes: ['form', 'json'] }));
  if (appWide) app.use(csrf());
  const router: AppRouter = new Router();
  router.get('/token', sessionPolicy(), (ctx) => {
    ctx.body = { token: csrfToken(ctx), id: ctx.session.getId() };
  });
  router.get('/peek', sessionPolicy({ readOnly: true }), (ctx) => {
    ctx.body = { n: ctx.session.get('n') ?? 0, hasToken: ctx.session.has(CSRF_SESSION_KEY), valid: checkCsrfToken(ctx) };
  });
  router.get('/read-only-token', sessionPolicy({ readOnly: true }), (ctx) => {
    ctx.body = { token: csrfToken(ctx) };
  });
  for (const method of ['post', 'put', 'patch', 'delete'] as const) {
    router[method]('/change', sessionPolicy(), csrf(), (ctx) => {
      ctx.session.set('n', (ctx.session.get<number>('n') ?? 0) + 1);
      ctx.body = { n: ctx.session.get('n') };
    });
  }
  router.post('/signin', sessionPolicy(), csrf(), async (ctx) => {
    await ctx.session.regenerateId();
    ctx.session.set('user', 'ann');
    ctx.body = { id: ctx.session.getId() };
  });
  router.all('/open', (ctx) => {
    ctx.body = { started: ctx.session.exists() };
  });
  app.use(router.routes());
  const http = await listen(app);
  t.teardown(() => http.close());
  return { spy, memory, client: new Client(http.url), url: http.url };
}

async function tokenOf(client: Client): Promise<string> {
  return (await client.json<{ token: string }>('/token')).token;
}

const header = (token: string, method = 'POST'): RequestInit => ({ method, headers: { 'x-csrf-token': token } });

test('the token is made on first use, stored once, and not written again on later requests', async (t) => {
  const { client, spy } = await serve(t);
  const first = await tokenOf(client);
  t.is(spy.count('write'), 1, 'the first use stores the token');
  t.regex(first, /^[A-Za-z0-9_-]{86}$/);
  spy.calls.length = 0;
  const again = await tokenOf(client);
  const third = await tokenOf(client);
  t.is(spy.count('write'), 0, 'later requests only read it (a timestamp update at most)');
  t.not(first, again, 'masked afresh for every response');
  t.not(again, third);
  t.deepEqual(unmaskToken(first), unmaskToken(again), 'the same token under different pads');
  for (const token of [first, again, third]) t.is((await client.fetch('/change', header(token))).status, 200);
  t.deepEqual(await client.json('/peek'), { n: 3, hasToken: true, valid: false });
});

test('a session that never asks for a token costs nothing: no token, no write, no cookie', async (t) => {
  const { client, spy } = await serve(t);
  const refused = await client.fetch('/change', header(maskToken(Buffer.alloc(32, 7))));
  t.is(refused.status, 403);
  t.like(await refused.json(), { code: 'ERR_CSRF_TOKEN_INVALID', reason: 'no-token' });
  t.is(spy.count('write'), 0);
  t.deepEqual(client.lastCookies, []);
  t.is((await client.fetch('/open')).status, 200);
  t.deepEqual(client.lastCookies, []);
});

test('the header and the form field both carry it; a JSON body field too', async (t) => {
  const { client } = await serve(t);
  t.is((await client.fetch('/change', header(await tokenOf(client)))).status, 200);
  t.is((await client.fetch('/change', form({ _csrf: await tokenOf(client) }))).status, 200);
  const json = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ _csrf: await tokenOf(client) }) };
  t.is((await client.fetch('/change', json)).status, 200);
  for (const method of ['PUT', 'PATCH', 'DELETE']) t.is((await client.fetch('/change', header(await tokenOf(client), method))).status, 200, method);
  t.like(await client.json('/peek'), { n: 6 });
});

test('refusals: missing, wrong length, garbage, tampered, another session\'s, repeated → 403 with the code; the session untouched', async (t) => {
  const { client, spy, url } = await serve(t);
  const mine = await tokenOf(client);
  const other = new Client(url);
  const theirs = await tokenOf(other);
  const tampered = mine.slice(0, 50) + (mine[50] === 'A' ? 'B' : 'A') + mine.slice(51);
  const cases: Array<[string, RequestInit, string]> = [
    ['no token', { method: 'POST' }, 'missing'],
    ['an empty field', form({ _csrf: '' }), 'missing'],
    ['an empty form', form({}), 'missing'],
    ['one character short', header(mine.slice(1)), 'malformed'],
    ['one character more', header(mine + 'A'), 'malformed'],
    ['the raw 32-byte token', header(Buffer.alloc(32, 1).toString('base64url')), 'malformed'],
    ['garbage of the right length', header('!'.repeat(86)), 'malformed'],
    ['standard base64 of the right length', header('+/' + mine.slice(2)), 'malformed'],
    ['garbage', form({ _csrf: '<script>alert(1)</script>' }), 'malformed'],
    ['the field twice', { ...form({}), body: `_csrf=${mine}&_csrf=${mine}` }, 'malformed'],
    ['a tampered token', header(tampered), 'mismatch'],
    ["another session's token", header(theirs), 'mismatch'],
    ['a token masked with all zeros', header(Buffer.alloc(64).toString('base64url')), 'mismatch'],
  ];
  spy.calls.length = 0;
  for (const [what, init, reason] of cases) {
    const response = await client.fetch('/change', init);
    t.is(response.status, 403, what);
    t.like(await response.json(), { code: 'ERR_CSRF_TOKEN_INVALID', reason }, what);
  }
  t.is(spy.count('write'), 0, 'nothing written');
  t.deepEqual(await client.json('/peek'), { n: 0, hasToken: true, valid: false });
  t.is((await client.fetch('/change', header(mine))).status, 200, 'the real token still works');
  t.is((await other.fetch('/change', header(theirs))).status, 200, 'and so does the other session\'s, in its own session');
});

test('a missing or malformed token is refused before csrf() reads the session', async (t) => {
  // App-wide with the lazy start: nothing started the session before csrf() (a route's
  // sessionPolicy() before it would have read it already).
  const { client, spy } = await serve(t, {}, true);
  await tokenOf(client);
  spy.calls.length = 0;
  t.is((await client.fetch('/open', { method: 'POST' })).status, 403);
  t.is((await client.fetch('/open', header('x'))).status, 403);
  t.deepEqual(spy.calls, []);
});

test('safe methods are never checked (and csrf() starts no session for them)', async (t) => {
  const { client, spy } = await serve(t, {}, true);
  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    const response = await client.fetch('/open', { method });
    t.is(response.status, 200, method);
  }
  t.deepEqual(spy.calls, []);
  t.is((await client.fetch('/open', { method: 'POST' })).status, 403, 'app-wide: every other method is');
  t.is((await client.fetch('/open', header(await tokenOf(client)))).status, 200);
});

test('regenerateId() gives a new token; the one from before it is refused', async (t) => {
  const { client } = await serve(t);
  const before = await tokenOf(client);
  const { id } = await client.json<{ id: string }>('/signin', header(before));
  const after = await client.json<{ token: string; id: string }>('/token');
  t.is(after.id, id);
  t.notDeepEqual(unmaskToken(after.token), unmaskToken(before));
  const refused = await client.fetch('/change', header(before));
  t.is(refused.status, 403);
  t.like(await refused.json(), { reason: 'mismatch' });
  t.is((await client.fetch('/change', header(after.token))).status, 200);
});

test('between regenerateId() and the next token the session holds none that counts', async (t) => {
  const { client } = await serve(t);
  const before = await tokenOf(client);
  await client.json('/signin', header(before));
  const refused = await client.fetch('/change', header(before));
  t.like(await refused.json(), { reason: 'no-token' }, "the stored token was made for the old id");
  t.false((await client.json<{ valid: boolean }>('/peek')).valid);
});

test('a read-only route cannot make the token (it would be a write), but reads an existing one', async (t) => {
  const { client } = await serve(t);
  t.is((await client.fetch('/read-only-token')).status, 500, 'SessionModificationDenied');
  await tokenOf(client);
  const token = (await client.json<{ token: string }>('/read-only-token')).token;
  t.is((await client.fetch('/change', header(token))).status, 200);
});

test('with the eager start, csrf() app-wide checks every unsafe request', async (t) => {
  const { client } = await serve(t, { start: 'eager' }, true);
  t.is((await client.fetch('/open', { method: 'POST' })).status, 403);
  const token = await tokenOf(client);
  t.deepEqual(await client.json('/open', header(token)), { started: true });
  t.is((await client.fetch('/change', header(token))).status, 200, 'checked twice, by the app and the route');
});

test('options are closed and checked', (t) => {
  t.throws(() => csrf({ cookie: true } as never), { instanceOf: InvalidOption, message: /csrf\.cookie.*session/ });
  t.throws(() => csrf({ feild: 'x' } as never), { instanceOf: InvalidOption, message: /did you mean "field"/ });
  t.throws(() => csrf({ field: '' }), { instanceOf: InvalidOption });
  t.throws(() => csrf({ header: 'bad header' }), { instanceOf: InvalidOption });
  t.throws(() => csrf({ ignoreMethods: ['GET', 'post'] }), { instanceOf: InvalidOption, message: /POST changes state/ });
  t.notThrows(() => csrf({ field: 'token', header: 'X-XSRF-Token', ignoreMethods: ['GET', 'HEAD', 'OPTIONS', 'TRACE'] }));
});

test('custom field and header names', async (t) => {
  const app = new Koa();
  app.silent = true;
  app.use(session({ gc: false, adapter: new MemoryAdapter() }));
  app.use(bodyParser());
  app.use(csrf({ field: 'authenticity_token', header: 'X-XSRF-Token' }));
  app.use((ctx) => { ctx.body = ctx.method === 'GET' ? csrfToken(ctx) : 'ok'; });
  const http = await listen(app);
  t.teardown(() => http.close());
  const client = new Client(http.url);
  const token = await client.text('/');
  t.is((await client.fetch('/', form({ authenticity_token: token }))).status, 200);
  t.is((await client.fetch('/', { method: 'POST', headers: { 'x-xsrf-token': token } })).status, 200);
  t.is((await client.fetch('/', form({ _csrf: token }))).status, 403);
  t.is((await client.fetch('/', header(token))).status, 403);
});

test('masking: pad ‖ (token XOR pad), fresh pads, and unmasking never throws', (t) => {
  const token = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const masked = maskToken(token);
    seen.add(masked);
    const bytes = Buffer.from(masked, 'base64url');
    t.is(bytes.length, 64);
    t.deepEqual(Buffer.from(bytes.subarray(0, 32).map((b, j) => b ^ bytes[32 + j]!)), token);
    t.deepEqual(unmaskToken(masked), token);
  }
  t.is(seen.size, 50);
  for (const bad of [undefined, null, 42, {}, ['a'], '', 'a'.repeat(85), 'a'.repeat(87), '=' + 'a'.repeat(85), 'é'.repeat(86)]) {
    t.is(unmaskToken(bad), undefined, String(bad));
  }
});

test('the refusal is a SessionError with status 403, exposed, naming no token', (t) => {
  const err = new InvalidCsrfToken('mismatch');
  t.is(err.status, 403);
  t.true(err.expose);
  t.is(err.code, 'ERR_CSRF_TOKEN_INVALID');
  t.is(err.name, 'InvalidCsrfToken');
  t.regex(new InvalidCsrfToken('missing').message, /X-CSRF-Token/);
  t.true(new SessionModificationDenied() instanceof Error);
});
