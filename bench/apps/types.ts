import type { Server } from 'node:http';

/** Where a contender's app finds its backing stores. */
export interface AppEnv {
  redisPort: number;
  /** The private PostgreSQL's URL (`postgres://sessions@127.0.0.1:<port>/sessions`); '' when none was started. */
  postgresUrl: string;
  /** A private, empty directory for the file adapter. */
  dataDir: string;
}

/** A contender's app, listening on 127.0.0.1. */
export interface RunningApp {
  server: Server;
  /** What the bench should know about how the app was set up (e.g. the read-only policy). */
  notes: string[];
  close(): Promise<void>;
}

export const LIFETIME_S = 3600;
export const SECRET = 'bench-secret-bench-secret-bench-secret';
