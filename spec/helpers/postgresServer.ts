import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import { exchange, freePort, HOST, startServerProcess, useStarted } from './serverProcess';
import { parentPid } from './procfs';
import { installed, OwnedServerProcess, runAsUser, runTool, serverDir, template } from './ownedServer';
import type { PrivateServer, RunAs } from './serverProcess';

// Private PostgreSQL servers for specs (DESIGN.md, "Real servers in tests"): initdb once per
// process into a template, copied into each server's own temp dir; postgres on a free 127.0.0.1
// port, as the postgres user when this process is root; stopped by PID with its backends.
// Nothing here touches a server this module did not start, and nothing is found or killed by name.

export const MISSING = 'PostgreSQL not found: .ci/run installs it (apt-get install postgresql)';
/** The user and database the adapter specs connect as (trust auth: no password). */
export const USER = 'sessions';
export const DATABASE = 'sessions';
/** The superuser psql() connects as. */
export const SUPERUSER = 'postgres';

const POLL_INTERVAL_MS = 25;
/** Logins under load (a machine busy copying data dirs) can take over a second. */
const QUERY_TIMEOUT_MS = 5_000;
const PROBE_TIMEOUT_MS = 1_000;

/** The bin dir of the highest PostgreSQL under /usr/lib/postgresql (Debian), else none (PATH). */
function binDir(): string | undefined {
  let versions: string[] = [];
  try {
    versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v) && existsSync(`/usr/lib/postgresql/${v}/bin/postgres`));
  } catch {
    // not installed there
  }
  const highest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return highest === undefined ? undefined : `/usr/lib/postgresql/${highest}/bin`;
}

const bin = (tool: string) => {
  const dir = binDir();
  return dir === undefined ? tool : installed([join(dir, tool)], tool);
};

/** The defaults: small and fast, safe against a process crash (not an OS crash). */
const DEFAULT_SETTINGS: Settings = {
  listen_addresses: HOST,
  fsync: 'off',
  // With fsync off a synchronous commit is one write() to the kernel: "on" costs nothing and a
  // kill() keeps every committed row; "off" would lose the last ~0.6 s of commits to a crash.
  synchronous_commit: 'on',
  full_page_writes: 'off',
  max_connections: 50,
  shared_buffers: '32MB',
  shared_preload_libraries: 'pg_stat_statements',
  // Segments in the data dir (pg_dynshmem/), not in /dev/shm, where a killed server would leave them.
  dynamic_shared_memory_type: 'mmap',
};

export type Settings = Record<string, string | number | boolean>;

export interface StartPostgresOptions {
  /** The port to listen on; a free one when absent. A given port is never retried. */
  port?: number;
  /** Server settings (`-c name=value`) over the defaults, e.g. `{ statement_timeout: '2s', max_connections: 20 }`. */
  settings?: Settings;
  /** Extra postgres arguments, appended last. */
  args?: string[];
}

/** What `pg` (node-postgres) takes: `new Pool(server.connection)`. */
export interface PostgresConnection {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
}

/** One PostgreSQL server started by this module; `pid` is the postmaster's, `dir` holds `data/` and the Unix socket. */
export interface PostgresServer extends PrivateServer {
  /** `postgres://sessions@127.0.0.1:<port>/sessions` */
  readonly url: string;
  readonly connection: PostgresConnection;
  /** `psql -XAtq` as the superuser, database sessions: stdout, one row a line, columns split by `|`. */
  psql(sql: string): Promise<string>;
}

export interface PgReply {
  /** The backend's PID from BackendKeyData (PgBouncer sends a made-up one). */
  backendPid: number;
  /** The parent of that PID, read while the connection was open: the postmaster, for a real backend. */
  backendParent: number | undefined;
  /** The rows of `query`, by column name (values as text; SQL NULL as null); empty without a query. */
  rows: Array<Record<string, string | null>>;
}

export interface PgQueryOptions {
  user?: string;
  database?: string;
  /** One simple-protocol query sent after the login; without one, the reply ends at the login. */
  query?: string;
  timeoutMs?: number;
}

