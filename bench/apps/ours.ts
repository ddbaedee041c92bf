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
const tokenEntry = () => require('../../lib/token') as typeof import('../../lib/token');

export type OursKind = 'file' | 'redis' | 'redis-lock' | 'postgres-lock' | 'token-signed' | 'token-encrypted' | 'token-signed-nocache'
  | 'token-signed-jose5' | 'token-encrypted-jose5';
type TokenKind = Extract<OursKind, `token-${string}`>;

/** The PostgreSQL table ours uses (connect-pg-simple's is `session`). */
export const OURS_TABLE = 'sessions';

/**
 * Stateless: the session in a token in the cookie (HS256 JWS or JWE dir + A256GCM), a fresh
 * 32-byte secret per server; no lock (`locking` must be left out). The cache of tokens made or
 * verified here is on (1000 tokens, the default) except for `token-signed-nocache`.
 */
function tokenStoreOf(kind: TokenKind) {
  // Before the token entry loads jose: this server's `require('jose')` then loads jose 5.
  if (kind.endsWith('-jose5')) require('../../spec/helpers/jose5');
  const { TokenStore } = tokenEntry();
  return new TokenStore({
    mode: kind.startsWith('token-encrypted') ? 'encrypted' : 'signed',
    keys: [{ kid: 'k1', secret: TokenStore.generateSecret() }],
    ...(kind === 'token-signed-nocache' ? { cacheSize: 0 } : {}),
  });
}

const TOKEN_NOTES: Record<TokenKind, string> = {
  'token-signed': "TokenStore({ mode: 'signed' }): HS256, cookie transport, cacheSize 1000 (the default)",
  'token-encrypted': "TokenStore({ mode: 'encrypted' }): dir + A256GCM, cookie transport, cacheSize 1000 (the default)",
  'token-signed-nocache': "TokenStore({ mode: 'signed', cacheSize: 0 }): HS256, cookie transport, every request verifies its token",
  'token-signed-jose5': "TokenStore({ mode: 'signed' }) with jose 5.10 (its Node build: node:crypto) instead of jose 6 (WebCrypto)",
  'token-encrypted-jose5': "TokenStore({ mode: 'encrypted' }) with jose 5.10 (its Node build: node:crypto) instead of jose 6 (WebCrypto)",
};

const isToken = (kind: OursKind): kind is TokenKind => kind.startsWith('token-');

async function adapterOf(env: AppEnv, kind: Exclude<OursKind, TokenKind>): Promise<Adapter> {
  if (kind === 'file') return new StreamAdapter({ savePath: env.dataDir });
  if (kind === 'postgres-lock') {
    if (!env.postgresUrl) throw new Error('ours-postgres-lock needs the bench\'s PostgreSQL (BENCH_POSTGRES_URL)');
    // Locking is on by default; the session statements pipelined over 2 connections (the
    // default), a pool of 10 for createTable() and gc (the default), LISTEN/NOTIFY wake-ups (the default).
    const adapter = new (postgresEntry().PostgresAdapter)({ url: env.postgresUrl, max: 10, table: OURS_TABLE });
    await adapter.createTable();
    return adapter;
  }
  return new (redisEntry().RedisAdapter)({ host: '127.0.0.1', port: env.redisPort, lockingEnabled: kind === 'redis-lock' });
}

export async function oursApp(env: AppEnv, kind: OursKind): Promise<RunningApp> {
  const adapter = isToken(kind) ? tokenStoreOf(kind) : await adapterOf(env, kind);
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
  if (isToken(kind)) notes.push(TOKEN_NOTES[kind]);
  if (kind === 'postgres-lock') notes.push(`PostgresAdapter({ max: 10, table: '${OURS_TABLE}' }), locking, LISTEN/NOTIFY and statements pipelined over 2 connections (the defaults); session() gc at its default (probability 0.01)`);
  return listen(app, notes, async () => { await adapter.close?.(); });
}
