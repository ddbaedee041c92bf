import Koa from 'koa';
import { session, sessionPolicy, StreamAdapter, type Adapter } from '../../lib';
import { RedisAdapter } from '../../lib/redis';
import { chain, listen, routes, type Handler } from './koaBase';
import type { AppEnv, RunningApp } from './types';

// Ours, the way a real app mounts it: a lazy start, /inc under the default policy (locked when
// the adapter locks), /read under the read-only one (no lock, one read, nothing written).

export function oursApp(env: AppEnv, kind: 'file' | 'redis' | 'redis-lock'): Promise<RunningApp> {
  const adapter: Adapter = kind === 'file'
    ? new StreamAdapter({ savePath: env.dataDir })
    : new RedisAdapter({ host: '127.0.0.1', port: env.redisPort, lockingEnabled: kind === 'redis-lock' });
  const app = new Koa();
  app.use(session({ adapter, start: 'lazy' }));
  const inc: Handler = (ctx) => {
    const n = ctx.session.get<number>('n', 0)! + 1;
    ctx.session.set('n', n);
    ctx.body = String(n);
  };
  const read: Handler = (ctx) => { ctx.body = String(ctx.session.get<number>('n', 0)); };
  routes(app, chain(sessionPolicy(), inc), chain(sessionPolicy({ readOnly: true }), read));
  const notes = ["session({ start: 'lazy' }); /inc: sessionPolicy() (locked when the adapter locks), /read: sessionPolicy({ readOnly: true })"];
  return listen(app, notes, async () => { await adapter.close?.(); });
}
