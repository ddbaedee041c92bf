import { createClient } from 'redis';
import type { AppEnv } from './types';

/** A connected node-redis 5 client (connect-redis 9's), which pipelines the commands of one tick by itself. */
export async function redisClient(env: AppEnv) {
  const client = createClient({ socket: { host: '127.0.0.1', port: env.redisPort } });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
