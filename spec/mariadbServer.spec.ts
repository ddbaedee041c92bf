import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mysqlGreeting, startMariadb, useMariadb } from './helpers/mariadbServer';
import type { MariadbServer } from './helpers/mariadbServer';
import { runTool } from './helpers/ownedServer';
import { serverSpecs } from './helpers/serverSpecs';

// The helper is checked with tools of its own: the greeting over a raw socket, the mariadb
// client and /proc, no client library.

serverSpecs<MariadbServer>(test, {
  helper: join(__dirname, 'helpers', 'mariadbServer.js'),
  startInChild: 'h.startMariadb()',
  user: 'mysql',
  start: () => startMariadb(),
  startFailing: () => startMariadb({ args: ['--no-such-option'] }),
  failure: /unknown option '--no-such-option'/,
  startOnPort: (port) => startMariadb({ port }),
  probe: (port, timeoutMs) => mysqlGreeting(port, timeoutMs),
  data: {
    write: (server) => server.sql('CREATE TABLE mark (x int) ENGINE=InnoDB; INSERT INTO mark VALUES (7)'),
    read: async (server) => (await server.sql('SELECT sum(x) FROM mark')).trim(),
    missing: /mark.* does(n't| not) exist/,
  },
});

/** The mariadb client over TCP as `user`, as an adapter would connect. */
const overTcp = (server: MariadbServer, user: string, password: string, query: string) =>
  runTool('mariadb', ['--no-defaults', '-N', '-B', '-h', '127.0.0.1', '-P', String(server.port), `-u${user}`, `-p${password}`, 'sessions', '-e', query]);

/** One server for the tests that leave it running as it was. */
const shared = useMariadb(test);

test('a started server greets as MariaDB and answers a query as itself on its own 127.0.0.1 port', async (t) => {
  const server = shared();
  t.is(server.host, '127.0.0.1');
  t.is(server.url, `mysql://sessions:sessions@127.0.0.1:${server.port}/sessions`);
  t.deepEqual(server.connection, { host: '127.0.0.1', port: server.port, user: 'sessions', password: 'sessions', database: 'sessions' });
  t.regex(await mysqlGreeting(server.port), /MariaDB/);
  const [port, pidFile, datadir] = (await overTcp(server, 'sessions', 'sessions', 'SELECT @@port, @@pid_file, @@datadir')).trim().split('\t');
  t.is(port, String(server.port));
  t.is(readFileSync(pidFile, 'utf8').trim(), String(server.pid), 'the server on the port names a pid file holding our PID');
  t.is(datadir, join(server.dir, 'data') + '/');
});

test('the sessions account logs in over TCP with its password; a wrong one is refused', async (t) => {
  const server = shared();
  t.is((await overTcp(server, 'sessions', 'sessions', 'SELECT current_user(), database()')).trim(), 'sessions@%\tsessions');
  await t.throwsAsync(overTcp(server, 'sessions', 'wrong', 'SELECT 1'), { message: /Access denied/ });
  t.is((await server.sql('SELECT current_user()')).trim(), 'root@localhost', 'sql() is root over the Unix socket');
});

test('the defaults are small and fast, and args override them', async (t) => {
  const server = await startMariadb({ args: ['--max-connections=20'] });
  t.teardown(() => server.stop());
  const row = await server.sql('SELECT @@max_connections, @@log_bin, @@innodb_flush_log_at_trx_commit, @@bind_address, @@character_set_server, @@skip_name_resolve');
  t.deepEqual(row.trim().split('\t'), ['20', '0', '2', '127.0.0.1', 'utf8mb4', '1']);
  t.true(existsSync(join(server.dir, 'mariadbd.sock')), 'its socket is in its own dir');
});
