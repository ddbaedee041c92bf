import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPgbouncer, usePgbouncer } from './helpers/pgbouncerServer';
import type { PgbouncerServer, StartPgbouncerOptions } from './helpers/pgbouncerServer';
import { pgQuery } from './helpers/postgresServer';
import { alive, parentPid } from './helpers/procfs';
import { serverSpecs } from './helpers/serverSpecs';

// The helper is checked with tools of its own: the wire protocol over a raw socket, psql and
// /proc, no client library.

/** A PostgreSQL and a pgbouncer (pool of 2) in front of it, for the tests that leave them as they were. */
const shared = usePgbouncer(test, { defaultPoolSize: 2 });

/** Another pgbouncer, in front of the shared PostgreSQL. */
const startInFront = (options: Omit<StartPgbouncerOptions, 'postgres'> = {}) => startPgbouncer({ postgres: shared().postgres, ...options });

serverSpecs<PgbouncerServer>(test, {
  helper: join(__dirname, 'helpers', 'pgbouncerServer.js'),
  // The safety net of the child process kills both.
  startInChild: `require(${JSON.stringify(join(__dirname, 'helpers', 'postgresServer.js'))}).startPostgres().then((postgres) => h.startPgbouncer({ postgres }))`,
  user: 'postgres',
  start: () => startInFront(),
  startFailing: () => startInFront({ settings: { pool_mode: 'no-such-mode' } }),
  failure: /no-such-mode/,
  startOnPort: (port) => startInFront({ port }),
  probe: (port, timeoutMs) => pgQuery(port, { user: 'sessions', database: 'pgbouncer', timeoutMs }),
});

test('a started pgbouncer answers its admin console as itself on its own 127.0.0.1 port', async (t) => {
  const server = shared();
  t.is(server.host, '127.0.0.1');
  t.is(server.url, `postgres://sessions@127.0.0.1:${server.port}/sessions`);
  t.deepEqual(server.connection, { host: '127.0.0.1', port: server.port, user: 'sessions', database: 'sessions' });
  t.not(server.port, server.postgres.port);
  const config = new Map((await server.admin('SHOW CONFIG')).map((row) => [row.key, row.value]));
  t.is(config.get('listen_port'), String(server.port));
  t.is(config.get('listen_addr'), '127.0.0.1');
  t.is(config.get('pidfile'), join(server.dir, 'pgbouncer.pid'));
  t.is(readFileSync(config.get('pidfile')!, 'utf8').trim(), String(server.pid), 'its pid file holds our PID');
  t.true(existsSync(join(server.dir, 'pgbouncer.ini')) && existsSync(join(server.dir, 'userlist.txt')));
});

test('a query through pgbouncer is answered by the private PostgreSQL behind it', async (t) => {
  const server = shared();
  const { rows } = await pgQuery(server.port, {
    user: 'sessions',
    query: 'SELECT inet_server_port()::text AS port, pg_backend_pid()::text AS backend, current_user AS me, current_database() AS db',
  });
  t.is(rows[0]?.port, String(server.postgres.port));
  t.is(parentPid(Number(rows[0]?.backend)), server.postgres.pid, 'the backend is a child of our postmaster');
  t.like(rows[0], { me: 'sessions', db: 'sessions' });
  t.is((await server.psql('SELECT 6 * 7')).trim(), '42');
});

test('SHOW POOLS reports the sessions pool in transaction mode, with the pool size given', async (t) => {
  const server = shared();
  await server.psql('SELECT 1'); // pools are made on first use
  const pool = (await server.admin('SHOW POOLS')).find((row) => row.database === 'sessions' && row.user === 'sessions');
  t.is(pool?.pool_mode, 'transaction');
  const config = new Map((await server.admin('SHOW CONFIG')).map((row) => [row.key, row.value]));
  t.is(config.get('pool_mode'), 'transaction');
  t.is(config.get('default_pool_size'), '2');
});

test('in transaction mode, session state stays on the server connection for the next client; session mode resets it', async (t) => {
  const [transaction, session] = await Promise.all([startInFront({ defaultPoolSize: 1 }), startInFront({ poolMode: 'session', defaultPoolSize: 1 })]);
  t.teardown(() => Promise.all([transaction.stop(), session.stop()]));
  // One server connection each: a client's SET outlives its transaction on that connection, so
  // the next client (a new login) sees it, unless session pooling resets it (DISCARD ALL).
  const mark = "SELECT coalesce(current_setting('ksm.mark', true), '')";
  await transaction.psql("SET ksm.mark = 'left-behind'");
  t.is((await transaction.psql(mark)).trim(), 'left-behind');
  await session.psql("SET ksm.mark = 'left-behind'");
  t.is((await session.psql(mark)).trim(), '');
});

test('stopping, killing or pausing pgbouncer leaves its PostgreSQL running', async (t) => {
  const [stopped, killed, paused] = await Promise.all([startInFront(), startInFront(), startInFront()]);
  t.teardown(() => Promise.all([stopped.stop(), killed.stop(), paused.stop()]));
  paused.pause();
  await Promise.all([stopped.stop(), killed.kill()]);
  t.false(alive(stopped.pid) || alive(killed.pid));
  t.is((await shared().postgres.psql('SELECT 1')).trim(), '1');
});
