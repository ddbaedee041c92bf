import Koa from 'koa';
import { session, sessionPolicy, StreamAdapter, type Adapter } from '../../lib';
import { chain, listen, routes, type Handler } from './koaBase';
import type { AppEnv, RunningApp } from './types';

// Ours, the way a real app mounts it: a lazy start, /inc under the default policy (locked when
// the adapter locks), /read under the read-only one (no lock, one read, nothing written).
// A store's entry point (and so its client library) is loaded only by the contenders that use it.

/* eslint-disable @typescript-eslint/no-require-imports */
const redisEntry = () => require('../../lib/redis') as typeof import('../../lib/redis');
const postgresEntry = () => require('../../lib/postgres') as typeof import('../../lib/postgres');

export type OursKind = 'file' | 'redis' | 'redis-lock' | 'postgres-lock';

/** The PostgreSQL table ours uses (connect-pg-simple's is `session`). */
export const OURS_TABLE = 'sessions';

async function adapterOf(env: AppEnv, kind: OursKind): Promise<Adapter> {
  if (kind === 'file') return new StreamAdapter({ savePath: env.dataDir });
  if (kind === 'postgres-lock') {
    if (!env.postgresUrl) throw new Error('ours-postgres-lock needs the bench\'s PostgreSQL (BENCH_POSTGRES_URL)');
    // Locking is on by default; a pool of 10 (the default), LISTEN/NOTIFY wake-ups (the default).
    const adapter = new (postgresEntry().PostgresAdapter)({ url: env.postgresUrl, max: 10, table: OURS_TABLE });
    await adapter.createTable();
    return adapter;
  }
  return new (redisEntry().RedisAdapter)({ host: '127.0.0.1', port: env.redisPort, lockingEnabled: kind === 'redis-lock' });
}

export async function oursApp(env: AppEnv, kind: OursKind): Promise<RunningApp> {
  const adapter = await adapterOf(env, kind);
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
  if (kind === 'postgres-lock') notes.push(`PostgresAdapter({ max: 10, table: '${OURS_TABLE}' }), locking and LISTEN/NOTIFY on (the defaults); session() gc at its default (probability 0.01)`);
  return listen(app, notes, async () => { await adapter.close?.(); });
}
