import { BARE, COOKIE_RIVAL, FILE_RIVAL, OURS_FILE, RAW_FILE_FLOOR, RAW_LIMIT, RAW_FLOOR, RAW_TOKEN_FLOOR, OURS_ENCRYPTED, OURS_ENCRYPTED_JOSE5, OURS_LOCKED, OURS_PG_LOCKED, OURS_SIGNED, OURS_SIGNED_JOSE5, OURS_SIGNED_NOCACHE, PG_RIVAL, STRONGEST_RIVAL, ROUTES, type Contender, type Route } from './contenders';
import type { GcResult } from './extras/gc';
import type { HandoffResult } from './extras/handoff';
import type { Contended, Sample } from './measure';
import { max, median, min } from './stats';

export interface Machine {
  date: string;
  cpus: number;
  cpuModel: string;
  node: string;
  redis: string;
  /** The private PostgreSQL's version, when one was started. */
  postgres?: string;
  wrk: string;
  /** The commit measured (`+lib changes` when lib/ differs from it). */
  commit: string;
  loadBefore: string;
  loadAfter: string;
  /** `BENCH_SERVER_FLAGS`: the Node flags every contender's server ran with ('' for none). */
  serverFlags?: string;
}

export interface Results {
  machine: Machine;
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  elapsedS: number;
  contenders: Contender[];
  samples: Sample[];
  /** Round trips per request by contender and route (MONITOR or pg_stat_statements pass), for the Redis and PostgreSQL contenders. */
  roundTrips: Map<string, Record<Route, number>>;
  rssMb: Map<string, number>;
  /** Bytes of the Cookie header a client sends back for a session holding n = 1, by contender. */
  cookieBytes: Map<string, number>;
  notes: Map<string, string[]>;
  contended: Contended[];
  handoff: HandoffResult[];
  gc?: GcResult;
  problems: string[];
}

const f = (value: number, digits = 0): string => (Number.isFinite(value) ? value.toFixed(digits) : '–');

function of(r: Results, contender: string, route: Route): Sample[] {
  return r.samples.filter((s) => s.contender === contender && s.route === route).sort((a, b) => a.round - b.round);
}

/** Per round, `contender`'s req/s over `base`'s on the same route. */
function ratios(r: Results, contender: string, base: string, route: Route): number[] {
  const baseByRound = new Map(of(r, base, route).map((s) => [s.round, s.rps]));
  return of(r, contender, route).flatMap((s) => (baseByRound.has(s.round) ? [s.rps / baseByRound.get(s.round)!] : []));
}

/** Per round, `base`'s server CPU per request over `contender`'s: the req/s ratio if each had a core to itself. */
function cpuRatios(r: Results, contender: string, base: string, route: Route): number[] {
  const baseByRound = new Map(of(r, base, route).map((s) => [s.round, s.cpuUs]));
  return of(r, contender, route).flatMap((s) => (baseByRound.has(s.round) ? [baseByRound.get(s.round)! / s.cpuUs] : []));
}

/** "met" only when every round meets the target; the median decides "likely". */
function verdict(values: number[], meets: (v: number) => boolean): string {
  if (values.length === 0) return 'not measured';
  const k = values.filter(meets).length;
  if (k === values.length) return `**met** (${k}/${values.length} rounds)`;
  if (k === 0) return `**not met** (0/${values.length} rounds)`;
  return meets(median(values)) ? `met in the median (${k}/${values.length} rounds)` : `not met in the median (${k}/${values.length} rounds)`;
}

function mainTable(r: Results): string[] {
  const lines = [
    '| contender | route | req/s median | min–max | × bare Koa (req/s) | × bare Koa (CPU) | p50 ms | p99 ms | CPU µs/req | store cmds/req | round trips/req | store CPU µs/req | peak RSS MB |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of r.contenders) {
    for (const route of ROUTES) {
      const s = of(r, c.name, route);
      const rps = s.map((x) => x.rps);
      const trips = r.roundTrips.get(c.name)?.[route];
      const store = (value: number, digits: number) => (c.redis || c.postgres ? f(value, digits) : '–');
      lines.push(`| ${c.name} | ${route} | ${f(median(rps))} | ${f(min(rps))}–${f(max(rps))} | ${range(ratios(r, c.name, BARE, route))} | ` +
        `${range(cpuRatios(r, c.name, BARE, route))} | ${f(median(s.map((x) => x.p50)), 2)} | ${f(median(s.map((x) => x.p99)), 2)} | ` +
        `${f(median(s.map((x) => x.cpuUs)), 1)} | ${store(median(s.map((x) => x.storeCmds)), 2)} | ${trips === undefined ? '–' : f(trips, 2)} | ` +
        `${store(median(s.map((x) => x.storeCpuUs)), 1)} | ${f(r.rssMb.get(c.name) ?? NaN)} |`);
    }
  }
  return lines;
}

