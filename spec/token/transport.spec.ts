import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { Body, Get, JsonController, Post, useKoaServer } from 'routing-controllers';
import { FlashSession, Persistent, Session, SessionPolicy } from '../../lib/decorators';
import { session } from '../../lib/koa/middleware';
import type { Bag } from '../../lib/Bag';
import type { Flash } from '../../lib/Flash';
import type { Manager } from '../../lib/Manager';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { TokenStore, type TokenStoreOptions } from '../../lib/token';
import { listen } from '../helpers/http';
import { claimsOf, KEYS, serveTokens } from '../helpers/tokenApp';

test('bearer: a client without a token gets one in the Session-Token header, no cookie; it sends it back as Authorization: Bearer', async (t) => {
  const { url } = await serveTokens(t, { transport: 'bearer' });
  const first = await fetch(`${url}/inc`);
  t.deepEqual(first.headers.getSetCookie(), []);
  const token = first.headers.get('session-token')!;
  t.is(token.split('.').length, 3);
  t.is(first.headers.get('cache-control'), 'no-store, no-cache, must-revalidate', 'a response with a token is never cached by a shared cache');
  const second = await fetch(`${url}/inc`, { headers: { authorization: `Bearer ${token}` } });
  t.like(await second.json(), { n: 2 });
  const renewed = second.headers.get('session-token')!;
  t.not(renewed, token);
  t.is(claimsOf(renewed).jti, claimsOf(token).jti);
  // The scheme is case-insensitive (RFC 7235); another scheme is no token.
  t.like(await (await fetch(`${url}/inc`, { headers: { authorization: `bearer ${renewed}` } })).json(), { n: 3 });
  t.like(await (await fetch(`${url}/inc`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } })).json(), { n: 1 });
});

test('bearer: a read within the touch slack sends no header; logout answers an empty Session-Token; a cookie is not read', async (t) => {
  const { url } = await serveTokens(t, { transport: 'bearer' });
  const token = (await fetch(`${url}/inc`)).headers.get('session-token')!;
  const read = await fetch(`${url}/read`, { headers: { authorization: `Bearer ${token}` } });
  t.like(await read.json(), { n: 1 });
  t.is(read.headers.get('session-token'), null);
  const out = await fetch(`${url}/logout`, { headers: { authorization: `Bearer ${token}` } });
  t.is(out.headers.get('session-token'), '');
  t.like(await (await fetch(`${url}/read`, { headers: { cookie: `sid=${token}` } })).json(), { n: 0 });
});

test('bearer: the configured header name and size limit; a token over the limit is refused, a session that would need one is a coded error', async (t) => {
  const { url, events } = await serveTokens(t, { transport: 'bearer', header: 'X-Renewed-Token', maxTokenSize: 1024 });
  const first = await fetch(`${url}/put?size=100`);
  const token = first.headers.get('x-renewed-token')!;
  t.truthy(token);
  const big = await fetch(`${url}/put?size=2000`, { headers: { authorization: `Bearer ${token}` } });
  t.is(big.status, 500);
  t.deepEqual(await big.json(), { error: 'ERR_SESSION_TOKEN_TOO_LARGE' });
  t.is(big.headers.get('x-renewed-token'), null, 'nothing sent: the client keeps its token');
  t.like(await (await fetch(`${url}/inc`, { headers: { authorization: `Bearer ${token}` } })).json(), { n: 1 });
  const oversized = `${token}${'A'.repeat(1024)}`;
  await fetch(`${url}/inc`, { headers: { authorization: `Bearer ${oversized}` } });
  t.like(events.find((e) => e.event === 'session:invalid'), { cause: 'tooLarge' });
});

test('cookie: a session that would need a token over 4096 bytes (with the name) fails with a coded error and sends nothing', async (t) => {
  const { client, events } = await serveTokens(t);
  await client.fetch('/put?size=100');
  const token = client.jar.get('sid')!;
  const response = await client.fetch('/put?size=4000');
  t.is(response.status, 500);
  t.deepEqual(await response.json(), { error: 'ERR_SESSION_TOKEN_TOO_LARGE' });
  t.deepEqual(client.lastCookies, []);
  t.is(client.jar.get('sid'), token);
  t.deepEqual(events.filter((e) => e.event === 'session:storeError'), [], 'a session too large for a cookie is no store failure');
});

test("bearer: a route that throws after a sign-in still hands over the new token (Koa's error response keeps the header)", async (t) => {
  const app = new Koa();
  app.silent = true;
  app.use(session({ gc: false, adapter: new TokenStore({ keys: KEYS, transport: 'bearer', revocation: new MemoryAdapter() }) }));
  app.use(async (ctx) => {
    ctx.session.set('n', ctx.session.get<number>('n', 0)! + 1);
    if (ctx.path === '/login-then-fail') {
      await ctx.session.regenerateId();
      ctx.session.set('user', 'max');
      ctx.throw(409, 'conflict after sign-in');
    }
    ctx.body = { n: ctx.session.get('n'), user: ctx.session.get('user') };
  });
  const http = await listen(app);
  t.teardown(() => http.close());
  const first = (await fetch(`${http.url}/`)).headers.get('session-token')!;
  const failed = await fetch(`${http.url}/login-then-fail`, { headers: { authorization: `Bearer ${first}` } });
  t.is(failed.status, 409);
  const token = failed.headers.get('session-token');
  t.truthy(token, 'the signed-in token survives the error response');
  t.is(failed.headers.get('cache-control'), 'no-store, no-cache, must-revalidate');
  t.like(await (await fetch(`${http.url}/`, { headers: { authorization: `Bearer ${token}` } })).json(), { user: 'max', n: 3 });
});

