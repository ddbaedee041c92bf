import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startRedis, type RedisServer } from '../spec/helpers/redisServer';
import { startPostgres, type PostgresServer } from '../spec/helpers/postgresServer';
import { OURS_LOCKED, OURS_PG_LOCKED, PG_RIVAL, roundOrder, selectContenders, STRONGEST_RIVAL, type Route } from './contenders';
import { measureGc } from './extras/gc';
import { measureHandoff } from './extras/handoff';
import { contended, contendedJar, measure, prepare, refreshPool, roundTrips, sanityCheck, warmUp, type Prepared, type Sample, type Setup } from './measure';
import { parseOptions, type BenchOptions } from './options';
import { postgresVersion } from './postgresStats';
import { renderReport, type Machine, type Results } from './report';
import { wrkVersion } from './wrk';
import { commitOf } from './commit';

// `npm run bench`: a private redis-server (and a private PostgreSQL when a contender uses it), then
// every contender's server in its own process, loaded by wrk in interleaved rounds; then the
// extras (lock hand-off, file gc); then the report.

/** Contenders whose one-session contention is shown (the cookie store and the ceilings are not). */
const CONTENDED = [OURS_LOCKED, 'ours-file', 'ours-redis', STRONGEST_RIVAL, 'express-session', 'fastify-session', OURS_PG_LOCKED, PG_RIVAL];

/** The private PostgreSQL: the pools of the contenders (10 + LISTEN each), psql, and room to spare. */
const POSTGRES_SETTINGS = { max_connections: 100 };

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  } catch {
    return 'unknown CPU';
  }
}

const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');

async function machine(redis: RedisServer, postgres: PostgresServer | undefined, wrk: string, commit: string, loadBefore: string): Promise<Machine> {
  const info = await redis.info('server').catch(() => '');
  let date = new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  try {
    date = `${execFileSync('date', ['-u', '+%Y-%m-%d %H:%M UTC'], { encoding: 'utf8' }).trim()}`;
  } catch {
    // the ISO date above
  }
  return {
    date,
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    postgres: postgres ? await postgresVersion(postgres) : undefined,
    wrk,
    commit,
    loadBefore,
    loadAfter: load(),
    serverFlags: process.env.BENCH_SERVER_FLAGS?.trim() ?? '',
  };
}

