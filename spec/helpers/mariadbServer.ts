import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import { exchange, freePort, HOST, startServerProcess, useStarted } from './serverProcess';
import { installed, OwnedServerProcess, runAsUser, runTool, serverDir, template } from './ownedServer';
import type { PrivateServer } from './serverProcess';

// Private MariaDB servers for specs (DESIGN.md, "Real servers in tests"): mariadb-install-db
// once per process into a template, copied into each server's own temp dir; mariadbd
// --no-defaults on a free 127.0.0.1 port, as the mysql user when this process is root; stopped
// by PID. Nothing here touches a server this module did not start, and nothing is found or
// killed by name.

export const MISSING = 'MariaDB not found: .ci/run installs it (apt-get install mariadb-server)';
/** The account the adapter specs connect as, over TCP from 127.0.0.1 (ALL PRIVILEGES on *.*). */
export const USER = 'sessions';
export const PASSWORD = 'sessions';
export const DATABASE = 'sessions';

const POLL_INTERVAL_MS = 25;
const PROBE_TIMEOUT_MS = 1_000;
/** Given to mariadb-install-db and mariadbd alike, so that the redo log is never resized. */
const LOG_FILE_SIZE = '--innodb-log-file-size=4M';

const mariadbd = () => installed(['/usr/sbin/mariadbd'], 'mariadbd');
const mysqlUser = () => runAsUser('mysql', MISSING);

export interface StartMariadbOptions {
  /** The port to listen on; a free one when absent. A given port is never retried. */
  port?: number;
  /** Extra mariadbd options, appended after the defaults (so they win), e.g. `['--max-connections=20']`. */
  args?: string[];
}

/** What mysql2 takes: `createPool(server.connection)`. */
export interface MariadbConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** One mariadbd started by this module; `dir` holds `data/`, the socket and the pid file. */
export interface MariadbServer extends PrivateServer {
  /** `mysql://sessions:sessions@127.0.0.1:<port>/sessions` */
  readonly url: string;
  readonly connection: MariadbConnection;
  /** `mariadb -N -B` as root over the Unix socket, database sessions: stdout, one row a line, columns split by tabs. */
  sql(query: string): Promise<string>;
}

/**
 * The server version from the greeting a MySQL-protocol server sends on connect, over a fresh raw
 * socket; rejects on an error packet (e.g. too many connections), a refused connection, or no
 * greeting within `timeoutMs` (code ETIMEDOUT).
 */
export function mysqlGreeting(port: number, timeoutMs = PROBE_TIMEOUT_MS): Promise<string> {
  return exchange({
    host: HOST,
    port,
    request: '',
    timeoutMs,
    timedOut: `no greeting from ${HOST}:${port} within ${timeoutMs} ms`,
    closed: `${HOST}:${port} closed the connection before its greeting`,
    parse: (received) => {
      if (received.length < 4 || received.length < 4 + received.readUIntLE(0, 3)) return undefined;
      const payload = received.subarray(4, 4 + received.readUIntLE(0, 3));
      if (payload[0] === 0xff) throw new Error(`${HOST}:${port}: error ${payload.readUInt16LE(1)}: ${payload.toString('utf8', 3)}`);
      if (payload[0] !== 10) throw new Error(`${HOST}:${port}: not a MySQL protocol 10 greeting`);
      return payload.toString('utf8', 1, payload.indexOf(0, 1));
    },
  });
}

/** Runs the `mariadb` client with `args`, without option files; resolves stdout. */
function client(args: string[]): Promise<string> {
  return runTool('mariadb', ['--no-defaults', '--connect-timeout=5', '-N', '-B', ...args], { missing: MISSING });
}

/** mariadb-install-db once per process, with the sessions database and account. */
function dataTemplate(): Promise<string> {
  const owner = mysqlUser();
  return template('mariadb', owner, async (dir) => {
    const init = join(dir, 'init.sql');
    await writeFile(init, [
      'FLUSH PRIVILEGES', // bootstrap runs without grant tables: this loads them, so that CREATE USER works
      `CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
      `CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`,
      `GRANT ALL PRIVILEGES ON *.* TO '${USER}'@'%'`,
    ].map((s) => `${s};\n`).join(''));
    await runTool('mariadb-install-db', [
      '--no-defaults', `--datadir=${join(dir, 'data')}`, '--auth-root-authentication-method=normal', '--skip-test-db',
      '--skip-name-resolve', `--extra-file=${init}`, LOG_FILE_SIZE, '--innodb-buffer-pool-size=32M',
      `--tmpdir=${dir}`, // its temporary tables: /tmp is shared, and a shared dir is not ours to trust
    ], { ...owner, cwd: dir, missing: MISSING });
  });
}

class Instance extends OwnedServerProcess implements MariadbServer {
  readonly url: string;
  readonly connection: MariadbConnection;

  constructor(port: number, dir: string, private readonly extraArgs: string[]) {
    super({ binary: mariadbd(), missing: MISSING, probe: 'its greeting', pollIntervalMs: POLL_INTERVAL_MS }, port, dir, mysqlUser(), dataTemplate);
    this.url = `mysql://${USER}:${PASSWORD}@${HOST}:${port}/${DATABASE}`;
    this.connection = { host: HOST, port, user: USER, password: PASSWORD, database: DATABASE };
  }

  private get pidFile(): string {
    return join(this.dir, 'mariadbd.pid');
  }

  protected args(): string[] {
    return [
      '--no-defaults', // must come first
      `--datadir=${join(this.dir, 'data')}`, `--port=${this.port}`, `--bind-address=${HOST}`,
      `--socket=${join(this.dir, 'mariadbd.sock')}`, `--pid-file=${this.pidFile}`, `--tmpdir=${this.dir}`,
      '--skip-log-bin', '--skip-name-resolve', '--max-connections=50', '--character-set-server=utf8mb4', '--collation-server=utf8mb4_bin',
      '--innodb-buffer-pool-size=32M', LOG_FILE_SIZE, '--innodb-flush-log-at-trx-commit=2', '--innodb-doublewrite=0',
      '--innodb-use-native-aio=0', '--innodb-temp-data-file-path=ibtmp1:1M:autoextend',
      ...this.extraArgs,
    ];
  }

  protected async answers(): Promise<boolean> {
    return (await mysqlGreeting(this.port)).includes('MariaDB');
  }

  /** The server on the port names our pid file, and our pid file holds `pid`. */
  protected async isOwn(pid: number): Promise<boolean> {
    const named = (await client(['-h', HOST, '-P', String(this.port), '--protocol=TCP', `-u${USER}`, `-p${PASSWORD}`, '-e', 'SELECT @@pid_file'])).trim();
    return named === this.pidFile && (await readFile(this.pidFile, 'utf8')).trim() === String(pid);
  }

  sql(query: string): Promise<string> {
    return client([`--socket=${join(this.dir, 'mariadbd.sock')}`, '-uroot', DATABASE, '-e', query]);
  }
}

/** Starts a private mariadbd on 127.0.0.1 and resolves once it answers as itself. */
export function startMariadb(options: StartMariadbOptions = {}): Promise<MariadbServer> {
  return startServerProcess(async () => {
    const dir = await serverDir('mariadb', mysqlUser());
    return new Instance(options.port ?? (await freePort()), dir, options.args ?? []);
  }, options.port === undefined);
}

/** One private server for a whole spec file: started in test.before, stopped in test.after.always. */
export function useMariadb<Context = unknown>(test: TestFn<Context>, options?: StartMariadbOptions): () => MariadbServer {
  return useStarted(test, () => startMariadb(options), 'useMariadb(): no server');
}
