import { adapterFromEnv, failedToStart, serve } from '../shared/serve';
import { createApp } from './app';

// `node build/examples/basic/server.js`: the plain-Koa example on the file adapter; on Redis
// when REDIS_URL is set; on PostgreSQL or MySQL/MariaDB when DATABASE_URL is (postgres://…,
// mysql://…), its table made first; in a signed token in the cookie, no store, when
// SESSION_TOKEN_KEY is set (encrypted with SESSION_TOKEN_MODE=encrypted).
adapterFromEnv().then(
  (store) => serve('example', createApp({ adapter: store.adapter, store: store.name }), store),
  (err: unknown) => failedToStart('example', err),
);
