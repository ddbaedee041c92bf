import { adapterFromEnv, failedToStart, serve } from '../shared/serve';
import { createShop } from './app';

// `npm start`: the shop on the file adapter; on Redis when REDIS_URL is set; on PostgreSQL or
// MySQL/MariaDB when DATABASE_URL is (postgres://…, mysql://…), its table made first; with no
// store at all, the session in a signed token in the cookie, when SESSION_TOKEN_KEY is set
// (encrypted with SESSION_TOKEN_MODE=encrypted).
adapterFromEnv().then(
  (store) => serve('shop', createShop({ adapter: store.adapter, store: store.name }), store),
  (err: unknown) => failedToStart('shop', err),
);
