import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The load: Debian's wrk, a C process, so it leaves the CPU to the servers. One wrk thread per
// connection: wrk gives a Lua request() no connection, but each thread has its own Lua state,
// so `setup(thread)` can hand every connection its own cookie, and so its own session.

export const WRK_MISSING = `wrk is not installed. Install it and run again:
  Debian/Ubuntu:  sudo apt-get install wrk
  macOS:          brew install wrk
  from source:    https://github.com/wg/wrk`;

/** wrk's version line, or throws WRK_MISSING. */
export function wrkVersion(): string {
  const result = spawnSync('wrk', ['-v'], { encoding: 'utf8', timeout: 5000 });
  if (result.error) throw new Error(WRK_MISSING);
  return (result.stdout + result.stderr).split('\n')[0].replace(/\s*Copyright.*$/, '').trim();
}

export interface LoadResult {
  requests: number;
  /** Seconds wrk measured. */
  seconds: number;
  rps: number;
  /** Latency percentiles, ms. */
  p50: number;
  p99: number;
  /** Socket errors, timeouts and non-2xx/3xx responses. */
  errors: number;
}

export interface LoadOptions {
  url: string;
  path: string;
  /** One per connection; '' for none. Connections outnumbering cookies reuse them in turn. */
  cookies: string[];
  connections: number;
  seconds: number;
  /** A directory for the Lua script. */
  workDir: string;
}

/** Runs wrk once; resolves its counts and latency. Bounded: killed if it overruns by 20 s. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const script = join(options.workDir, `load-${process.pid}-${Date.now()}.lua`);
  writeFileSync(script, luaScript(options.path, options.cookies));
  const args = [
    '-t', String(options.connections), '-c', String(options.connections),
    '-d', `${options.seconds}s`, '--timeout', '5s', '-s', script, options.url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), (options.seconds + 20) * 1000);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? new Error(WRK_MISSING) : error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      rmSync(script, { force: true });
      const line = /^BENCH_RESULT (.*)$/m.exec(out);
      if (code !== 0 || !line) {
        reject(new Error(`wrk ${args.join(' ')} exited with ${code}:\n${out}`));
        return;
      }
      const r = JSON.parse(line[1]) as Record<string, number>;
      const seconds = r.durationUs / 1e6;
      resolve({
        requests: r.requests,
        seconds,
        rps: r.requests / seconds,
        p50: r.p50 / 1000,
        p99: r.p99 / 1000,
        errors: r.connect + r.read + r.write + r.status + r.timeout,
      });
    });
  });
}

/** The Lua script: a cookie per thread (= per connection), one fixed request, a JSON summary. */
function luaScript(path: string, cookies: string[]): string {
  for (const cookie of cookies) {
    if (!/^[\x20-\x7e]*$/.test(cookie)) throw new Error(`cookie is not printable ASCII: ${cookie}`);
  }
  const list = cookies.length > 0 ? cookies : [''];
  return `
local cookies = { ${list.map((c) => JSON.stringify(c)).join(',\n  ')} }
local path = ${JSON.stringify(path)}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("cookie", cookies[((threads - 1) % #cookies) + 1])
end

function init(args)
  local headers = {}
  if cookie ~= "" then headers["Cookie"] = cookie end
  req = wrk.format("GET", path, headers)
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;
}
