/** The command-line flags of `npm run bench -- …`, with the defaults of a short run. */
export interface BenchOptions {
  /** Measured rounds; every contender and route runs once per round (contenders.ts, roundOrder). */
  rounds: number;
  /** Seconds of load per contender, route and round. */
  duration: number;
  /** Seconds of load per contender and route before the first round (not measured). */
  warmup: number;
  /** wrk connections, each with its own session (and its own wrk thread). */
  connections: number;
  /** Contender names to run (bare-koa is always added: every ratio is to it). */
  contenders?: string[];
  /** Session files made for the gc measurement; 0 skips it. */
  gcFiles: number;
  /** Clients on one session for the lock hand-off measurement; 0 skips it. */
  handoffClients: number;
  /** Seconds of the lock hand-off measurement. */
  handoffSeconds: number;
  /** Where the Markdown report goes; '' writes none. */
  out: string;
}

export const DEFAULTS: BenchOptions = {
  rounds: 3,
  duration: 2,
  warmup: 1,
  connections: 32,
  gcFiles: 100_000,
  handoffClients: 8,
  handoffSeconds: 3,
  out: 'bench/results/latest.md',
};

const LIMITS: Record<string, [number, number]> = {
  rounds: [1, 50],
  duration: [1, 120],
  warmup: [0, 60],
  connections: [1, 256],
  gcFiles: [0, 1_000_000],
  handoffClients: [0, 64],
  handoffSeconds: [1, 60],
};

const USAGE = `npm run bench -- [--rounds N] [--duration S] [--warmup S] [--connections C]
                   [--contenders a,b,…] [--gc-files N] [--handoff-clients N] [--handoff-seconds S] [--out FILE]`;

/** Parses `--name value` flags (kebab-case); throws with the usage on anything unknown. */
export function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') throw new Error(USAGE);
    const name = flag.replace(/^--/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    const value = argv[++i];
    if (!flag.startsWith('--') || value === undefined) throw new Error(`bad flag ${flag}\n${USAGE}`);
    if (name === 'contenders') options.contenders = value.split(',').filter(Boolean);
    else if (name === 'out') options.out = value;
    else if (name in LIMITS) {
      const [min, max] = LIMITS[name];
      const number = Number(value);
      if (!Number.isFinite(number) || number < min || number > max) throw new Error(`--${flag.slice(2)} must be a number from ${min} to ${max}`);
      (options as unknown as Record<string, number>)[name] = number;
    } else throw new Error(`unknown flag ${flag}\n${USAGE}`);
  }
  return options;
}