@JsonController('/tokens')
class TokenController {
  @Post('/visit')
  visit(@Session() s: Manager, @Persistent() bag: Bag) {
    s.set('visits', s.get<number>('visits', 0)! + 1);
    bag.set('last', 'visit');
    return { visits: s.get('visits'), id: s.getId() };
  }

  @Get('/visits')
  @SessionPolicy({ readOnly: true })
  show(@Session() s: Manager, @Persistent() bag: Bag) {
    return { visits: s.get('visits', 0), last: bag.get('last') ?? null };
  }

  @Post('/note')
  note(@FlashSession() flash: Flash, @Body() body: { text: string }) {
    flash.notice(body.text);
    return { ok: true };
  }

  @Get('/notes')
  notes(@FlashSession() flash: Flash) {
    return flash.getMessages();
  }

  @Post('/login')
  async login(@Session() s: Manager) {
    await s.regenerateId();
    s.set('user', 'ivy');
    return { id: s.getId() };
  }
}

async function serveControllers(t: ExecutionContext, options: Partial<TokenStoreOptions>) {
  const app = new Koa();
  app.silent = true;
  app.use(session({ gc: false, start: 'lazy', adapter: new TokenStore({ keys: KEYS, ...options }) }));
  useKoaServer(app, { controllers: [TokenController], development: false, classTransformer: false, validation: false });
  const http = await listen(app);
  t.teardown(() => http.close());
  return http.url;
}

for (const transport of ['cookie', 'bearer'] as const) {
  test(`decorators over ${transport} tokens: @Session, @Persistent, @FlashSession, @SessionPolicy and regenerateId()`, async (t) => {
    const url = await serveControllers(t, { transport });
    let credential = '';
    const call = async (path: string, init: RequestInit = {}): Promise<any> => {
      const headers = new Headers(init.headers);
      if (credential) headers.set(transport === 'cookie' ? 'cookie' : 'authorization', transport === 'cookie' ? `sid=${credential}` : `Bearer ${credential}`);
      const response = await fetch(url + path, { ...init, headers });
      const renewed = transport === 'cookie' ? response.headers.getSetCookie()[0]?.split(';')[0]?.slice(4) : response.headers.get('session-token');
      if (renewed) credential = renewed;
      return response.json();
    };
    const first = await call('/tokens/visit', { method: 'POST' });
    const second = await call('/tokens/visit', { method: 'POST' });
    t.deepEqual(second, { visits: 2, id: first.id });
    t.deepEqual(await call('/tokens/visits'), { visits: 2, last: 'visit' });
    await call('/tokens/note', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'hello' }) });
    t.deepEqual(await call('/tokens/notes'), { notice: ['hello'] });
    t.deepEqual(await call('/tokens/notes'), {});
    const login = await call('/tokens/login', { method: 'POST' });
    t.not(login.id, first.id);
    t.is(claimsOf(credential).jti, login.id);
    t.is(claimsOf(credential).d.user, 'ivy');
    t.deepEqual(await call('/tokens/visits'), { visits: 2, last: 'visit' });
  });
}

test('the session() options a token session cannot honour are refused when the middleware is made', (t) => {
  const adapter = new TokenStore({ keys: KEYS });
  t.throws(() => session({ adapter, locking: true }), { code: 'ERR_SESSION_INVALID_OPTION', message: /locking.*nothing to lock.*last-writer-wins/s });
  t.throws(() => session({ adapter, locking: { wait: 2 } }), { message: /locking/ });
  t.throws(() => session({ adapter, serializer: { parse: JSON.parse, stringify: JSON.stringify } }), { message: /serializer/ });
  t.throws(() => session({ adapter, name: 'n'.repeat(65) }), { message: /name/ });
  t.notThrows(() => session({ adapter, locking: false }));
  t.throws(() => session({ adapter: new TokenStore({ keys: KEYS, touchSlack: 60 }), lifetime: 60 }), { message: /touchSlack.*shorter than the lifetime/ });
  t.notThrows(() => session({ adapter: new TokenStore({ keys: KEYS, touchSlack: 59 }), lifetime: 60 }));
  t.throws(() => session({ adapter: new TokenStore({ keys: KEYS, transport: 'bearer' }), cookie: { sameSite: 'strict' } }), { message: /cookie.*bearer.*sends no cookie/ });
  // A store adapter is untouched by these rules.
  t.notThrows(() => session({ adapter: new MemoryAdapter(), locking: true }));
});
