import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { PostgresServer } from '../spec/helpers/postgresServer';

// The PostgreSQL side of a window: statements from pg_stat_statements (the bench's private server
// preloads it; with pg_stat_statements.track = top, a statement a client sent is one round trip)
// and the CPU time of the postmaster and its backends from /proc.

/** Every statement clients sent, except the ones reading or resetting pg_stat_statements. */
const CALLS = "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'";

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** `[ppid, utime + stime, cutime + cstime]` of a process, in clock ticks; undefined when gone. */
function stat(pid: string): [number, number, number] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    return [Number(fields[1]), Number(fields[11]) + Number(fields[12]), Number(fields[13]) + Number(fields[14])];
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system) of the postmaster `pid` and its children (the backends, the background
 * workers), plus that of its children that have exited (the postmaster's cutime), µs.
 */
export function postgresCpuUs(pid: number): number {
  const own = stat(String(pid));
  if (!own) return NaN;
  let total = own[1] + own[2];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(entry);
    if (s && s[0] === pid) total += s[1];
  }
  return (total * 1e6) / clockTicks();
}

/** Statements clients sent so far (pg_stat_statements, top level; the stats queries left out). */
export async function postgresStatements(server: PostgresServer): Promise<number> {
  return Number((await server.psql(CALLS)).trim());
}

/** Statements (round trips) clients sent while `work` ran: pg_stat_statements reset, then summed. */
export async function countStatements(server: PostgresServer, work: () => Promise<void>): Promise<number> {
  await server.psql('SELECT pg_stat_statements_reset()');
  await work();
  return postgresStatements(server);
}

/** `SHOW server_version`, or '?'. */
export async function postgresVersion(server: PostgresServer): Promise<string> {
  return (await server.psql('SHOW server_version').catch(() => '?')).trim().split(' ')[0];
}

/**
 * The statements since the last reset, heaviest first, as Markdown: calls per request and the
 * mean planning and execution time of each (pg_stat_statements, wall-clock; planning needs
 * `pg_stat_statements.track_planning = on`), with their sum per request beside the server's CPU
 * per request (`cpuUsPerRequest`).
 */
export async function statementTable(server: PostgresServer, requests: number, cpuUsPerRequest: number): Promise<string[]> {
  const rows = (await server.psql(
    'SELECT calls, total_plan_time, total_exec_time, rows, left(regexp_replace(query, \'\\s+\', \' \', \'g\'), 90) FROM pg_stat_statements ' +
      "WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_plan_time + total_exec_time DESC LIMIT 8",
  )).split('\n').filter(Boolean).map((line) => {
    const [calls, plan, exec, rowCount, ...query] = line.split('|');
    return { calls: Number(calls), planMs: Number(plan), execMs: Number(exec), rows: Number(rowCount), query: query.join('|') };
  });
  const us = (ms: number, calls: number) => ((1000 * ms) / Math.max(1, calls)).toFixed(1);
  const perRequest = rows.reduce((sum, r) => sum + (1000 * (r.planMs + r.execMs)) / requests, 0);
  return [
    '| statement | calls/req | plan µs (mean) | exec µs (mean) | rows/call |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| \`${r.query.replace(/\|/g, '\\|')}…\` | ${(r.calls / requests).toFixed(2)} | ${us(r.planMs, r.calls)} | ${us(r.execMs, r.calls)} | ${(r.rows / Math.max(1, r.calls)).toFixed(2)} |`),
    '',
    `Planning + execution: ${perRequest.toFixed(1)} µs per request, beside ${cpuUsPerRequest.toFixed(1)} µs of PostgreSQL CPU per request. ` +
      'pg_stat_statements times are wall-clock inside the backend, so on a machine short of cores they include waits for one; ' +
      'on a quiet one the CPU beyond them is parsing and analysis (an unnamed statement is parsed and planned on every call, a named one once per connection), ' +
      'commit (WAL, NOTIFY), the protocol and the kernel.',
  ];
}
