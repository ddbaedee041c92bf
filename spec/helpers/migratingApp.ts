import type { ExecutionContext } from 'ava';
import Koa from 'koa';
import type { Adapter } from '../../lib/adapters/Adapter';
import { session } from '../../lib/koa/middleware';
import { sessionPolicy } from '../../lib/koa/policy';
import { listen, parseSetCookie } from './http';

/** What one request to a {@link migratingApp} answered. */
export interface Answer {
  status: number;
  body: { userId: number | null; cart: string[] | null };
  /** The session cookie it set, if any. */
  sid: string | undefined;
}

/**
 * A Koa app on `adapter` for the MigratingAdapter specs, on a free 127.0.0.1 port: `/seed` puts
 * a cart in the session, a path ending `/login` regenerates the id and signs in, `/logout`
 * destroys, every path answers who is signed in and the cart. Paths under `/unlocked` run with
 * `sessionPolicy({ lock: false })`, the others with the default policy; `locking` and `lifetime`
 * are session()'s. Resolves a function that sends one request with the cookie `sid`.
 */
export async function migratingApp(t: ExecutionContext, adapter: Adapter, options: { locking?: boolean; lifetime?: number } = {}) {
  const koa = new Koa();
  koa.use(session({ adapter, gc: false, start: 'lazy', locking: options.locking ?? true, ...(options.lifetime !== undefined ? { lifetime: options.lifetime } : {}) }));
  const [unlocked, locked] = [sessionPolicy({ lock: false }), sessionPolicy()];
  koa.use(async (ctx, next) => (ctx.path.startsWith('/unlocked') ? unlocked : locked)(ctx, next));
  koa.use(async (ctx) => {
    if (ctx.path === '/seed') ctx.session.set('cart', ['book']);
    if (ctx.path.endsWith('/login')) { await ctx.session.regenerateId(); ctx.session.set('userId', 7); }
    if (ctx.path === '/logout') await ctx.session.destroy();
    ctx.body = { userId: ctx.session.get('userId') ?? null, cart: ctx.session.get('cart') ?? null };
  });
  const server = await listen(koa);
  t.teardown(server.close);
  return async (path: string, sid?: string): Promise<Answer> => {
    const response = await fetch(server.url + path, { headers: sid ? { cookie: `sid=${sid}` } : {} });
    const cookie = response.headers.getSetCookie().map(parseSetCookie).find((c) => c.name === 'sid');
    return { status: response.status, body: await response.json().catch(() => null) as Answer['body'], sid: cookie?.value };
  };
}
