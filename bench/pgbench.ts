import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTableSql, statements } from '../lib/postgres/statements';
import { pgTool, startPostgres, type PostgresServer } from '../spec/helpers/postgresServer';
import { postgresCpuUs, postgresVersion } from './postgresStats';
import { median } from './stats';

// `node build/bench/pgbench.js [--seconds 5] [--clients 8] [--rounds 2] [--out FILE]`
// The PostgreSQL side of the PostgreSQL contenders alone: each route's statements, as the
// adapter and connect-pg-simple send them, run by pgbench against a private server (one session
// per client, no contention), so that the server's CPU per request can be split by cause.
// `-M extended` is what node-postgres does for a query without a name (Parse, Bind, Execute,
// Sync each time: parsed and planned every call); `-M prepared` is the same statements as named
// prepared statements (parsed once, generic plans after five calls). Variants: ours with and
// without the `pg_notify` of every release. The server's CPU (postmaster and backends, /proc)
// over the transactions is the number; pgbench's own CPU is not in it.

interface Options { seconds: number; clients: number; rounds: number; out: string }

function parse(argv: string[]): Options {
  const options: Options = { seconds: 5, clients: 8, rounds: 2, out: '' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--seconds') options.seconds = Math.min(20, Math.max(1, Number(value) || 5));
    else if (flag === '--clients') options.clients = Math.min(32, Math.max(1, Number(value) || 8));
    else if (flag === '--rounds') options.rounds = Math.min(10, Math.max(1, Number(value) || 2));
    else if (flag === '--out') options.out = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

const OURS = '"sessions"';
const THEIRS = '"session"';
const ours = statements(OURS);
/** connect-pg-simple 10's statements (node_modules/connect-pg-simple/index.js), its table quoted as it quotes it. */
const theirs = {
  get: `SELECT sess FROM ${THEIRS} WHERE sid = $1 AND expire >= to_timestamp($2)`,
  set: `INSERT INTO ${THEIRS} (sess, expire, sid) SELECT $1, to_timestamp($2), $3 ON CONFLICT (sid) DO UPDATE SET sess=$1, expire=to_timestamp($2) RETURNING sid`,
  touch: `UPDATE ${THEIRS} SET expire = to_timestamp($1) WHERE sid = $2 RETURNING sid`,
};

/** `sql` with its $1…$n replaced by pgbench variables (sent as parameters in extended and prepared mode). */
function bind(sql: string, names: string[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => `:${names[Number(n) - 1]}`).replace(/\s+/g, ' ') + ';';
}

const withoutNotify = (sql: string) => sql.replace(/pg_notify\(\$6, \$1\)::text/, 'NULL::text');
/** writeUnlock's UPDATE alone (no CTE, no count, no pg_notify): what the statement's shape costs. */
const plainUpdate = (sql: string) => {
  const inner = /^WITH u AS \(([\s\S]*) RETURNING 1\)/.exec(sql)?.[1];
  if (!inner) throw new Error('writeUnlock is no longer WITH u AS (UPDATE … RETURNING 1): update bench/pgbench.ts');
  return `${inner} RETURNING 1`;
};

/**
 * writeUnlock keeping a stored expiry that is within the slack ($7 ms) short of a full lifetime,
 * as `read` does (one beyond the full lifetime is still set): `expires_at` is indexed, so a write
 * that changes it cannot be a HOT update (both indexes get a new entry); one that keeps it can.
 */
const keepExpiry = (sql: string) => {
  const set = "expires_at = now() + $3::float8 * interval '1 millisecond'";
  if (!sql.includes(set)) throw new Error('writeUnlock no longer sets expires_at to now() + $3 ms: update bench/pgbench.ts');
  return sql.replace(set, "expires_at = CASE WHEN s.expires_at BETWEEN now() + ($3::float8 - $7::float8) * interval '1 millisecond' " +
    "AND now() + $3::float8 * interval '1 millisecond' THEN s.expires_at ELSE now() + $3::float8 * interval '1 millisecond' END");
};

/** lockRead as a plain UPDATE of an existing row (what the INSERT … ON CONFLICT costs over it; a new id would need more). */
const lockUpdate = `UPDATE ${OURS} s SET lock_token = $2, lock_expires_at = now() + $3::float8 * interval '1 millisecond'
WHERE s.id = $1 AND (s.lock_token IS NULL OR s.lock_expires_at <= now()) RETURNING CASE WHEN s.expires_at > now() THEN s.data END AS data`;

/** Each variant: the statements of one request, one per line of its pgbench script. */
const VARIANTS: Array<{ name: string; route: string; mode: 'extended' | 'prepared'; script: string[] }> = [];
for (const mode of ['extended', 'prepared'] as const) {
  VARIANTS.push(
    { name: 'ours: lockRead + writeUnlock', route: '/inc', mode, script: [bind(ours.lockRead, ['client_id', 'token', 'lockms']), bind(ours.writeUnlock, ['client_id', 'data', 'ttlms', 'token', 'yes', 'channel'])] },
    { name: 'ours, no pg_notify in writeUnlock', route: '/inc', mode, script: [bind(ours.lockRead, ['client_id', 'token', 'lockms']), bind(withoutNotify(ours.writeUnlock), ['client_id', 'data', 'ttlms', 'token', 'yes', 'channel'])] },
    { name: 'ours, writeUnlock as a plain UPDATE (no CTE, no pg_notify)', route: '/inc', mode, script: [bind(ours.lockRead, ['client_id', 'token', 'lockms']), bind(plainUpdate(ours.writeUnlock), ['client_id', 'data', 'ttlms', 'token', 'yes'])] },
    { name: 'ours, writeUnlock keeping the expiry within the slack (HOT)', route: '/inc', mode, script: [bind(ours.lockRead, ['client_id', 'token', 'lockms']), bind(keepExpiry(ours.writeUnlock), ['client_id', 'data', 'ttlms', 'token', 'yes', 'channel', 'slackms'])] },
    { name: 'ours, lockRead as a plain UPDATE (an existing row only)', route: '/inc', mode, script: [bind(lockUpdate, ['client_id', 'token', 'lockms']), bind(ours.writeUnlock, ['client_id', 'data', 'ttlms', 'token', 'yes', 'channel'])] },
    { name: 'connect-pg-simple: get + set', route: '/inc', mode, script: [bind(theirs.get, ['client_id', 'now']), bind(theirs.set, ['sess', 'expire', 'client_id'])] },
    { name: 'ours: read (touch within the slack: none)', route: '/read', mode, script: [bind(ours.read, ['client_id', 'ttlms', 'slackms'])] },
    { name: 'connect-pg-simple: get + touch', route: '/read', mode, script: [bind(theirs.get, ['client_id', 'now']), bind(theirs.touch, ['expire', 'client_id'])] },
  );
}

async function reset(pg: PostgresServer, clients: number): Promise<void> {
  await pg.psql(`TRUNCATE ${OURS}, ${THEIRS};
INSERT INTO ${OURS} (id, data, expires_at) SELECT g::text, '\\x7b226e223a317d'::bytea, now() + interval '1 hour' FROM generate_series(0, ${clients - 1}) g;
INSERT INTO ${THEIRS} (sid, sess, expire) SELECT g::text, '{"cookie":{"originalMaxAge":3600000,"expires":"2030-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"n":1}', now() + interval '1 hour' FROM generate_series(0, ${clients - 1}) g`);
  await pg.psql(`VACUUM ANALYZE ${OURS}`); // not inside the implicit transaction of a multi-statement -c
  await pg.psql(`VACUUM ANALYZE ${THEIRS}`);
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'ksm-pgbench-'));
  const pg = await startPostgres({ settings: { max_connections: 100 } });
  try {
    await pg.psql(createTableSql(OURS, 'sessions'));
    await pg.psql(`CREATE TABLE ${THEIRS} (sid varchar NOT NULL COLLATE "default" PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL);
CREATE INDEX "IDX_session_expire" ON ${THEIRS} ("expire")`);
    await pg.psql('ALTER TABLE "sessions" OWNER TO sessions; ALTER TABLE "session" OWNER TO sessions');
    const expire = Math.ceil(Date.now() / 1000) + 3600;
    const define = {
      token: 'bench-token', lockms: '30000', ttlms: '3600000', slackms: '60000', yes: 'true', channel: 'ksm_sessions',
      data: '\\x7b226e223a327d', now: String(Date.now() / 1000), expire: String(expire),
      sess: '{"cookie":{"originalMaxAge":3600000,"expires":"2030-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"n":2}',
    };
    const results = new Map<number, Array<{ tps: number; cpuUs: number }>>();
    for (let round = 1; round <= options.rounds; round++) {
      for (const [index, v] of VARIANTS.entries()) {
        await reset(pg, options.clients);
        await new Promise((resolve) => setTimeout(resolve, 500)); // psql's backends reaped too
        const file = join(work, `v${index}.sql`);
        writeFileSync(file, v.script.join('\n') + '\n');
        const before = postgresCpuUs(pg.pid);
        const out = await pgTool('pgbench', [
          '-n', '-h', pg.host, '-p', String(pg.port), '-U', 'sessions', 'sessions', '-M', v.mode, '-c', String(options.clients), '-j', '1',
          '-T', String(options.seconds), '-f', file, ...Object.entries(define).flatMap(([k, value]) => ['-D', `${k}=${value}`]),
        ]);
        // pgbench's backends have exited: once the postmaster has reaped them, their CPU is in its cutime.
        await new Promise((resolve) => setTimeout(resolve, 500));
        const after = postgresCpuUs(pg.pid);
        const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? NaN);
        const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
        if (failed > 0) throw new Error(`${v.name} (${v.mode}): ${failed} failed transactions\n${out}`);
        const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);
        const list = results.get(index) ?? [];
        list.push({ tps, cpuUs: (after - before) / Math.max(1, transactions) });
        results.set(index, list);
        process.stderr.write(`[pgbench] round ${round}: ${v.route} ${v.name}, ${v.mode}: ${tps.toFixed(0)} tps, ${list.at(-1)!.cpuUs.toFixed(1)} µs\n`);
      }
    }
    const lines = [
      `pgbench against a private PostgreSQL ${await postgresVersion(pg)}: ${options.clients} clients (one session each, no contention), ` +
        `${options.seconds} s per variant, ${options.rounds} interleaved rounds (medians); server CPU = postmaster + backends (/proc) per request.`,
      '',
      '| route | statements | -M extended (as pg sends them): µs/req · tps | -M prepared (named): µs/req · tps |',
      '| --- | --- | ---: | ---: |',
    ];
    const half = VARIANTS.length / 2;
    for (let i = 0; i < half; i++) {
      const cell = (j: number) => {
        const r = results.get(j) ?? [];
        return `${median(r.map((x) => x.cpuUs)).toFixed(0)} · ${median(r.map((x) => x.tps)).toFixed(0)}`;
      };
      lines.push(`| ${VARIANTS[i].route} | ${VARIANTS[i].name} | ${cell(i)} | ${cell(i + half)} |`);
    }
    const report = lines.join('\n') + '\n';
    process.stdout.write(report);
    if (options.out) writeFileSync(options.out, report);
  } finally {
    await pg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
