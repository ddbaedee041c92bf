import { execFileSync } from 'node:child_process';
import type { TestFn } from 'ava';
import { exchange, freePort, HOST, ServerProcess, startServerProcess, useStarted } from './serverProcess';

// Private memcached processes for specs (DESIGN.md, "Real servers in tests"): each one on a free
// 127.0.0.1 port, UDP off, stopped by PID. Nothing here touches a server this module did not
// start, and nothing is found or killed by name.

const MEMCACHED = 'memcached';
export const MISSING = `${MEMCACHED} not found: .ci/run installs it (apt-get install memcached)`;

const POLL_INTERVAL_MS = 25;
const COMMAND_TIMEOUT_MS = 500;

export interface StartMemcachedOptions {
  /** The port to listen on; a free one when absent. A given port is never retried. */
  port?: number;
  /** Extra memcached arguments, appended after the defaults (e.g. `['-I', '4m']`). */
  args?: string[];
}

/** One memcached process started by this module. */
export interface MemcachedServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The PID of the current process; a new one after restart(). */
  readonly pid: number;
  /** SIGTERM by PID, SIGKILL after 3 s, wait for exit. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL by PID and wait for exit: a crash (memcached keeps nothing). */
  kill(): Promise<void>;
  /** Starts the server again on the same port after stop() or kill(); resolves once it answers. */
  restart(): Promise<void>;
  /** SIGSTOP by PID: connections are accepted, nothing is answered. */
  pause(): void;
  /** SIGCONT by PID, after pause(). */
  resume(): void;
  /** The value of `key` over the text protocol, or null when missing. */
  get(key: string): Promise<string | null>;
  /** The remaining TTL of `key` in seconds (meta `mg <key> t`; -1 for none), or null when missing. */
  ttl(key: string): Promise<number | null>;
  /** One text-protocol command; resolves the reply up to and including `until` (default: one line). */
  command(line: string, until?: RegExp): Promise<string>;
  /** The last ~4 KB the process wrote to stdout and stderr. */
  output(): string;
}

/**
 * Sends `line` (CRLF added) over a fresh raw socket and resolves the reply once it matches
 * `until`; rejects on a refused connection or no such reply within `timeoutMs` (code ETIMEDOUT).
 */
export function memcachedCommand(port: number, line: string, until = /\r\n$/, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
  return exchange({
    host: HOST,
    port,
    request: `${line}\r\n`,
    timeoutMs,
    timedOut: `no reply to ${JSON.stringify(line)} from ${HOST}:${port} within ${timeoutMs} ms`,
    closed: `${HOST}:${port} closed the connection before replying`,
    parse: (received) => {
      const reply = received.toString('utf8');
      return until.test(reply) ? reply : undefined;
    },
  });
}

/** `-u <user>` when running as root (memcached refuses root without it); nothing otherwise. */
function userArgs(): string[] {
  if (process.getuid?.() !== 0) return [];
  try {
    execFileSync('id', ['memcache'], { stdio: 'ignore' });
    return ['-u', 'memcache'];
  } catch {
    return ['-u', 'root'];
  }
}

const KIND = { binary: MEMCACHED, missing: MISSING, probe: '"version"', pollIntervalMs: POLL_INTERVAL_MS };

class Instance extends ServerProcess implements MemcachedServer {
  constructor(port: number, private readonly extraArgs: string[]) {
    super(KIND, port);
  }

  protected args(): string[] {
    return ['-l', HOST, '-p', String(this.port), '-U', '0', ...userArgs(), ...this.extraArgs];
  }

  protected async answers(): Promise<boolean> {
    return (await memcachedCommand(this.port, 'version')).startsWith('VERSION ');
  }

  protected async isOwn(pid: number): Promise<boolean> {
    return (await this.command('stats', /END\r\n$/)).includes(`STAT pid ${pid}\r\n`);
  }

  protected override onTerm(): void {
    // memcached notices the signal on its next event, else on its next clock tick (up to 1 s): a
    // connection is an event.
    memcachedCommand(this.port, 'version', undefined, 200).catch(() => undefined);
  }

  command(line: string, until?: RegExp): Promise<string> {
    return memcachedCommand(this.port, line, until);
  }

  async get(key: string): Promise<string | null> {
    const reply = await this.command(`get ${key}`, /(^|\r\n)END\r\n$/);
    const match = /^VALUE \S+ \d+ (\d+)\r\n/.exec(reply);
    if (!match) return null;
    const start = match[0].length;
    return Buffer.from(reply, 'utf8').subarray(start, start + Number(match[1])).toString('utf8');
  }

  async ttl(key: string): Promise<number | null> {
    const reply = await this.command(`mg ${key} t`);
    const match = /^HD t(-?\d+)\r\n$/.exec(reply);
    return match ? Number(match[1]) : null;
  }
}

/** Starts a private memcached on 127.0.0.1 and resolves once it answers `version` as itself. */
export function startMemcached(options: StartMemcachedOptions = {}): Promise<MemcachedServer> {
  const args = options.args ?? [];
  return startServerProcess(async () => new Instance(options.port ?? (await freePort()), args), options.port === undefined);
}

/**
 * One private server for a whole spec file: started in test.before, stopped in
 * test.after.always. The getter throws if the server is not up.
 */
export function useMemcached<Context = unknown>(test: TestFn<Context>, options?: StartMemcachedOptions): () => MemcachedServer {
  return useStarted(test, () => startMemcached(options), 'useMemcached(): no server');
}
