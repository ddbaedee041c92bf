import { adapterFromEnv, failedToStart, serve } from '../shared/serve';
import { createShop } from './app';

// `npm start`: the shop on the file adapter; on Redis when REDIS_URL is set; on PostgreSQL or
// MySQL/MariaDB when DATABASE_URL is (postgres://…, mysql://…), its table made first.
adapterFromEnv().then(
  (store) => serve('shop', createShop({ adapter: store.adapter }), store),
  (err: unknown) => failedToStart('shop', err),
);
