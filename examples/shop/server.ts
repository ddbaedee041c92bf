import type { AddressInfo } from 'node:net';
import { RedisAdapter, type Adapter } from '../../lib';
import { createShop } from './app';

/**
 * `node build/examples/shop/server.js`: the file adapter in the middleware's private temp
 * directory, or Redis with locking when REDIS_URL is set (`REDIS_URL=redis://127.0.0.1:6379`).
 */
function adapterFromEnv(): Adapter | undefined {
  const url = process.env.REDIS_URL;
  if (!url) return undefined;
  const { hostname, port, pathname, password } = new URL(url);
  return new RedisAdapter({
    host: hostname,
    port: Number(port || 6379),
    index: Number(pathname.slice(1) || 0),
    auth: password ? decodeURIComponent(password) : undefined,
    lockingEnabled: true,
  });
}

const adapter = adapterFromEnv();
const app = createShop({ adapter });
const server = app.listen(Number(process.env.PORT || 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  console.log(`koa-session-manager shop (${adapter ? 'Redis' : 'file'} sessions) listening on http://${host}:${port}`);
});

// Stop accepting, let in-flight requests commit their sessions, then let the process end.
function shutdown(signal: NodeJS.Signals): void {
  console.log(`${signal}: shutting down`);
  server.close(() => void adapter?.close?.());
  server.closeIdleConnections();
  setTimeout(() => process.exit(1), 5000).unref();
}
process.once('SIGINT', shutdown).once('SIGTERM', shutdown);