/**
 * Logs in over a fresh raw socket (protocol 3.0, trust auth), optionally runs one simple query,
 * and resolves what came back; rejects on an ErrorResponse, an auth request, a refused
 * connection, or no reply within `timeoutMs` (code ETIMEDOUT). For readiness checks and specs
 * that must not depend on a client library.
 */
export function pgQuery(port: number, { user = SUPERUSER, database = DATABASE, query, timeoutMs = QUERY_TIMEOUT_MS }: PgQueryOptions = {}): Promise<PgReply> {
  const params = Buffer.from(`user\0${user}\0database\0${database}\0client_encoding\0UTF8\0\0`);
  const startup = Buffer.alloc(8);
  startup.writeInt32BE(8 + params.length, 0);
  startup.writeInt32BE(196608, 4);
  let sent = false;
  return exchange({
    host: HOST,
    port,
    request: Buffer.concat([startup, params]),
    timeoutMs,
    timedOut: `no reply from postgres protocol on ${HOST}:${port} within ${timeoutMs} ms`,
    closed: `${HOST}:${port} closed the connection before ReadyForQuery`,
    parse: (received, send) => {
      const reply: PgReply = { backendPid: 0, backendParent: undefined, rows: [] };
      let columns: string[] = [];
      let ready = 0;
      for (let at = 0; at + 5 <= received.length;) {
        const type = String.fromCharCode(received[at]);
        const end = at + 1 + received.readInt32BE(at + 1);
        if (end > received.length) break;
        const body = received.subarray(at + 5, end);
        at = end;
        if (type === 'E') {
          const fields = new Map(body.toString('utf8').split('\0').filter(Boolean).map((f) => [f[0], f.slice(1)]));
          throw Object.assign(new Error(`${fields.get('S')}: ${fields.get('M')}`), { code: fields.get('C') });
        }
        if (type === 'R' && body.readInt32BE(0) !== 0) throw new Error(`${HOST}:${port} asks for a password (auth request ${body.readInt32BE(0)})`);
        if (type === 'K') {
          reply.backendPid = body.readInt32BE(0);
          reply.backendParent = parentPid(reply.backendPid);
        }
        if (type === 'T') columns = readColumns(body);
        if (type === 'D') reply.rows.push(readRow(body, columns));
        if (type === 'Z') ready++;
      }
      if (ready === 0 || (query !== undefined && ready < 2)) {
        if (ready === 1 && query !== undefined && !sent) {
          sent = true;
          const sql = Buffer.from(`${query}\0`);
          const message = Buffer.alloc(5);
          message.write('Q', 0);
          message.writeInt32BE(4 + sql.length, 1);
          send(Buffer.concat([message, sql]));
        }
        return undefined;
      }
      return reply;
    },
  });
}

function readColumns(body: Buffer): string[] {
  const columns: string[] = [];
  let at = 2;
  for (let i = 0; i < body.readInt16BE(0); i++) {
    const nul = body.indexOf(0, at);
    columns.push(body.toString('utf8', at, nul));
    at = nul + 1 + 18; // table oid, column number, type oid, size, modifier, format
  }
  return columns;
}

function readRow(body: Buffer, columns: string[]): Record<string, string | null> {
  const row: Record<string, string | null> = {};
  let at = 2;
  for (let i = 0; i < body.readInt16BE(0); i++) {
    const length = body.readInt32BE(at);
    at += 4;
    row[columns[i] ?? String(i)] = length < 0 ? null : body.toString('utf8', at, at + length);
    at += Math.max(length, 0);
  }
  return row;
}

/** The server user: postgres when this process is root. */
export const postgresUser = (): RunAs => runAsUser('postgres', MISSING);

/** Runs a PostgreSQL tool (psql, initdb, postgres --single) from the same installation. */
export function pgTool(tool: string, args: string[], options: { input?: string; owner?: RunAs; cwd?: string } = {}): Promise<string> {
  return runTool(bin(tool), args, { ...options.owner, cwd: options.cwd, input: options.input, missing: MISSING });
}