async function rounds(prepared: Prepared[], options: BenchOptions, setup: Setup): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const order = roundOrder(prepared, round);
    log(`round ${round}/${options.rounds}: ${order.length} windows of ${options.duration} s`);
    for (const { p, route } of order) {
      await refreshPool(p, setup);
      const sample = await measure(p, route, round, setup, options.duration);
      if (sample.errors > 0) log(`  ${p.contender.name} ${route}: ${sample.errors} errors`);
      samples.push(sample);
    }
  }
  return samples;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const wrk = wrkVersion();
  let contenders = selectContenders(options.contenders);
  const started = performance.now();
  const loadBefore = load();
  const commit = commitOf(); // when the servers load lib/, not when the report is written
  const perWindow = options.duration + 1;
  const withPostgres = contenders.some((c) => c.postgres);
  const contendedCount = contenders.filter((c) => c.carried || CONTENDED.includes(c.name)).length;
  const expected = contenders.length * (2 * options.warmup + 2 * perWindow * options.rounds + 2) + contendedCount * options.duration +
    options.handoffSeconds * 2 + 60 + (withPostgres ? 30 : 0);
  log(`${contenders.length} contenders × 2 routes × ${options.rounds} rounds × ${options.duration} s, ${options.connections} connections (about ${Math.ceil(expected / 60)} min)`);

  // The safety net: the whole run is bounded, whatever hangs.
  setTimeout(() => {
    log(`still running after ${Math.ceil(expected * 3)} s: giving up`);
    process.exit(2);
  }, expected * 3 * 1000).unref();
  const redis = await startRedis();
  const workDir = mkdtempSync(join(tmpdir(), 'ksm-bench-'));
  const setup: Setup = { redisPort: redis.port, connections: options.connections, workDir, maxSeconds: Math.ceil(expected * 2 + 120) };
  const prepared: Prepared[] = [];
  const problems: string[] = [];
  let postgres: PostgresServer | undefined;
  try {
    if (withPostgres) {
      try {
        postgres = await startPostgres({ settings: POSTGRES_SETTINGS });
        setup.postgres = postgres;
        log(`PostgreSQL on port ${postgres.port} (postmaster PID ${postgres.pid})`);
      } catch (error) {
        // Named on the command line: that is an error. In the default set: run the others, and say so.
        if (options.contenders) throw error;
        const skipped = contenders.filter((c) => c.postgres).map((c) => c.name);
        contenders = contenders.filter((c) => !c.postgres);
        const problem = `PostgreSQL did not start (${(error as Error).message.split('\n')[0]}): ${skipped.join(', ')} not run`;
        log(problem);
        problems.push(problem);
      }
    }
    for (const contender of contenders) {
      const dataDir = join(workDir, contender.name);
      mkdirSync(dataDir, { mode: 0o700 });
      const p = await prepare(contender, setup, dataDir);
      prepared.push(p);
      log(`${contender.name}: listening on ${p.server.port}, ${p.cookies.length} sessions; warming up`);
      await warmUp(p, setup, options.warmup);
    }
    const samples = await rounds(prepared, options, setup);

    const trips = new Map<string, Record<Route, number>>();
    const rssMb = new Map<string, number>();
    const cookieBytes = new Map<string, number>();
    const results: Results['contended'] = [];
    for (const p of prepared) {
      const problem = await sanityCheck(p);
      if (problem) problems.push(problem);
      // The Cookie header of a session holding n = 1 (every cookie of it, names included).
      cookieBytes.set(p.contender.name, Buffer.byteLength(p.cookies[0] ?? ''));
      if (p.contender.redis || p.contender.postgres) trips.set(p.contender.name, await roundTrips(p, setup));
      if (CONTENDED.includes(p.contender.name)) results.push(await contended(p, setup, options.duration));
      if (p.contender.carried) {
        const jar = await contendedJar(p, options.connections, options.duration);
        if (jar.errors) problems.push(`${p.contender.name}: ${jar.errors} failed requests in the one-session cookie-jar run`);
        results.push(jar);
      }
      rssMb.set(p.contender.name, (await p.server.usage()).maxRssKb / 1024);
    }
    for (const s of samples) if (s.errors > 0) problems.push(`${s.contender} ${s.route} round ${s.round}: ${s.errors} wrk errors`);
    const notes = new Map(prepared.map((p) => [p.contender.name, p.server.notes]));
    await Promise.all(prepared.splice(0).map((p) => p.server.stop()));

    let handoff: Results['handoff'] = [];
    if (options.handoffClients > 0) {
      log(`lock hand-off: ${options.handoffClients} clients, ${options.handoffSeconds} s × 2`);
      handoff = await measureHandoff(redis.port, options.handoffClients, options.handoffSeconds);
    }
    let gc: Results['gc'];
    if (options.gcFiles > 0) {
      log(`file gc: making ${options.gcFiles} session files`);
      gc = await measureGc(options.gcFiles);
    }

    const report = renderReport({
      machine: await machine(redis, postgres, wrk, commit, loadBefore),
      rounds: options.rounds,
      duration: options.duration,
      warmup: options.warmup,
      connections: options.connections,
      elapsedS: (performance.now() - started) / 1000,
      contenders,
      samples,
      roundTrips: trips,
      rssMb,
      cookieBytes,
      notes,
      contended: results,
      handoff,
      gc,
      problems,
    });
    process.stdout.write(`\n${report}`);
    if (options.out) {
      mkdirSync(dirname(options.out), { recursive: true });
      writeFileSync(options.out, report);
      log(`written to ${options.out}`);
    }
  } finally {
    await Promise.all(prepared.map((p) => p.server.stop()));
    await postgres?.stop();
    await redis.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 1;
});
