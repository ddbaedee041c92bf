import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import type { LockHandle, WriteOptions } from '../../lib/adapters/Adapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { cookieSlack } from '../../lib/manager/storeCalls';
import { session } from '../../lib/koa/middleware';
import { sessionPolicy } from '../../lib/koa/policy';
import type { SessionOptions } from '../../lib/koa/options';
import { Client, listen } from '../helpers/http';

/**
 * The cookie rule (lib/manager/storeCalls.ts: the cookie rule, issue #17): the session cookie is sent again only
 * when due, and the browser's cookie never expires before the session in the store. A fake clock
 * walks one session through writes, unchanged requests and read-only requests; at each request
 * the spec computes when the browser's cookie expires (last Set-Cookie + its Max-Age) and when the
 * store's record does (the TTL the store was last given, from then), and asserts the first is
 * never earlier.
 */

/** A MemoryAdapter that notes when each write, touch and read-refresh happened and for how long. */
class ExpiryAdapter extends MemoryAdapter {
  expiresAt = 0;
  writes = 0;
  /** Like Redis: a read refreshes the TTL (then the Manager touches nothing itself). */
  readonly touchesOnRead: boolean;
  constructor(private readonly clock: () => number, touchesOnRead = false) {
    super();
    this.touchesOnRead = touchesOnRead;
  }
  override async read(id: string, lock?: LockHandle, ttl?: number): Promise<string | null> {
    const data = await super.read(id);
    if (data !== null && this.touchesOnRead && ttl) {
      this.expiresAt = this.clock() + ttl * 1000;
      await super.updateTimestamp(id, data, ttl);
    }
    return data;
  }
  override write(id: string, data: string, ttl: number, lock?: LockHandle, options?: WriteOptions): Promise<boolean> {
    this.writes++;
    this.expiresAt = this.clock() + ttl * 1000;
    return super.write(id, data, ttl, lock, options);
  }
  override updateTimestamp(id: string, data: string, ttl: number): Promise<boolean> {
    this.expiresAt = this.clock() + ttl * 1000;
    return super.updateTimestamp(id, data, ttl);
  }
}

/** The fake clock: Date.now() runs `offset` ms ahead while a test runs (serial tests only). */
const clock = { offset: 0 };
const realNow = Date.now;

async function serve(t: ExecutionContext, options: SessionOptions = {}, shared?: { adapter: ExpiryAdapter; client?: Client }) {
  Date.now = () => realNow() + clock.offset;
  t.teardown(() => { Date.now = realNow; clock.offset = 0; });
  const adapter = shared?.adapter ?? new ExpiryAdapter(() => Date.now());
  const app = new Koa();
  app.silent = true;
  app.use(session({ gc: false, lifetime: 100, start: 'lazy', ...options, adapter }));
  const readOnly = sessionPolicy({ readOnly: true });
  const writable = sessionPolicy();
  app.use((ctx, next) => (ctx.path.startsWith('/read-only') ? readOnly : writable)(ctx, next));
  app.use(async (ctx) => {
    if (ctx.path === '/inc' || ctx.path === '/raw-inc' || ctx.path === '/throw') ctx.session.set('n', ctx.session.get<number>('n', 0)! + 1);
    if (ctx.path === '/login') await ctx.session.regenerateId();
    if (ctx.path === '/raw-inc' || ctx.path === '/read-only-raw') {
      // The route answers by itself: the headers are out before the session commits.
      ctx.respond = false;
      ctx.res.statusCode = 200;
      ctx.res.end('raw');
      return;
    }
    if (ctx.path === '/throw') throw 'a bare string'; // an error that cannot carry headers
    ctx.body = String(ctx.session.get('n'));
  });
  const server = await listen(app);
  t.teardown(() => server.close());
  const client = new Client(server.url);
  if (shared?.client) (client as { jar: Map<string, string> }).jar = shared.client.jar;
  let cookieExpiresAt = 0;
  /** One request at `at` seconds on the fake clock: whether it sent the cookie. */
  const at = async (seconds: number, path: string): Promise<boolean> => {
    clock.offset = seconds * 1000;
    const response = await client.fetch(path);
    t.is(response.status, path === '/throw' ? 500 : 200, path);
    const cookie = client.lastCookies.find((c) => c.name === 'sid');
    // Only a cookie the browser got counts: a response ended by the route carries none.
    if (cookie !== undefined && !path.endsWith('raw') && path !== '/raw-inc') cookieExpiresAt = Date.now() + Number(cookie.attributes['max-age']) * 1000;
    t.true(cookieExpiresAt >= adapter.expiresAt, `at ${seconds} s (${path}): the cookie expires ${(adapter.expiresAt - cookieExpiresAt) / 1000} s before the session`);
    return cookie !== undefined;
  };
  return { at, adapter, client, expiresAt: () => cookieExpiresAt, setExpiresAt: (ms: number) => { cookieExpiresAt = ms; } };
}

test.serial('cookie rule › sent on the first write, then again only when it would expire within a lifetime and half a slack; never before the session', async (t) => {
  t.is(cookieSlack(100), 10);
  const { at, adapter } = await serve(t);
  t.true(await at(0, '/inc'), 'a new session sends its cookie (Max-Age 110)');
  t.false(await at(3, '/inc'), 'a write while the cookie outlives the session by more than half a slack does not');
  t.false(await at(4, '/touch'), 'nor an unchanged request');
  const writes = adapter.writes;
  t.true(await at(6, '/touch'), 'once it would expire within lifetime + half a slack, it is sent');
  t.is(adapter.writes, writes + 1, '…and the record stores its new expiry (one write instead of a touch)');
  t.false(await at(9, '/touch'));
  t.is(adapter.writes, writes + 1, 'then touches again');
  for (let s = 10; s < 300; s += 7) await at(s, s % 2 === 0 ? '/inc' : '/touch');
});

