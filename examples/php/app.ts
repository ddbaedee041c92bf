import Koa from 'koa';
import { session } from '../../lib';
import { RedisAdapter } from '../../lib/redis';
import './types';

/**
 * The store of the Koa half: the Redis PHP's `session.save_path` names, in the RedisAdapter's
 * `php` mode (PHP's keys `PHPREDIS_SESSION:<id>`, its `php` serialize handler, its lock and TTL,
 * its `PHPSESSID` cookie).
 */
export function sharedStore(redisUrl: string): RedisAdapter {
  return new RedisAdapter({ url: redisUrl, php: { handler: 'php' } });
}

/**
 * The Koa half of an app whose sign-in lives in PHP (public/index.php, PHP's own Redis session
 * handler). Nothing else is configured: `session()` takes the cookie name and the format from
 * the adapter.
 *
 * @example
 * createApp(sharedStore('redis://127.0.0.1:6379')).listen(3001, '127.0.0.1');
 */
export function createApp(adapter: RedisAdapter): Koa {
  const app = new Koa();
  app.use(session({ adapter }));
  app.use(async (ctx) => {
    const s = ctx.session;
    if (ctx.method === 'POST' && ctx.path === '/api/basket') {
      // Written back for PHP; PHP's own keys (the user, its floats and objects) keep their bytes.
      s.set('basket', [...(s.get('basket') ?? []), String(ctx.query.item ?? 'book')]);
    } else if (ctx.path !== '/api/me') {
      ctx.status = 404;
      return;
    }
    ctx.body = { user: s.get('user') ?? null, basket: s.get('basket') ?? [] };
  });
  return app;
}