function targets(r: Results): string[] {
  const has = r.contenders.some((c) => c.name === OURS_LOCKED);
  if (!has) return ['(ours-redis-lock was not run: no targets checked)'];
  const cpu = (route: Route) => of(r, OURS_LOCKED, route).map((s) => s.cpuUs);
  const trips = r.roundTrips.get(OURS_LOCKED);
  const handoff = r.handoff[0];
  const ratio = (base: string, route: Route, target: number): [string, string, string, string] => {
    const values = ratios(r, OURS_LOCKED, base, route);
    return [`${route} ≥ ${target} × ${base}`, listRatio(values), listRatio(cpuRatios(r, OURS_LOCKED, base, route)), verdict(values, (v) => v >= target)];
  };
  const cpuRow = (route: Route, limit: number): [string, string, string, string] => {
    const values = cpu(route);
    return [`server CPU ≤ ${limit} µs per ${route}`, `${f(median(values), 1)} µs (${f(min(values), 1)}–${f(max(values), 1)})`, '', verdict(values, (v) => v <= limit)];
  };
  const single = (target: string, value: number | undefined, text: string, meets: (v: number) => boolean): [string, string, string, string] =>
    [target, value === undefined ? '–' : text, '', value === undefined ? 'not measured' : meets(value) ? '**met**' : '**not met**'];
  const rows = [
    ratio(STRONGEST_RIVAL, '/inc', 1.3),
    ratio(BARE, '/inc', 0.55),
    ratio(BARE, '/read', 0.8),
    cpuRow('/inc', 55),
    cpuRow('/read', 40),
    single('≤ 1 Redis round trip per read-only request', trips?.['/read'], f(trips?.['/read'] ?? NaN, 2), (v) => v <= 1),
    single('≤ 2 Redis round trips per locked write', trips?.['/inc'], f(trips?.['/inc'] ?? NaN, 2), (v) => v <= 2),
    single('lock hand-off median < 2 ms', handoff?.p50, `${f(handoff?.p50 ?? NaN, 2)} ms (p99 ${f(handoff?.p99 ?? NaN, 2)} ms)`, (v) => v < 2),
  ];
  return [
    `Targets of issue #6 for \`${OURS_LOCKED}\` (ratios per round: median and range; "met" = in every round). ` +
      'The CPU column is the same ratio computed from server CPU per request, which other load on the machine moves less.',
    '',
    '| target | measured | by server CPU | verdict |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

/** `/inc` req/s of ours-file over bare Koa in the README's table when issue #17 was filed (2 768 / 43 171). */
const FILE_INC_RATIO_BEFORE = 0.064;

/**
 * Issue #17: ours against the physical limits, each ratio per round: Redis against a Koa route
 * doing nothing but ioredis GET (+SET) on a plain client, the files against bare Koa and against
 * express-session + session-file-store.
 */
function limitTargets(r: Results): string[] {
  const has = (name: string) => r.contenders.some((c) => c.name === name);
  // `floor`: the same store's protocol from a hand-written route, no session layer. When the
  // target is not met in the median and the floor's own median misses it too, no session layer
  // over that protocol can meet it in this run: the verdict says so, with the floor's ratio.
  const row = (contender: string, base: string, route: Route, target: number, label: string, floor?: string): string[] => {
    if (!has(contender) || !has(base)) return [label, '–', '', `not measured (${has(contender) ? base : contender} was not run)`];
    const values = ratios(r, contender, base, route);
    let judged = verdict(values, (v) => v >= target);
    if (floor !== undefined && has(floor) && median(values) < target) {
      const bound = median(ratios(r, floor, base, route));
      if (bound < target) judged += `; bounded: ${floor} itself reaches ${f(bound, 3)}×`;
    }
    return [label, listRatio(values), listRatio(cpuRatios(r, contender, base, route)), judged];
  };
  const fileTarget = 2 * FILE_INC_RATIO_BEFORE;
  const rows = [
    row(OURS_LOCKED, RAW_LIMIT, '/inc', 0.75, `${OURS_LOCKED} /inc ≥ 0.75 × ${RAW_LIMIT}`, RAW_FLOOR),
    row(OURS_LOCKED, RAW_LIMIT, '/read', 0.9, `${OURS_LOCKED} /read ≥ 0.9 × ${RAW_LIMIT}`, RAW_FLOOR),
    row(OURS_FILE, BARE, '/inc', fileTarget, `${OURS_FILE} /inc ≥ ${f(fileTarget, 3)} × ${BARE} (2 × the ${FILE_INC_RATIO_BEFORE} of the issue)`, RAW_FILE_FLOOR),
    row(OURS_FILE, FILE_RIVAL, '/inc', 1, `${OURS_FILE} /inc ahead of ${FILE_RIVAL}`),
    row(OURS_FILE, FILE_RIVAL, '/read', 1, `${OURS_FILE} /read ahead of ${FILE_RIVAL}`),
    row(OURS_FILE, BARE, '/read', 0.4, `${OURS_FILE} /read ≥ 0.4 × ${BARE}`, RAW_FILE_FLOOR),
  ];
  // What bounds the two Redis targets, in the same run: our protocol without the session layer.
  const share = (contender: string, base: string, route: Route, label: string): string[] =>
    (has(contender) && has(base)
      ? [label, listRatio(ratios(r, contender, base, route)), listRatio(cpuRatios(r, contender, base, route))]
      : [label, '–', `not measured (${has(contender) ? base : contender} was not run)`]);
  const bounds = [
    share(RAW_FLOOR, RAW_LIMIT, '/inc', `${RAW_FLOOR} /inc × ${RAW_LIMIT}: our scripts (lock, read, fenced write, release), no session layer`),
    share(RAW_FLOOR, RAW_LIMIT, '/read', `${RAW_FLOOR} /read × ${RAW_LIMIT}: our read (GETEX: GET + the sliding TTL), no session layer`),
    share(OURS_LOCKED, RAW_FLOOR, '/inc', `${OURS_LOCKED} /inc × ${RAW_FLOOR}: the session layer's share`),
    share(OURS_LOCKED, RAW_FLOOR, '/read', `${OURS_LOCKED} /read × ${RAW_FLOOR}: the session layer's share`),
  ];
  const fileBounds = [
    share(RAW_FILE_FLOOR, BARE, '/inc', `${RAW_FILE_FLOOR} /inc × ${BARE}: our locked write's system calls (claim, lock, read, temp write, fence, update check, rename, release), no session layer`),
    share(RAW_FILE_FLOOR, BARE, '/read', `${RAW_FILE_FLOOR} /read × ${BARE}: our read's system calls (open, fstat, read, close), no session layer`),
    share(OURS_FILE, RAW_FILE_FLOOR, '/inc', `${OURS_FILE} /inc × ${RAW_FILE_FLOOR}: the session layer's share`),
    share(OURS_FILE, RAW_FILE_FLOOR, '/read', `${OURS_FILE} /read × ${RAW_FILE_FLOOR}: the session layer's share`),
  ];
  return [
    'Targets of issue #17 (ratios per round: median and range; "met" = in every round). The CPU column is the same ratio from server CPU per request. ' +
      '"bounded": the same store\'s protocol without any session layer (the tables below) misses the target too. More: docs/benchmarks.md, "Issue #17".',
    '',
    '| target | measured | by server CPU | verdict |',
    '| --- | --- | --- | --- |',
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
    '',
    'Where the Redis ratios go (same run): the protocol our guarantees need, and the session layer on top of it.',
    '',
    '| ratio | measured | by server CPU |',
    '| --- | --- | --- |',
    ...bounds.map((cells) => `| ${cells.join(' | ')} |`),
    '',
    'Where the file ratios go (same run): the system calls of our file protocol, and the session layer on top of them.',
    '',
    '| ratio | measured | by server CPU |',
    '| --- | --- | --- |',
    ...fileBounds.map((cells) => `| ${cells.join(' | ')} |`),
    '',
  ];
}

/** Issue #13: ours on PostgreSQL with locking against express-session + connect-pg-simple. */
function postgresTargets(r: Results): string[] {
  const has = (name: string) => r.contenders.some((c) => c.name === name);
  if (!has(OURS_PG_LOCKED) || !has(PG_RIVAL)) return [];
  const ratio = (route: Route, target: number): string[] => {
    const values = ratios(r, OURS_PG_LOCKED, PG_RIVAL, route);
    return [`${route} ≥ ${target} × ${PG_RIVAL} (req/s)`, listRatio(values), listRatio(cpuRatios(r, OURS_PG_LOCKED, PG_RIVAL, route)), verdict(values, (v) => v >= target)];
  };
  const ours = r.contended.find((c) => c.contender === OURS_PG_LOCKED);
  const theirs = r.contended.find((c) => c.contender === PG_RIVAL);
  const kept = (c: Contended | undefined) => (c ? `${c.stored} of ${c.requests} (${f((100 * c.stored) / Math.max(1, c.requests))} %)` : '–');
  const trips = r.roundTrips.get(OURS_PG_LOCKED);
  const rivalTrips = r.roundTrips.get(PG_RIVAL);
  const rows = [
    ratio('/inc', 1.5),
    ratio('/read', 2),
    [`one session × ${r.connections} connections on /inc keeps 100 % of increments`, `ours ${kept(ours)}; ${PG_RIVAL} ${kept(theirs)}`, '',
      ours === undefined ? 'not measured' : ours.stored >= ours.requests ? '**met**' : '**not met**'],
    ['statements (round trips) per request /inc · /read (pg_stat_statements)', `ours ${f(trips?.['/inc'] ?? NaN, 2)} · ${f(trips?.['/read'] ?? NaN, 2)}; ` +
      `${PG_RIVAL} ${f(rivalTrips?.['/inc'] ?? NaN, 2)} · ${f(rivalTrips?.['/read'] ?? NaN, 2)}`, '', '(for information)'],
  ];
  return [
    `Targets of issue #13 for \`${OURS_PG_LOCKED}\` against \`${PG_RIVAL}\` (same PostgreSQL, same routes; ratios per round: median and range; ` +
      '"met" = in every round). The CPU column is the same ratio from server CPU per request.',
    '',
    '| target | measured | by server CPU | verdict |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
  ];
}

/**
 * Issue #14: ours stateless (TokenStore, signed and encrypted) against koa-session's cookie
 * store, beside the other stateless rivals; increments kept through a shared cookie jar.
 */
function statelessSection(r: Results): string[] {
  const carried = r.contenders.filter((c) => c.carried);
  if (!carried.some((c) => c.ours)) return [];
  const has = (name: string) => r.contenders.some((c) => c.name === name);
  const medianOf = (name: string, route: Route, key: 'rps' | 'cpuUs') => median(of(r, name, route).map((s) => s[key]));
  const jarOf = (name: string) => r.contended.find((c) => c.contender === name && c.jar);
  const kept = (c: Contended | undefined) => (c ? `${f((100 * c.stored) / Math.max(1, c.requests))} % (${c.stored} of ${c.requests})` : '–');
  const rows = r.contenders.filter((c) => c.carried || c.name === BARE || c.name === 'bare-fastify').map((c) => {
    const vsCookie = has(COOKIE_RIVAL) && c.name !== COOKIE_RIVAL ? range(ratios(r, c.name, COOKIE_RIVAL, '/inc')) : '–';
    const bytes = c.carried ? f(r.cookieBytes.get(c.name) ?? NaN) : '–';
    return `| ${c.name} | ${f(medianOf(c.name, '/inc', 'rps'))} | ${f(medianOf(c.name, '/read', 'rps'))} | ${vsCookie} | ` +
      `${f(medianOf(c.name, '/inc', 'cpuUs'), 1)} · ${f(medianOf(c.name, '/read', 'cpuUs'), 1)} | ${bytes} | ${c.carried ? kept(jarOf(c.name)) : '–'} |`;
  });
  const lines = [
    `Stateless sessions (issue #14): the session in the cookie, no store. Medians over the rounds; × ${COOKIE_RIVAL} = /inc req/s over its, per round ` +
      `(median and range). Cookie bytes: the Cookie header a client sends back for a session holding n = 1. Increments kept: one session, ${r.connections} ` +
      `requests in flight on /inc for ${r.duration} s through one cookie jar (a Node client that takes every Set-Cookie, as a browser does): ` +
      'without a store the last writer wins, so most increments are lost by design.',
    '',
    `| contender | /inc req/s | /read req/s | /inc × ${COOKIE_RIVAL} | server CPU µs /inc · /read | cookie bytes | one session, ${r.connections} parallel /inc: increments kept |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
  ];
  if (!has(COOKIE_RIVAL)) return [...lines, `(${COOKIE_RIVAL} was not run: no targets of issue #14 checked)`, ''];
  // The floor (issue #17): the signed token's protocol from a hand-written route, no session
  // layer. It bounds the signed target when its own median misses it (as the Redis and file floors).
  const target = (name: string, goal: number): string[] => {
    if (!has(name)) return [`\`${name}\` /inc ≥ ${goal} × ${COOKIE_RIVAL} (req/s)`, 'not run', '', 'not measured'];
    const values = ratios(r, name, COOKIE_RIVAL, '/inc');
    let judged = verdict(values, (v) => v >= goal);
    if (name === OURS_SIGNED && has(RAW_TOKEN_FLOOR) && median(values) < goal) {
      const bound = median(ratios(r, RAW_TOKEN_FLOOR, COOKIE_RIVAL, '/inc'));
      if (bound < goal) judged += `; bounded: ${RAW_TOKEN_FLOOR} itself reaches ${f(bound, 3)}×`;
    }
    return [`\`${name}\` /inc ≥ ${goal} × ${COOKIE_RIVAL} (req/s)`, listRatio(values), listRatio(cpuRatios(r, name, COOKIE_RIVAL, '/inc')), judged];
  };
  const share = (contender: string, base: string, route: Route, label: string): string[] =>
    (has(contender) && has(base)
      ? [label, listRatio(ratios(r, contender, base, route)), listRatio(cpuRatios(r, contender, base, route)), '(where the ratio goes)']
      : [label, '–', '', `not measured (${has(contender) ? base : contender} was not run)`]);
  const cpu = (name: string): string => (has(name) ? `${name} ${f(medianOf(name, '/inc', 'cpuUs'), 1)} · ${f(medianOf(name, '/read', 'cpuUs'), 1)}` : '');
  const readRatio = (name: string): string => (has(name) ? `${name} ${listRatio(ratios(r, name, COOKIE_RIVAL, '/read'))}` : '');
  const targetRows = [
    target(OURS_SIGNED, 1.5),
    target(OURS_ENCRYPTED, 1.2),
    ...(has(OURS_SIGNED_JOSE5) ? [target(OURS_SIGNED_JOSE5, 1.5)] : []),
    ...(has(OURS_ENCRYPTED_JOSE5) ? [target(OURS_ENCRYPTED_JOSE5, 1.2)] : []),
    ['server CPU µs per request /inc · /read', [OURS_SIGNED, OURS_ENCRYPTED, OURS_SIGNED_JOSE5, OURS_ENCRYPTED_JOSE5, OURS_SIGNED_NOCACHE, COOKIE_RIVAL].map(cpu).filter(Boolean).join('; '), '', '(stated)'],
    share(RAW_TOKEN_FLOOR, COOKIE_RIVAL, '/inc', `${RAW_TOKEN_FLOOR} /inc × ${COOKIE_RIVAL}: our signed token's protocol (sign, cache, cookie), no session layer`),
    share(OURS_SIGNED, RAW_TOKEN_FLOOR, '/inc', `${OURS_SIGNED} /inc × ${RAW_TOKEN_FLOOR}: the session layer's share`),
    [`/read × ${COOKIE_RIVAL} (req/s)`, [OURS_SIGNED, OURS_ENCRYPTED, OURS_SIGNED_JOSE5, OURS_ENCRYPTED_JOSE5, OURS_SIGNED_NOCACHE].map(readRatio).filter(Boolean).join('; '), '', '(for information)'],
  ];
  return [
    ...lines,
    `Targets of issue #14 (ratios per round: median and range; "met" = in every round). The CPU column is the same ratio from server CPU per request.`,
    '',
    '| target | measured | by server CPU | verdict |',
    '| --- | --- | --- | --- |',
    ...targetRows.map((row) => `| ${row.join(' | ')} |`),
    '',
  ];
}

function listRatio(values: number[]): string {
  return `${f(median(values), 2)}× (${f(min(values), 2)}–${f(max(values), 2)})`;
}

function range(values: number[]): string {
  return `${f(median(values), 2)} (${f(min(values), 2)}–${f(max(values), 2)})`;
}

function extras(r: Results): string[] {
  const lines: string[] = [];
  const byWrk = r.contended.filter((c) => !c.jar);
  const byJar = r.contended.filter((c) => c.jar);
  if (byWrk.length > 0) {
    lines.push(`One session, ${r.connections} connections on /inc (${r.duration} s): serialized throughput, and whether concurrent increments survive:`, '',
      '| contender | req/s | p50 ms | responses | increments stored |', '| --- | ---: | ---: | ---: | ---: |',
      ...byWrk.map((c) => `| ${c.contender} | ${f(c.rps)} | ${f(c.p50, 2)} | ${c.requests} | ${c.stored} (${f((100 * c.stored) / Math.max(1, c.requests))} %) |`), '');
  }
  if (byJar.length > 0) {
    lines.push(`One session in its cookie, ${r.connections} requests in flight on /inc (${r.duration} s) through one shared cookie jar ` +
      '(a Node client taking every Set-Cookie; its req/s are the client\'s, not comparable with wrk\'s):', '',
      '| contender | req/s | p50 ms | responses | increments stored |', '| --- | ---: | ---: | ---: | ---: |',
      ...byJar.map((c) => `| ${c.contender} | ${f(c.rps)} | ${f(c.p50, 2)} | ${c.requests} | ${c.stored} (${f((100 * c.stored) / Math.max(1, c.requests))} %) |`), '');
  }
  if (r.handoff.length > 0) {
    lines.push('Lock hand-off (RedisAdapter, locking on; from one holder\'s release() call to the next holder\'s lock() resolving):', '',
      '| setup | holds | locks/s | median ms | p99 ms | > 10 ms |', '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...r.handoff.map((h) => `| ${h.mode} | ${h.holds} | ${f(h.perSecond)} | ${f(h.p50, 3)} | ${f(h.p99, 3)} | ${f(h.slowShare, 1)} % |`), '');
  }
  if (r.gc) {
    const g = r.gc;
    lines.push(`StreamAdapter gc over ${g.files} session files (half expired): ${f(g.ms)} ms (${f(g.usPerFile, 1)} µs per file); ` +
      `removed ${g.removed}, ${g.remaining} left — ${g.correct ? 'exactly the expired half' : '**WRONG: not exactly the expired half**'}.`, '');
  }
  return lines;
}

/** The whole report, as Markdown (also what is printed). */
export function renderReport(r: Results): string {
  const m = r.machine;
  const lines = [
    '# koa-session-manager: benchmark',
    '',
    `${m.date} · commit ${m.commit} · ${m.cpus} × ${m.cpuModel} · Node ${m.node} · redis-server ${m.redis}${m.postgres ? ` · PostgreSQL ${m.postgres}` : ''} · ${m.wrk}`,
    `${r.rounds} rounds × ${r.duration} s per contender and route (warm-up ${r.warmup} s), ${r.connections} connections, ` +
      `one session per connection; the whole run took ${f(r.elapsedS)} s. Load average before/after: ${m.loadBefore} / ${m.loadAfter} ` +
      '(other work on the machine shares its cores: differences under ~15 % are noise).' +
      (m.serverFlags ? ` Every server ran with the Node flags \`${m.serverFlags}\` (BENCH_SERVER_FLAGS).` : ''),
    '',
    ...mainTable(r),
    '',
    ...targets(r),
    '',
    ...limitTargets(r),
    ...postgresTargets(r),
    ...statelessSection(r),
    ...extras(r),
    'Contenders:',
    '',
    ...r.contenders.map((c) => `- \`${c.name}\`: ${c.label}${(r.notes.get(c.name) ?? []).map((n) => `; ${n}`).join('')}`),
    '',
    'Columns: req/s from wrk (median and range over the rounds); × bare Koa = req/s over bare Koa\'s in the same round; ' +
      '× bare Koa (CPU) = bare Koa\'s server CPU per request over the contender\'s, per round; ' +
      'p50/p99 = medians over the rounds of wrk\'s latency percentiles; CPU = the server process\'s user + system time ' +
      'over the window / requests; store CPU = redis-server\'s (INFO cpu), or the PostgreSQL postmaster\'s and its backends\' (/proc), over the window / requests; ' +
      'store cmds = Redis INFO commandstats calls (commands inside Lua scripts count too), or PostgreSQL statements (pg_stat_statements, top level), over the window / requests; ' +
      'round trips = commands clients sent, counted with MONITOR (Redis; a script is one) or pg_stat_statements (PostgreSQL) over 50 sequential requests after the ' +
      'rounds; peak RSS = the server\'s maxRSS at the end. See bench/README.md.',
  ];
  if (r.problems.length > 0) lines.push('', '**Problems in this run:**', '', ...r.problems.map((p) => `- ${p}`));
  return lines.join('\n') + '\n';
}
