import type { AddressInfo } from 'node:net';
import { RedisAdapter, type Adapter } from '../../lib';
import { createApp } from './app';

/**
 * `npm start`: the file adapter in the middleware's private temp directory, or Redis when
 * REDIS_URL is set (e.g. `REDIS_URL=redis://127.0.0.1:6379 npm start`), with locking on.
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
const app = createApp({ adapter });
const server = app.listen(Number(process.env.PORT || 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  console.log(`koa-session-manager example (${adapter ? 'Redis' : 'file'} sessions) listening on http://${host}:${port}`);
});

// Stop accepting, let in-flight requests commit their sessions, then let the process end.
function shutdown(signal: NodeJS.Signals): void {
  console.log(`${signal}: shutting down`);
  server.close(() => void adapter?.close?.());
  server.closeIdleConnections();
  setTimeout(() => process.exit(1), 5000).unref();
}
process.once('SIGINT', shutdown).once('SIGTERM', shutdown);
