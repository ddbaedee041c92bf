import Koa, { type Context } from 'koa';
import koaSession from 'koa-session';
import type { Redis } from 'ioredis';
import { listen, routes } from './koaBase';
import { LIFETIME_S, SECRET, type AppEnv, type RunningApp } from './types';

// koa-session 7: its cookie store, or its `store` option ({ get, set, destroy }) over ioredis.

type Bag = Record<string, number | undefined>;
const koaSessionOf = (ctx: Context): Bag => (ctx as unknown as { session: Bag }).session;

export function koaSessionApp(env: AppEnv, store: 'cookie' | 'ioredis' | 'ioredis-ap'): Promise<RunningApp> {
  const app = new Koa();
  app.keys = [SECRET];
  let client: Redis | undefined;
  const options: Parameters<typeof koaSession>[0] = { key: 'koa.sess', maxAge: LIFETIME_S * 1000, rolling: false, renew: false };
  if (store !== 'cookie') {
    // Loaded here, not at the top: ioredis slows every string method in the process it is loaded
    // in (lib/redis/fastStrings.ts), and the cookie store's process has no reason to load it.
    const { Redis: Client } = require('ioredis') as typeof import('ioredis'); // eslint-disable-line @typescript-eslint/no-require-imports
    const redis = new Client({ port: env.redisPort, host: '127.0.0.1', enableAutoPipelining: store === 'ioredis-ap' });
    client = redis;
    options.store = {
      async get(key: string) {
        const value = await redis.get(key);
        return value === null ? undefined : JSON.parse(value);
      },
      async set(key: string, sess: unknown, maxAge: number) {
        await redis.set(key, JSON.stringify(sess), 'PX', maxAge);
      },
      async destroy(key: string) {
        await redis.del(key);
      },
    };
  }
  app.use(koaSession(options, app));
  routes(app, (ctx) => {
    const s = koaSessionOf(ctx);
    s.n = (s.n ?? 0) + 1;
    ctx.body = String(s.n);
  }, (ctx) => {
    ctx.body = String(koaSessionOf(ctx).n ?? 0);
  });
  return listen(app, [], async () => { await client?.quit(); });
}
