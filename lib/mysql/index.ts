/**
 * `koa-session-manager/mysql`: sessions in a MySQL 8 or MariaDB table over mysql2 (an optional
 * peer dependency: `npm install mysql2`). Importing this entry loads mysql2; the main entry never does.
 *
 * @example
 * import { session } from 'koa-session-manager';
 * import { MysqlAdapter } from 'koa-session-manager/mysql';
 * app.use(session({ adapter: new MysqlAdapter({ url: process.env.MYSQL_URL ?? 'mysql://app@localhost/app' }) }));
 *
 * @module koa-session-manager/mysql
 */
export { MysqlAdapter } from './MysqlAdapter';
export type { MysqlAdapterOptions, MysqlConnection, MysqlPool } from './MysqlAdapter';
