/** Messages between the bench (parent) and a contender's server (child), over the IPC channel. */
export type ToServer =
  | { cmd: 'usage' }
  | { cmd: 'stop' }
  /** Start V8's CPU profiler (what `node --cpu-prof` runs), here after the warm-up. */
  | { cmd: 'profile-start' }
  /** Stop it and write the .cpuprofile to `path`. */
  | { cmd: 'profile-stop'; path: string };

export type FromServer =
  | { type: 'ready'; port: number; notes: string[] }
  | { type: 'usage'; cpuUs: number; systemUs: number; maxRssKb: number }
  | { type: 'profiled' }
  | { type: 'failed'; message: string };

/** The environment a server child reads. */
export const ENV = {
  redisPort: 'BENCH_REDIS_PORT',
  postgresUrl: 'BENCH_POSTGRES_URL',
  dataDir: 'BENCH_DATA_DIR',
  /** Seconds after which a server exits whatever happens (the bench's safety net). */
  maxSeconds: 'BENCH_MAX_SECONDS',
} as const;
