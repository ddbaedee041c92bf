/**
 * `koa-session-manager/redis`: sessions in Redis, Redis Cluster or Sentinel over ioredis (an
 * optional peer dependency: `npm install ioredis`). Importing this entry loads ioredis; the main
 * entry never does.
 *
 * @example
 * import { session } from 'koa-session-manager';
 * import { RedisAdapter } from 'koa-session-manager/redis';
 * app.use(session({ adapter: new RedisAdapter({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }) }));
 *
 * @module koa-session-manager/redis
 */
export { RedisAdapter } from './RedisAdapter';
export type { RedisAdapterOptions } from './RedisAdapter';
export type { BoundedClientOptions, RedisTlsOptions } from './options';
