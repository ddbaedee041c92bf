import { randomBytes } from 'node:crypto';
import Koa, { type Context } from 'koa';
import { Redis } from 'ioredis';
import { listen, routes } from './koaBase';
import { LIFETIME_S, type AppEnv, type RunningApp } from './types';

/** The physical limit of a Redis-backed request: GET (+SET) on a key named by a plain cookie. */
export function rawIoredis(env: AppEnv, pipelined = true): Promise<RunningApp> {
  const client = new Redis({ port: env.redisPort, host: '127.0.0.1', enableAutoPipelining: pipelined });
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
