import { adapterFromEnv, serve } from '../shared/serve';
import { createApp } from './app';

// `node build/examples/basic/server.js`: the plain-Koa example on the file adapter, or on Redis
// with locking when REDIS_URL is set.
const adapter = adapterFromEnv();
serve('example', createApp({ adapter }), adapter);
