/**
 * `koa-session-manager/memcached`: sessions in memcached over memjs (an optional peer
 * dependency: `npm install memjs`). Importing this entry loads memjs; the main entry never does.
 *
 * @example
 * import { session } from 'koa-session-manager';
 * import { MemcachedAdapter } from 'koa-session-manager/memcached';
 * app.use(session({ adapter: new MemcachedAdapter({ servers: [{ host: '127.0.0.1', port: 11211 }] }) }));
 *
 * @module koa-session-manager/memcached
 */
export { MemcachedAdapter } from './MemcachedAdapter';
export type { MemcachedAdapterOptions, MemcachedServerOption, MemjsClient, MemjsOptions, SaslAuthData } from './MemcachedAdapter';
