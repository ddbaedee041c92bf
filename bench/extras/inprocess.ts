import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { CONTENDERS } from '../contenders';

// What the in-process micro benchmarks (context.ts, cookie.ts) share: options, a request through
// app.callback() without a socket or HTTP parsing, the median; and the other tools' --contenders.

/** The value after `--name`, if given. */
export function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? undefined : process.argv[at + 1];
}

/** `--name N`, a positive whole number, or `fallback`. */
export function flag(name: string, fallback: number): number {
  const given = option(name);
  const value = given === undefined ? fallback : Number(given);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

/**
 * `--contenders a,b` (else `fallback`) for the tools that start the bench's servers themselves
 * (threads.ts, cachesim.ts): known names, none of PostgreSQL's; `redis` when one needs a Redis.
 */
export function serverContenders(fallback: string): { names: string[]; redis: boolean } {
  const names = (option('contenders') ?? fallback).split(',');
  let redis = false;
  for (const name of names) {
    const contender = CONTENDERS.find((c) => c.name === name);
    if (contender === undefined) throw new Error(`unknown contender ${name}`);
    if (contender.postgres) throw new Error(`${name}: PostgreSQL contenders are not supported here`);
    redis ||= contender.redis;
  }
  return { names, redis };
}

export type Handle = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** One request through the app, as Node's HTTP server would hand it over; resolves the response. */
export async function request(handle: Handle, path: string, cookie?: string): Promise<ServerResponse> {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = path;
  req.headers = cookie === undefined ? { host: 'bench' } : { host: 'bench', cookie };
  const res = new ServerResponse(req);
  await handle(req, res);
  if (res.statusCode !== 200) throw new Error(`${path}: status ${res.statusCode}`);
  return res;
}

/** The response's Set-Cookie lines: Node keeps one header set as a string, several as an array. */
export function setCookies(res: ServerResponse): string[] {
  const value = res.getHeader('set-cookie');
  return value === undefined ? [] : Array.isArray(value) ? value : [String(value)];
}

export const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
