import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import { DATABASE, pgQuery, pgTool, postgresUser, startPostgres, SUPERUSER, USER } from './postgresServer';
import type { PostgresConnection, PostgresServer, StartPostgresOptions } from './postgresServer';
import { freePort, HOST, startServerProcess, useStarted } from './serverProcess';
import { installed, OwnedServerProcess, serverDir } from './ownedServer';
import type { PrivateServer } from './serverProcess';

// A private PgBouncer in front of a private PostgreSQL (postgresServer.ts), for the specs of
// transaction pooling (DESIGN.md, "Real servers in tests"): its own temp dir with pgbouncer.ini
// and the userlist, a free 127.0.0.1 port, as the postgres user when this process is root,
// stopped by PID. Nothing here touches a server this module did not start.

export const MISSING = 'pgbouncer not found: .ci/run installs it (apt-get install pgbouncer)';

const POLL_INTERVAL_MS = 25;

export type PoolMode = 'session' | 'transaction' | 'statement';

export interface StartPgbouncerOptions {
  /** The private PostgreSQL to pool connections to (not stopped by this server's stop()). */
  postgres: PostgresServer;
  /** Default `transaction`. */
  poolMode?: PoolMode;
  /** Server connections per user and database; default 5. */
  defaultPoolSize?: number;
  /** The port to listen on; a free one when absent. A given port is never retried. */
  port?: number;
  /** More [pgbouncer] settings over the defaults, e.g. `{ query_wait_timeout: 2 }`. */
  settings?: Record<string, string | number>;
}

/**
 * One pgbouncer started by this module; `dir` holds pgbouncer.ini, userlist.txt and the pid file.
 * Its stop() (SIGTERM: immediate shutdown), kill() and pause() leave PostgreSQL running.
 */
export interface PgbouncerServer extends PrivateServer {
  /** The PostgreSQL it pools to. */
  readonly postgres: PostgresServer;
  /** `postgres://sessions@127.0.0.1:<port>/sessions`: through the pooler. */
  readonly url: string;
  readonly connection: PostgresConnection;
  /** One admin console command (`SHOW POOLS`, `SHOW CONFIG`, `RELOAD` ...), as rows by column name. */
  admin(command: string): Promise<Array<Record<string, string | null>>>;
  /** `psql -XAtq` as sessions through the pooler: stdout, one row a line, columns split by `|`. */
  psql(sql: string): Promise<string>;
}

class Instance extends OwnedServerProcess implements PgbouncerServer {
  readonly url: string;
  readonly connection: PostgresConnection;

  constructor(port: number, dir: string, readonly postgres: PostgresServer, private readonly settings: Record<string, string | number>) {
    super({ binary: installed(['/usr/sbin/pgbouncer'], 'pgbouncer'), missing: MISSING, probe: 'SHOW VERSION', pollIntervalMs: POLL_INTERVAL_MS }, port, dir, postgresUser());
    this.url = `postgres://${USER}@${HOST}:${port}/${DATABASE}`;
    this.connection = { host: HOST, port, user: USER, database: DATABASE };
  }

  private get pidFile(): string {
    return join(this.dir, 'pgbouncer.pid');
  }

  protected override async prepare(): Promise<void> {
    await super.prepare();
    await rm(this.pidFile, { force: true }); // ours, left by kill(): pgbouncer would refuse to start
    const settings = {
      listen_addr: HOST,
      listen_port: this.port,
      unix_socket_dir: '',
      auth_type: 'trust', // users must still be listed in auth_file
      auth_file: join(this.dir, 'userlist.txt'),
      admin_users: `${USER}, ${SUPERUSER}`,
      pidfile: this.pidFile,
      logfile: '',
      ignore_startup_parameters: 'extra_float_digits',
      ...this.settings,
    };
    await writeFile(join(this.dir, 'userlist.txt'), `"${USER}" ""\n"${SUPERUSER}" ""\n`);
    await writeFile(join(this.dir, 'pgbouncer.ini'), [
      '[databases]',
      `* = host=${HOST} port=${this.postgres.port}`,
      '[pgbouncer]',
      ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
    ].join('\n') + '\n');
  }

  protected args(): string[] {
    return [join(this.dir, 'pgbouncer.ini')];
  }

  protected async answers(): Promise<boolean> {
    return /PgBouncer/.test(Object.values((await this.admin('SHOW VERSION'))[0] ?? {}).join(' '));
  }

  /** The pooler on the port names our pid file, and our pid file holds `pid`. */
  protected async isOwn(pid: number): Promise<boolean> {
    const config = await this.admin('SHOW CONFIG');
    const named = config.find((row) => row.key === 'pidfile')?.value;
    return named === this.pidFile && (await readFile(this.pidFile, 'utf8')).trim() === String(pid);
  }

  async admin(command: string): Promise<Array<Record<string, string | null>>> {
    return (await pgQuery(this.port, { user: USER, database: 'pgbouncer', query: command })).rows;
  }

  psql(sql: string): Promise<string> {
    return pgTool('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', HOST, '-p', String(this.port), '-U', USER, '-d', DATABASE, '-c', sql]);
  }
}

/** Starts a private pgbouncer in front of `options.postgres` and resolves once it answers as itself. */
export function startPgbouncer(options: StartPgbouncerOptions): Promise<PgbouncerServer> {
  const settings = { pool_mode: options.poolMode ?? 'transaction', default_pool_size: options.defaultPoolSize ?? 5, ...options.settings };
  return startServerProcess(async () => {
    const dir = await serverDir('pgbouncer', postgresUser());
    return new Instance(options.port ?? (await freePort()), dir, options.postgres, settings);
  }, options.port === undefined);
}

/**
 * A private PostgreSQL and a pgbouncer in front of it for a whole spec file (one hook: ava runs
 * hooks concurrently), both stopped in test.after.always. The getter throws if they are not up.
 */
export function usePgbouncer<Context = unknown>(
  test: TestFn<Context>,
  options: Omit<StartPgbouncerOptions, 'postgres'> & { postgresOptions?: StartPostgresOptions } = {},
): () => PgbouncerServer {
  const started = useStarted(test, async () => {
    const postgres = await startPostgres(options.postgresOptions);
    try {
      const pgbouncer = await startPgbouncer({ ...options, postgres });
      return { pgbouncer, stop: async () => { await pgbouncer.stop(); await postgres.stop(); } };
    } catch (error) {
      await postgres.stop();
      throw error;
    }
  }, 'usePgbouncer(): no server');
  return () => started().pgbouncer;
}
