import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { APPS } from './apps';
import type { RunningApp } from './apps/types';
import { ENV, type FromServer, type ToServer } from './protocol';

// One contender's server, run as a child of the bench: `node build/bench/server.js <name>`.
// Its CPU time and peak RSS are its own, read by the bench through IPC around each window.
// It exits when told, when the bench goes away, or after BENCH_MAX_SECONDS at the latest.

function send(message: FromServer): void {
  process.send?.(message);
}

let inspector: Session | undefined;

function post<T = unknown>(method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    inspector!.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T)));
  });
}

async function profile(message: Extract<ToServer, { cmd: 'profile-start' | 'profile-stop' }>): Promise<void> {
  if (message.cmd === 'profile-start') {
    inspector = new Session();
    inspector.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 1000 });
    await post('Profiler.start');
  } else {
    const { profile: result } = await post<{ profile: object }>('Profiler.stop');
    writeFileSync(message.path, JSON.stringify(result));
    inspector?.disconnect();
    inspector = undefined;
  }
  send({ type: 'profiled' });
}

async function main(): Promise<void> {
  const name = process.argv[2];
  const load = APPS[name];
  if (!load) throw new Error(`unknown contender ${name}`);
  const make = load();
  const maxSeconds = Number(process.env[ENV.maxSeconds] ?? 600);
  setTimeout(() => {
    console.error(`bench server ${name}: still running after ${maxSeconds} s, exiting`);
    process.exit(3);
  }, maxSeconds * 1000).unref();
  const app: RunningApp = await make({
    redisPort: Number(process.env[ENV.redisPort] ?? 6379),
    postgresUrl: process.env[ENV.postgresUrl] ?? '',
    dataDir: process.env[ENV.dataDir] ?? '',
  });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(code), 5000);
    force.unref();
    await app.close().catch(() => undefined);
    process.exit(code); // a normal exit: --cpu-prof writes its profile here
  };
  process.on('message', (message: ToServer) => {
    if (message.cmd === 'usage') {
      const { user, system } = process.cpuUsage();
      send({ type: 'usage', cpuUs: user + system, systemUs: system, maxRssKb: process.resourceUsage().maxRSS });
    } else if (message.cmd === 'stop') void stop(0);
    else profile(message).catch((error: Error) => send({ type: 'failed', message: error.message }));
  });
  process.on('disconnect', () => void stop(0));
  const address = app.server.address();
  send({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0, notes: app.notes });
}

main().catch((error: Error) => {
  send({ type: 'failed', message: error.stack ?? error.message });
  process.exit(1);
});
