import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import type { LockHandle, WriteOptions } from '../../lib/adapters/Adapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { InvalidOption } from '../../lib/errors';
import { readCookie } from '../../lib/koa/cookie';
import { session } from '../../lib/koa/middleware';
import type { SessionOptions } from '../../lib/koa/options';
import { Client, listen } from '../helpers/http';

/** A MemoryAdapter that records the TTL of every write and timestamp update. */
class TtlAdapter extends MemoryAdapter {
  readonly ttls: number[] = [];
  override write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    this.ttls.push(ttl);
    return super.write(id, data, ttl, lock, options);
  }
  override updateTimestamp(id: string, data: string, ttl: number): Promise<boolean> {
    this.ttls.push(ttl);
    return super.updateTimestamp(id, data, ttl);
  }
}

const PUBLIC = 'public, max-age=600';

/** An app whose routes all say `Cache-Control: public, max-age=600`, then use the session or not. */
async function serve(t: ExecutionContext, options: SessionOptions = {}) {
  const adapter = new TtlAdapter();
  const app = new Koa();
  app.silent = true;
  app.use(session({ gc: false, ...options, adapter }));
  app.use(async (ctx) => {
    ctx.set('Cache-Control', PUBLIC);
    if (ctx.path === '/write') ctx.session.set('n', 1);
    if (ctx.path === '/logout') await ctx.session.destroy();
    ctx.body = 'ok';
  });
  const server = await listen(app);
  t.teardown(() => server.close());
  return { adapter, client: new Client(server.url) };
}

function cacheHeaders(res: Response): Record<string, string | null> {
  return { 'cache-control': res.headers.get('cache-control'), pragma: res.headers.get('pragma'), expires: res.headers.get('expires') };
}

const NOCACHE = { 'cache-control': 'no-store, no-cache, must-revalidate', pragma: 'no-cache', expires: 'Thu, 19 Nov 1981 08:52:00 GMT' };

test('KoaTransport › cacheLimiter nocache (default) › a response that sets the cookie is not cacheable, whatever the route said', async (t) => {
  const { client } = await serve(t);
  const res = await client.fetch('/write');
  t.is(client.lastCookies[0]?.name, 'sid');
  t.deepEqual(cacheHeaders(res), NOCACHE);
});

test.serial('KoaTransport › cacheLimiter nocache › the cookie refreshed on a later request gets the headers as well', async (t) => {
  const { client } = await serve(t);
  await client.fetch('/write');
  // A tenth of the lifetime later the cookie is due again (the cookie rule, lib/manager/storeCalls.ts).
  const now = Date.now;
  Date.now = () => now() + 361_000;
  t.teardown(() => { Date.now = now; });
  const res = await client.fetch('/read');
  t.is(client.lastCookies[0]?.name, 'sid', 'a touched session sends its cookie again');
  t.deepEqual(cacheHeaders(res), NOCACHE);
});

test('KoaTransport › the session cookie goes out beside the route\'s own cookies, set before or after the commit', async (t) => {
  const app = new Koa();
  app.silent = true;
  app.use(session({ gc: false, adapter: new MemoryAdapter() }));
  app.use(async (ctx) => {
    if (ctx.path === '/before') ctx.cookies.set('lang', 'fr', { signed: false });
    ctx.session.set('n', 1);
    if (ctx.path === '/after') {
      await ctx.session.writeClose(); // the session's Set-Cookie first (one cookie: a string for Node)
      ctx.cookies.set('lang', 'fr', { signed: false });
      ctx.append('Set-Cookie', 'theme=dark; Path=/');
    }
    ctx.body = 'ok';
  });
  const server = await listen(app);
  t.teardown(() => server.close());
  for (const [path, names] of [['/before', ['lang', 'sid']], ['/after', ['sid', 'lang', 'theme']]] as const) {
    const client = new Client(server.url);
    await client.fetch(path);
    t.deepEqual(client.lastCookies.map((c) => c.name), [...names], path);
  }
});

test('KoaTransport › cacheLimiter nocache › a response that clears the cookie is not cacheable', async (t) => {
  const { client } = await serve(t);
  await client.fetch('/write');
  const res = await client.fetch('/logout');
  t.is(client.lastCookies[0]?.attributes['max-age'], '0');
  t.deepEqual(cacheHeaders(res), NOCACHE);
});

test('KoaTransport › a response that neither sets nor clears the cookie keeps the route\'s headers', async (t) => {
  const { client } = await serve(t);
  const res = await client.fetch('/read');
  t.deepEqual(res.headers.getSetCookie(), []);
  t.deepEqual(cacheHeaders(res), { 'cache-control': PUBLIC, pragma: null, expires: null });
});

test('KoaTransport › cacheLimiter private › private max-age=cacheExpire and an Expires in the past, as PHP', async (t) => {
  const { client } = await serve(t, { cacheLimiter: 'private' });
  t.deepEqual(cacheHeaders(await client.fetch('/write')), { 'cache-control': 'private, max-age=10800', pragma: null, expires: 'Thu, 19 Nov 1981 08:52:00 GMT' });
});

