import { adapterFromEnv, serve } from '../shared/serve';
import { createShop } from './app';

// `npm start`: the shop on the file adapter, or on Redis with locking when REDIS_URL is set.
const adapter = adapterFromEnv();
serve('shop', createShop({ adapter }), adapter);
