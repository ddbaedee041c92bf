import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Adapter } from '../../lib';
import { RedisAdapter } from '../../lib/redis';

/**
 * The examples' store: undefined (the middleware's file adapter in its private temp directory),
 * or Redis with locking when REDIS_URL is set (e.g. `REDIS_URL=redis://127.0.0.1:6379 npm start`).
 */
export function adapterFromEnv(): Adapter | undefined {
  const url = process.env.REDIS_URL;
  if (!url) return undefined;
  return new RedisAdapter({ url });
}

/**
 * Listen on PORT (3000) and HOST (127.0.0.1), say where, and on SIGINT/SIGTERM stop accepting,
 * let in-flight requests commit their sessions, close the store and let the process end.
 *
 * @example
 * const adapter = adapterFromEnv();
 * serve('shop', createShop({ adapter }), adapter);
 */
export function serve(label: string, app: Koa, adapter: Adapter | undefined): void {
  const server = app.listen(Number(process.env.PORT || 3000), process.env.HOST ?? '127.0.0.1', () => {
    const { address, port } = server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    console.log(`koa-session-manager ${label} (${adapter ? 'Redis' : 'file'} sessions) listening on http://${host}:${port}`);
  });
  const shutdown = (signal: NodeJS.Signals): void => {
    console.log(`${signal}: shutting down`);
    server.close(() => void adapter?.close?.());
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 5000).unref();
  };
  process.once('SIGINT', shutdown).once('SIGTERM', shutdown);
}