test('KoaTransport › cacheLimiter private_no_expire › the Cache-Control only, with cacheExpire', async (t) => {
  const { client } = await serve(t, { cacheLimiter: 'private_no_expire', cacheExpire: 60 });
  t.deepEqual(cacheHeaders(await client.fetch('/write')), { 'cache-control': 'private, max-age=60', pragma: null, expires: null });
});

test('KoaTransport › cacheLimiter \'\' › sends nothing: the route\'s headers stay', async (t) => {
  const { client } = await serve(t, { cacheLimiter: '' });
  const res = await client.fetch('/write');
  t.is(client.lastCookies[0]?.name, 'sid');
  t.deepEqual(cacheHeaders(res), { 'cache-control': PUBLIC, pragma: null, expires: null });
});

test('KoaTransport › browserSession › the cookie has no Max-Age or Expires; the store keeps the idle lifetime', async (t) => {
  const { client, adapter } = await serve(t, { lifetime: 900, cookie: { browserSession: true } });
  await client.fetch('/write');
  t.is(client.lastCookies.length, 1);
  const [cookie] = client.lastCookies;
  await client.fetch('/read');
  t.is(client.lastCookies.length, 0, 'the browser still holds it: not sent again');
  t.is(cookie.name, 'sid');
  t.false('max-age' in cookie.attributes);
  t.false('expires' in cookie.attributes);
  t.like(cookie.attributes, { path: '/', httponly: true, samesite: 'Lax' });
  t.deepEqual(adapter.ttls, [900, 900]);
});

test('KoaTransport › browserSession › clearing the cookie still expires it', async (t) => {
  const { client } = await serve(t, { cookie: { browserSession: true } });
  await client.fetch('/write');
  await client.fetch('/logout');
  t.is(client.lastCookies[0]?.attributes['max-age'], '0');
  t.false(client.jar.has('sid'));
});

/** The InvalidOption session(options) throws. */
function refusal(t: ExecutionContext, options: SessionOptions): InvalidOption {
  return t.throws(() => session({ adapter: new MemoryAdapter(), ...options }), { instanceOf: InvalidOption }) as InvalidOption;
}

test('cookie rules › sameSite none needs secure true: \'auto\' (the default) is refused', (t) => {
  for (const cookie of [{ sameSite: 'none' as const }, { sameSite: 'none' as const, secure: 'auto' as const }]) {
    const err = refusal(t, { cookie });
    t.is(err.option, 'cookie.sameSite');
    t.regex(err.message, /cookie\.secure: true/);
  }
  t.notThrows(() => session({ adapter: new MemoryAdapter(), cookie: { sameSite: 'none', secure: true } }));
});

test('cookie rules › a __Host- name needs secure true, path / and no domain', (t) => {
  const name = '__Host-sid';
  t.is(refusal(t, { name }).option, 'cookie.secure');
  t.regex(refusal(t, { name, cookie: { secure: 'auto' } }).message, /__Host-sid.*Secure/);
  t.is(refusal(t, { name, cookie: { secure: true, path: '/app' } }).option, 'cookie.path');
  t.is(refusal(t, { name, cookie: { secure: true, domain: 'example.test' } }).option, 'cookie.domain');
  t.notThrows(() => session({ adapter: new MemoryAdapter(), name, cookie: { secure: true } }));
});

test('cookie rules › a __Secure- name needs secure true (path and domain are free)', (t) => {
  const err = refusal(t, { name: '__Secure-sid', cookie: { secure: false } });
  t.is(err.option, 'cookie.secure');
  t.regex(err.message, /__Secure-sid/);
  t.notThrows(() => session({ adapter: new MemoryAdapter(), name: '__Secure-sid', cookie: { secure: true, path: '/app', domain: 'example.test' } }));
});

test('cookie rules › the prefixes bind whatever their case, as browsers match them', (t) => {
  t.is(refusal(t, { name: '__host-sid', cookie: { secure: true, path: '/app' } }).option, 'cookie.path');
  t.is(refusal(t, { name: '__SECURE-sid' }).option, 'cookie.secure');
});

test('cookie rules › browserSession must be a boolean', (t) => {
  t.is(refusal(t, { cookie: { browserSession: 'yes' as unknown as boolean } }).option, 'cookie.browserSession');
});

test('readCookie › finds the cookie after others, and not inside another cookie\'s name or value', (t) => {
  t.is(readCookie('theme=dark; sid=abc123', 'sid'), 'abc123');
  t.is(readCookie('a=1;sid=first; sid=second', 'sid'), 'first', 'the first of two, as browsers send the most specific path first');
  t.is(readCookie('xsid=evil; sid=good', 'sid'), 'good', 'a name that ends with ours is another cookie');
  t.is(readCookie('note=sid=evil; sid=good', 'sid'), 'good', 'a value that holds "sid=" is not our cookie');
  t.is(readCookie('theme=dark', 'sid'), undefined);
  t.is(readCookie(undefined, 'sid'), undefined);
});
