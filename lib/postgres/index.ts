/**
 * `koa-session-manager/postgres`: sessions in a PostgreSQL table over node-postgres (an optional
 * peer dependency: `npm install pg`). Importing this entry loads pg; the main entry never does.
 *
 * @example
 * import { session } from 'koa-session-manager';
 * import { PostgresAdapter } from 'koa-session-manager/postgres';
 * app.use(session({ adapter: new PostgresAdapter({ url: process.env.DATABASE_URL ?? 'postgres://localhost/app' }) }));
 *
 * @module koa-session-manager/postgres
 */
export { PostgresAdapter } from './PostgresAdapter';
export type { PgPool, PostgresAdapterOptions } from './PostgresAdapter';
