import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamAdapter, type Adapter } from '../../lib';
import { createApp } from './app';

const savePath = join(tmpdir(), 'koa-session-manager-example');
mkdirSync(savePath, { recursive: true, mode: 0o700 });
const adapter: Adapter = new StreamAdapter({ savePath });

const server = createApp({ adapter }).listen(Number(process.env.PORT || 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  console.log(`koa-session-manager example listening on http://${host}:${port}`);
});

// Stop accepting, let in-flight requests commit their sessions, then let the process end.
function shutdown(signal: NodeJS.Signals): void {
  console.log(`${signal}: shutting down`);
  server.close(() => void adapter.close?.());
  server.closeIdleConnections();
  setTimeout(() => process.exit(1), 5000).unref();
}
process.once('SIGINT', shutdown).once('SIGTERM', shutdown);