test.serial('cookie rule › a read-only request re-sends the cookie when due on a store whose reads refresh the TTL, storing nothing; elsewhere it sends none', async (t) => {
  const { at, adapter } = await serve(t, {}, { adapter: new ExpiryAdapter(() => Date.now(), true) });
  await at(0, '/inc');
  const writes = adapter.writes;
  t.false(await at(3, '/read-only'));
  t.true(await at(7, '/read-only'), 'due: sent, so a reader\'s cookie keeps up with its session');
  t.is(adapter.writes, writes, 'a read-only request stores nothing');
  for (let s = 8; s < 250; s += 9) await at(s, '/read-only');
  const plain = await serve(t);
  await plain.at(0, '/inc');
  t.false(await plain.at(30, '/read-only'), 'a store that does not refresh on read: nothing to keep up with');
});

test.serial('cookie rule › a read-only re-send is remembered: the next read-only requests do not send it again until it is due again', async (t) => {
  const first = await serve(t, {}, { adapter: new ExpiryAdapter(() => Date.now(), true) });
  const { at, adapter, client } = first;
  await at(0, '/inc');
  const writes = adapter.writes;
  t.true(await at(7, '/read-only'), 'due: sent (Max-Age 110: the cookie now expires at 117 s)');
  t.false(await at(8, '/read-only'), 'the record still holds the old expiry, but this process remembers the send');
  t.false(await at(11, '/read-only'), 'at 11 s the cookie outlives the store\'s new expiry (111 s) by more than half a slack: not due');
  t.true(await at(13, '/read-only'), 'at 13 s by less (4 s): due again');
  for (let s = 14; s < 250; s += 3) await at(s, '/read-only'); // (at() checks the cookie outlives the session at each step)
  t.is(adapter.writes, writes, 'read-only requests stored nothing');
  // Another process (another app over the same store) has no memory of those sends: it re-sends once.
  const other = await serve(t, {}, { adapter, client });
  other.setExpiresAt(first.expiresAt()); // (the browser holds what the first app sent)
  t.true(await other.at(260, '/read-only'), 'another process finds the record\'s expiry due and sends once');
  t.false(await other.at(261, '/read-only'), 'then remembers it too');
});

test.serial('cookie rule › a read-only re-send that never reached the browser is not remembered', async (t) => {
  const { at, expiresAt, setExpiresAt } = await serve(t, {}, { adapter: new ExpiryAdapter(() => Date.now(), true) });
  await at(0, '/inc');
  const held = expiresAt();
  t.false(await at(7, '/read-only-raw'), 'the route ended the response itself: no cookie reaches the browser');
  setExpiresAt(held);
  t.true(await at(8, '/read-only'), 'so the next read-only request is still due, and sends it');
  t.false(await at(9, '/read-only'));
  const before = expiresAt();
  await at(14, '/throw'); // due again; Koa's error response drops the cookie this one sends
  setExpiresAt(before);
  t.true(await at(15, '/read-only'), 'a cookie lost with an error response is not remembered either');
});

test.serial('cookie rule › a deploy that raises the lifetime re-sends the cookie at once: no active user is signed out', async (t) => {
  const before = await serve(t, { lifetime: 100 });
  await before.at(0, '/inc');
  const after = await serve(t, { lifetime: 2400 }, { adapter: before.adapter, client: before.client });
  after.setExpiresAt(before.expiresAt());
  t.true(await after.at(30, '/touch'), 'the cookie of Max-Age 110 would expire long before the session of 2400 s');
  for (let s = 60; s < 3000; s += 90) await after.at(s, '/touch');
});

test.serial('cookie rule › a send that never reached the browser is not counted: the next request sends again', async (t) => {
  const { at, expiresAt, setExpiresAt } = await serve(t);
  await at(0, '/inc');
  const held = expiresAt();
  t.false(await at(6, '/raw-inc'), 'the route ended the response itself: no cookie reaches the browser');
  setExpiresAt(held);
  t.true(await at(7, '/touch'), 'so the next request is still due');
  const before = expiresAt();
  await at(14, '/throw'); // Koa's error response drops every header: nothing reaches the browser
  setExpiresAt(before);
  t.true(await at(15, '/touch'), 'and after an error that could not carry it, again');
});

test.serial('cookie rule › a new id (sign-in) and a client without the cookie always get it', async (t) => {
  const { at, client } = await serve(t);
  await at(0, '/inc');
  t.true(await at(1, '/login'), 'regenerateId(): the new id is sent at once');
  client.jar.clear();
  t.true(await at(2, '/inc'), 'a client that lost its cookie gets a new session and its cookie');
});

test.serial('cookie rule › a writing response without the cookie still gets the cache headers of cacheLimiter', async (t) => {
  const { at, client } = await serve(t);
  await at(0, '/inc');
  const response = await client.fetch('/inc');
  t.deepEqual(response.headers.getSetCookie(), []);
  t.is(response.headers.get('cache-control'), 'no-store, no-cache, must-revalidate');
});
