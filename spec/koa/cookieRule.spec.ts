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
  constructor(private readonly clock: () => number) { super(); }
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

async function serve(t: ExecutionContext, options: SessionOptions = {}) {
  const real = Date.now;
  let offset = 0;
  Date.now = () => real() + offset;
  t.teardown(() => { Date.now = real; });
  const adapter = new ExpiryAdapter(() => Date.now());
  const app = new Koa();
  app.use(session({ gc: false, lifetime: 100, start: 'lazy', ...options, adapter }));
  const readOnly = sessionPolicy({ readOnly: true });
  const writable = sessionPolicy();
  app.use((ctx, next) => (ctx.path === '/read-only' ? readOnly : writable)(ctx, next));
  app.use(async (ctx) => {
    if (ctx.path === '/inc') ctx.session.set('n', ctx.session.get<number>('n', 0)! + 1);
    if (ctx.path === '/login') await ctx.session.regenerateId();
    ctx.body = String(ctx.session.get('n'));
  });
  const server = await listen(app);
  t.teardown(() => server.close());
  const client = new Client(server.url);
  let cookieExpiresAt = 0;
  /** One request at `at` seconds on the fake clock: whether it sent the cookie. */
  const at = async (seconds: number, path: string): Promise<boolean> => {
    offset = seconds * 1000;
    const response = await client.fetch(path);
    t.is(response.status, 200, path);
    const cookie = client.lastCookies.find((c) => c.name === 'sid');
    if (cookie !== undefined) cookieExpiresAt = Date.now() + Number(cookie.attributes['max-age']) * 1000;
    t.true(cookieExpiresAt >= adapter.expiresAt, `at ${seconds} s (${path}): the cookie expires ${(adapter.expiresAt - cookieExpiresAt) / 1000} s before the session`);
    return cookie !== undefined;
  };
  return { at, adapter, client };
}

test.serial('cookie rule › sent on the first write, then only a slack (a tenth of the lifetime) after the last send; never expiring before the session', async (t) => {
  t.is(cookieSlack(100), 10);
  const { at, adapter } = await serve(t);
  t.true(await at(0, '/inc'), 'a new session sends its cookie');
  t.false(await at(3, '/inc'), 'a write within the slack does not');
  t.false(await at(9, '/touch'), 'an unchanged request within the slack does not');
  const writes = adapter.writes;
  t.true(await at(10, '/touch'), 'an unchanged request a slack after the last send does');
  t.is(adapter.writes, writes + 1, '…and stores when it did (one write instead of a touch)');
  t.false(await at(15, '/touch'));
  t.is(adapter.writes, writes + 1, 'then touches again');
  for (let s = 16; s < 200; s += 7) await at(s, s % 2 === 0 ? '/inc' : '/touch');
});

test.serial('cookie rule › a read-only request sends the cookie when due (the store may have refreshed the session on read), storing nothing', async (t) => {
  const { at, adapter } = await serve(t);
  await at(0, '/inc');
  const writes = adapter.writes;
  t.false(await at(5, '/read-only'));
  t.true(await at(12, '/read-only'), 'due: sent, so a reader\'s cookie keeps up with its session');
  t.true(await at(13, '/read-only'), 'and again while nothing records the send');
  t.is(adapter.writes, writes, 'a read-only request stores nothing');
  t.true(await at(14, '/touch'), 'a writable request sends it when due, and stores when');
  t.false(await at(20, '/touch'), 'so the next one within the slack does not');
});

test.serial('cookie rule › a new id (sign-in) and a client without the cookie always get it', async (t) => {
  const { at, client } = await serve(t);
  await at(0, '/inc');
  t.true(await at(1, '/login'), 'regenerateId(): the new id is sent at once');
  client.jar.clear();
  t.true(await at(2, '/inc'), 'a client that lost its cookie gets a new session and its cookie');
});
