import type { Server } from 'node:http';
import express from 'express';
import expressSession from 'express-session';
import { LIFETIME_S, SECRET, type AppEnv, type RunningApp } from './types';

// express 5, routed its own way; with express-session over connect-redis 9 (node-redis 5) or
// connect-pg-simple 10 (pg), or bare. A store's modules are loaded only by the contender using it.

type Bag = Record<string, number | undefined>;

/* eslint-disable @typescript-eslint/no-require-imports */
const connectRedis = () => require('connect-redis') as typeof import('connect-redis');
const redisClient = () => require('./redisClient') as typeof import('./redisClient');
const pg = () => require('pg') as typeof import('pg');

/** The part of connect-pg-simple 10 used here (it ships no types; @types/connect-pg-simple is not installed). */
interface PgSimpleOptions {
  pool: import('pg').Pool;
  tableName?: string;
  createTableIfMissing?: boolean;
}
interface PgSimpleStore extends expressSession.Store {
  close(): Promise<void>;
}
type PgSimple = (session: typeof expressSession) => new (options: PgSimpleOptions) => PgSimpleStore;
const connectPgSimple = () => require('connect-pg-simple') as PgSimple;

/** connect-pg-simple's default table (ours uses `sessions`). */
export const PG_SIMPLE_TABLE = 'session';

export type ExpressStore = 'redis' | 'pg' | 'file' | 'none';

/** The part of session-file-store 1.5 used here (it ships no types). */
type FileStoreFactory = (session: typeof expressSession) => new (options: { path: string; ttl: number; logFn?: () => void }) => expressSession.Store;
const sessionFileStore = () => require('session-file-store') as FileStoreFactory;

function listenExpress(app: express.Express, notes: string[], close: () => Promise<void>): Promise<RunningApp> {
  return new Promise((resolve, reject) => {
    const server: Server = app.listen(0, '127.0.0.1');
    server.once('error', reject);
    server.once('listening', () => resolve({
      server,
      notes,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((done) => server.close(() => done()));
        await close();
      },
    }));
  });
}

async function storeOf(env: AppEnv, kind: 'redis' | 'pg' | 'file'): Promise<{ store: expressSession.Store; close: () => Promise<void>; notes: string[] }> {
  if (kind === 'file') {
    // What Express users run for files: one JSON file per session, written with write-file-atomic.
    const FileStore = sessionFileStore()(expressSession);
    return {
      store: new FileStore({ path: env.dataDir, ttl: LIFETIME_S, logFn: () => undefined }),
      close: async () => undefined,
      notes: ['session-file-store({ path, ttl: 3600 }); resave: false, saveUninitialized: false: /read reads the file and touches it; no lock'],
    };
  }
  if (kind === 'redis') {
    const client = await redisClient().redisClient(env);
    return {
      store: new (connectRedis().RedisStore)({ client }),
      close: async () => { await client.quit(); },
      notes: ['resave: false, saveUninitialized: false: /read costs GET + EXPIRE (touch)'],
    };
  }
  if (!env.postgresUrl) throw new Error('express-pg-simple needs the bench\'s PostgreSQL (BENCH_POSTGRES_URL)');
  // A pool of the size of ours (10); the table made on the first query (connect-pg-simple's table.sql).
  const pool = new (pg().Pool)({ connectionString: env.postgresUrl, max: 10 });
  pool.on('error', () => undefined);
  const PgStore = connectPgSimple()(expressSession);
  const store = new PgStore({ pool, tableName: PG_SIMPLE_TABLE, createTableIfMissing: true });
  return {
    store,
    close: async () => {
      await store.close();
      await pool.end();
    },
    notes: [`connect-pg-simple({ pool: pg.Pool({ max: 10 }), tableName: '${PG_SIMPLE_TABLE}', createTableIfMissing: true }); ` +
      'resave: false, saveUninitialized: false: /inc costs SELECT + upsert, /read SELECT + UPDATE expire (touch); no lock'],
  };
}

export async function expressApp(env: AppEnv, kind: ExpressStore): Promise<RunningApp> {
  const app = express();
  if (kind === 'none') {
    let n = 0;
    app.get('/inc', (_req, res) => { res.send(String(++n)); });
    app.get('/read', (_req, res) => { res.send(String(n)); });
    return listenExpress(app, [], async () => undefined);
  }
  const { store, close, notes } = await storeOf(env, kind);
  app.use(expressSession({
    store,
    secret: SECRET,
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: LIFETIME_S * 1000 },
  }));
  app.get('/inc', (req, res) => {
    const s = req.session as unknown as Bag;
    s.n = (s.n ?? 0) + 1;
    res.send(String(s.n));
  });
  app.get('/read', (req, res) => { res.send(String((req.session as unknown as Bag).n ?? 0)); });
  return listenExpress(app, notes, close);
}
