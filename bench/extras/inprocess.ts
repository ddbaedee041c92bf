import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

// What the in-process micro benchmarks (context.ts, cookie.ts) share: options, a request through
// app.callback() without a socket or HTTP parsing, the median.

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

export const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
