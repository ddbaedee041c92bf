import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pgQuery, startPostgres, usePostgres } from './helpers/postgresServer';
import type { PostgresServer } from './helpers/postgresServer';
import { serverSpecs } from './helpers/serverSpecs';

// The helper is checked with tools of its own: the wire protocol over a raw socket, psql and
// /proc, no client library.

serverSpecs<PostgresServer>(test, {
  helper: join(__dirname, 'helpers', 'postgresServer.js'),
  startInChild: 'h.startPostgres()',
  user: 'postgres',
  start: () => startPostgres(),
  startFailing: () => startPostgres({ settings: { shared_buffers: 'plenty' } }),
  failure: /shared_buffers/,
  startOnPort: (port) => startPostgres({ port }),
  probe: (port, timeoutMs) => pgQuery(port, { timeoutMs }),
  data: {
    write: (server) => server.psql('CREATE TABLE mark (x int); INSERT INTO mark VALUES (7)'),
    read: async (server) => (await server.psql('SELECT sum(x) FROM mark')).trim(),
    missing: /mark.* does(n't| not) exist/,
  },
});

/** One server for the tests that leave it running as it was (each server costs a copy of the data dir). */
const shared = usePostgres(test);

test('a started server answers a login as itself on its own 127.0.0.1 port', async (t) => {
  const server = shared();
  t.is(server.host, '127.0.0.1');
  t.is(server.url, `postgres://sessions@127.0.0.1:${server.port}/sessions`);
  t.deepEqual(server.connection, { host: '127.0.0.1', port: server.port, user: 'sessions', database: 'sessions' });
  const reply = await pgQuery(server.port, { query: "SELECT current_setting('port') AS port, current_setting('data_directory') AS data" });
  t.is(reply.backendParent, server.pid, 'the backend that answered is a child of our postmaster');
  t.deepEqual(reply.rows, [{ port: String(server.port), data: join(server.dir, 'data') }]);
  t.regex(await server.psql('SELECT version()'), /^PostgreSQL \d+/);
  t.true(existsSync(join(server.dir, `.s.PGSQL.${server.port}`)), 'its Unix socket is in its own dir');
});

test('the sessions user logs in without a password and owns the sessions database', async (t) => {
  const { rows } = await pgQuery(shared().port, {
    user: 'sessions',
    query: 'SELECT current_user AS me, pg_get_userbyid(datdba) AS owner, rolsuper::text AS super FROM pg_database, pg_roles ' +
      'WHERE datname = current_database() AND rolname = current_user',
  });
  t.deepEqual(rows, [{ me: 'sessions', owner: 'sessions', super: 'false' }]);
});

test('pg_stat_statements counts the statements of the sessions user', async (t) => {
  const server = shared();
  await pgQuery(server.port, { user: 'sessions', query: 'SELECT pg_stat_statements_reset()' });
  for (let i = 0; i < 3; i++) await pgQuery(server.port, { user: 'sessions', query: `SELECT ${i} AS counted` });
  const calls = await server.psql("SELECT calls FROM pg_stat_statements WHERE userid = 'sessions'::regrole AND query = 'SELECT $1 AS counted'");
  t.is(calls.trim(), '3');
});

test('the defaults are small and fast, and settings and args override them', async (t) => {
  const server = await startPostgres({ settings: { statement_timeout: '2s', max_connections: 20 }, args: ['-c', 'work_mem=2MB'] });
  t.teardown(() => server.stop());
  const show = async (name: string) => (await server.psql(`SHOW ${name}`)).trim();
  t.is(await show('fsync'), 'off');
  t.is(await show('full_page_writes'), 'off');
  t.is(await show('synchronous_commit'), 'on', 'free with fsync off, and kill() keeps what was committed');
  t.is(await show('listen_addresses'), '127.0.0.1');
  t.is(await show('unix_socket_directories'), server.dir);
  t.is(await show('shared_preload_libraries'), 'pg_stat_statements');
  t.is(await show('statement_timeout'), '2s');
  t.is(await show('max_connections'), '20');
  t.is(await show('work_mem'), '2MB');
});

test('kill() leaves no shared memory behind: its SysV segment is removed, its DSM segments live in its dir', async (t) => {
  const server = await startPostgres();
  t.teardown(() => server.stop());
  t.is((await server.psql('SHOW dynamic_shared_memory_type')).trim(), 'mmap');
  const shmid = readFileSync(join(server.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[6].trim().split(/\s+/)[1];
  // `ipcs -m -i <id>` describes a segment; for a missing one it says so on stderr (and exits 0).
  const segment = () => execFileSync('ipcs', ['-m', '-i', shmid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  t.regex(segment(), new RegExp(`shmid=${shmid}\\b`));
  await server.kill();
  t.is(segment().trim(), '', `segment ${shmid} is gone`);
});