/** initdb once per process; then the sessions role and database, pg_stat_statements, in single-user mode. */
function dataTemplate(): Promise<string> {
  const owner = postgresUser();
  return template('postgres', owner, async (dir) => {
    const data = join(dir, 'data');
    await pgTool('initdb', ['-D', data, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions', '--wal-segsize=1'], { owner, cwd: dir });
    const single = async (database: string, statements: string[]) => {
      const out = await pgTool('postgres', ['--single', '-D', data, '-F', '-c', 'fsync=off', '-c', 'exit_on_error=on', database], {
        owner, cwd: dir, input: `${statements.join('\n')}\n`,
      });
      if (/\b(ERROR|FATAL):/.test(out)) throw new Error(`postgres --single ${database}: ${out}`);
    };
    await single('template1', [`CREATE ROLE ${USER} LOGIN`, `CREATE DATABASE ${DATABASE} OWNER ${USER}`, 'DROP DATABASE postgres']);
    await single(DATABASE, [
      'CREATE EXTENSION pg_stat_statements',
      // So that the adapter's own pg client may read and reset the counts too.
      `GRANT pg_read_all_stats TO ${USER}`,
      `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ${USER}`,
    ]);
  });
}

class Instance extends OwnedServerProcess implements PostgresServer {
  readonly url: string;
  readonly connection: PostgresConnection;

  constructor(port: number, dir: string, private readonly settings: Settings, private readonly extraArgs: string[]) {
    const kind = { binary: bin('postgres'), missing: MISSING, probe: 'a login', pollIntervalMs: POLL_INTERVAL_MS, stopSignal: 'SIGINT' as const, tree: true };
    super(kind, port, dir, postgresUser(), dataTemplate);
    this.url = `postgres://${USER}@${HOST}:${port}/${DATABASE}`;
    this.connection = { host: HOST, port, user: USER, database: DATABASE };
  }

  /**
   * A killed postmaster leaves its SysV segment (the one named in its postmaster.pid) behind, and
   * their number is limited (kernel.shmmni): removed (IPC_RMID, done once the last process detaches).
   */
  protected override afterKill(): void {
    try {
      const lines = readFileSync(join(this.dir, 'data', 'postmaster.pid'), 'utf8').split('\n');
      const shmid = lines[6]?.trim().split(/\s+/)[1];
      if (Number(lines[0]) === this.pid && shmid && /^\d+$/.test(shmid)) execFileSync('ipcrm', ['-m', shmid], { stdio: 'ignore' });
    } catch {
      // no pid file yet (killed early), or the segment is gone
    }
  }

  protected args(): string[] {
    const settings = { ...DEFAULT_SETTINGS, unix_socket_directories: this.dir, ...this.settings };
    return ['-D', join(this.dir, 'data'), '-p', String(this.port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]), ...this.extraArgs];
  }

  protected async answers(): Promise<boolean> {
    await pgQuery(this.port, { timeoutMs: PROBE_TIMEOUT_MS });
    return true;
  }

  protected async isOwn(pid: number): Promise<boolean> {
    const reply = await pgQuery(this.port, { query: 'SHOW data_directory', timeoutMs: PROBE_TIMEOUT_MS });
    return reply.backendParent === pid && reply.rows[0]?.data_directory === join(this.dir, 'data');
  }

  psql(sql: string): Promise<string> {
    return pgTool('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', HOST, '-p', String(this.port), '-U', SUPERUSER, '-d', DATABASE, '-c', sql]);
  }
}

/** Starts a private PostgreSQL on 127.0.0.1 and resolves once it answers a login as itself. */
export function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  return startServerProcess(async () => {
    const dir = await serverDir('postgres', postgresUser());
    return new Instance(options.port ?? (await freePort()), dir, options.settings ?? {}, options.args ?? []);
  }, options.port === undefined);
}

/** One private server for a whole spec file: started in test.before, stopped in test.after.always. */
export function usePostgres<Context = unknown>(test: TestFn<Context>, options?: StartPostgresOptions): () => PostgresServer {
  return useStarted(test, () => startPostgres(options), 'usePostgres(): no server');
}
