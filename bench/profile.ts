import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startRedis } from '../spec/helpers/redisServer';
import { startPostgres, type PostgresServer } from '../spec/helpers/postgresServer';
import { ServerChild } from './child';
import { CONTENDERS, type Route } from './contenders';
import { summarize, type Entry } from './cpuprofile';
import { makeSessions } from './pool';
import { postgresCpuUs, statementTable } from './postgresStats';
import { runLoad, wrkVersion } from './wrk';
import { commitOf } from './commit';

// `node build/bench/profile.js [--contender ours-redis-lock] [--duration 10] [--connections 32]
//   [--routes /inc,/read] [--out bench/results/profile.md] [--keep DIR]`
// Profiles one contender's server with V8's CPU profiler (what `node --cpu-prof` runs), once per
// route in a fresh process, over a wrk window after the warm-up, and summarizes where the CPU went.
// A PostgreSQL contender gets the other side too: the private server's CPU per request (/proc)
// and its statements' plan and execution times (pg_stat_statements, track_planning on).

interface ProfileOptions {
  contender: string;
  duration: number;
  connections: number;
  routes: Route[];
  out: string;
  keep?: string;
}

function parse(argv: string[]): ProfileOptions {
  const options: ProfileOptions = { contender: 'ours-redis-lock', duration: 10, connections: 32, routes: ['/inc', '/read'], out: 'bench/results/profile.md' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--contender') options.contender = value;
    else if (flag === '--duration') options.duration = Math.min(120, Math.max(1, Number(value) || 10));
    else if (flag === '--connections') options.connections = Math.min(256, Math.max(1, Number(value) || 32));
    else if (flag === '--routes') options.routes = value.split(',') as Route[];
    else if (flag === '--out') options.out = value;
    else if (flag === '--keep') options.keep = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!CONTENDERS.some((c) => c.name === options.contender)) throw new Error(`unknown contender ${options.contender}`);
  return options;
}

const pct = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} %` : '');

function table(title: string, header: string, entries: Entry[]): string[] {
  const withTotal = entries.some((e) => e.total !== undefined);
  return [
    `**${title}**`, '',
    `| ${header} | share |${withTotal ? ' inclusive |' : ''}`,
    `| --- | ---: |${withTotal ? ' ---: |' : ''}`,
    ...entries.map((e) => `| \`${e.name.replace(/\|/g, '\\|')}\` | ${pct(e.share)} |${withTotal ? ` ${pct(e.total ?? NaN)} |` : ''}`),
    '',
  ];
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  const wrk = wrkVersion();
  const redis = await startRedis();
  let postgres: PostgresServer | undefined;
  const work = mkdtempSync(join(tmpdir(), 'ksm-profile-'));
  const profileDir = options.keep ?? join(work, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  const lines = [
    `# CPU profile: ${options.contender}`, '',
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · commit ${commitOf()} · Node ${process.version} · ${wrk} · ${options.connections} connections · ` +
      `${options.duration} s per route after a 2 s warm-up. V8's sampling CPU profiler (the one \`node --cpu-prof\` runs), ` +
      'started through node:inspector after the warm-up so that start-up is not in it; a sample every 1 ms; shares are of the busy samples.', '',
  ];
  try {
    if (CONTENDERS.find((c) => c.name === options.contender)?.postgres) {
      postgres = await startPostgres({ settings: { max_connections: 100, 'pg_stat_statements.track_planning': 'on' } });
    }
    for (const route of options.routes) {
      const name = `${options.contender}${route.replace(/\//g, '-')}.cpuprofile`;
      const dataDir = join(work, `data${route.replace(/\//g, '-')}`);
      let cpuMs = NaN;
      mkdirSync(dataDir);
      const server = await ServerChild.start(options.contender, {
        redisPort: redis.port,
        postgresUrl: postgres?.url,
        dataDir,
        maxSeconds: options.duration * 3 + 60,
      });
      try {
        const cookies = await makeSessions(server.url, options.connections);
        const load = { url: server.url, path: route, cookies, connections: options.connections, workDir: work };
        await runLoad({ ...load, seconds: 2 });
        await postgres?.psql('SELECT pg_stat_statements_reset()');
        await server.profileStart();
        const before = await server.usage();
        const pgBefore = postgres ? postgresCpuUs(postgres.pid) : 0;
        const result = await runLoad({ ...load, seconds: options.duration });
        const after = await server.usage();
        const pgAfter = postgres ? postgresCpuUs(postgres.pid) : 0;
        await server.profileStop(join(profileDir, name));
        const requests = Math.max(1, result.requests);
        const cpu = (after.cpuUs - before.cpuUs) / requests;
        const system = (after.systemUs - before.systemUs) / requests;
        cpuMs = (after.cpuUs - before.cpuUs) / 1000;
        process.stderr.write(`[profile] ${route}: ${result.rps.toFixed(0)} req/s, ${cpu.toFixed(1)} µs CPU per request (profiler on)\n`);
        lines.push(`## ${route}`, '', `${result.rps.toFixed(0)} req/s, ${cpu.toFixed(1)} µs server CPU per request with the profiler on ` +
          `(user ${(cpu - system).toFixed(1)} µs, system ${system.toFixed(1)} µs).`, '');
        if (postgres) {
          const pgCpu = (pgAfter - pgBefore) / requests;
          lines.push(`PostgreSQL (the postmaster and its backends, /proc): ${pgCpu.toFixed(1)} µs CPU per request.`, '',
            ...(await statementTable(postgres, requests, pgCpu)), '');
        }
      } finally {
        await server.stop();
      }
      const file = readdirSync(profileDir).find((f) => f === name);
      if (!file) throw new Error(`no profile written for ${route}`);
      const summary = summarize(join(profileDir, file));
      lines.push(`Busy ${summary.busyMs.toFixed(0)} ms sampled; idle ${summary.idleShare.toFixed(1)} % of the samples. ` +
        `The process used ${cpuMs.toFixed(0)} ms of CPU in the window: the sampler counts wall time, so when the busy samples exceed that, ` +
        'the difference is time the thread was ready but not on a core (other processes had it), and those samples land where it was ' +
        'preempted — mostly in `writev`, whose wake-up of the receiving process is where the scheduler switches.', '');
      lines.push(...table('Where the busy time goes', 'part', summary.breakdown));
      lines.push(...table('Our library\'s time, by its innermost function → what it was running', 'function → running', summary.ours));
      lines.push(...table('Self time by package', 'package', summary.packages));
      lines.push(...table('Top functions by self time (inclusive: the synchronous part of each call)', 'function', summary.functions));
    }
    const report = lines.join('\n');
    process.stdout.write(`${report}\n`);
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, report + '\n');
    process.stderr.write(`[profile] written to ${options.out}${options.keep ? `; profiles kept in ${options.keep}` : ''}\n`);
  } finally {
    await postgres?.stop();
    await redis.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
