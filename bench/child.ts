import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ENV, type FromServer, type ToServer } from './protocol';

const START_TIMEOUT_MS = 15_000;
const REPLY_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 8_000;

/** Servers still running; SIGKILLed by PID if the bench exits without stopping them. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export interface Usage {
  /** User + system CPU time of the server process so far, µs. */
  cpuUs: number;
  /** The system (kernel) part of it, µs. */
  systemUs: number;
  /** Peak resident set size of the server process so far, KB. */
  maxRssKb: number;
}

export interface StartServerOptions {
  redisPort: number;
  /** The private PostgreSQL's URL, for the contenders that use it. */
  postgresUrl?: string;
  dataDir: string;
  /** Node flags, e.g. `--cpu-prof`. */
  execArgv?: string[];
  /** The server's own time limit. */
  maxSeconds: number;
}

/** One contender's server process (bench/server.ts), controlled over IPC. */
export class ServerChild {
  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly port: number,
    readonly notes: string[],
    private readonly exited: Promise<void>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The server process's id (its threads are under /proc/<pid>/task: bench/extras/threads.ts). */
  get pid(): number {
    return this.child.pid!;
  }

  static async start(name: string, options: StartServerOptions): Promise<ServerChild> {
    const child = fork(join(__dirname, 'server.js'), [name], {
      // BENCH_SERVER_FLAGS: Node flags for every contender's server alike (e.g. `--single-threaded-gc`: bench/README.md).
      execArgv: options.execArgv ?? (process.env.BENCH_SERVER_FLAGS ? process.env.BENCH_SERVER_FLAGS.split(' ').filter(Boolean) : []),
      env: {
        ...process.env,
        [ENV.redisPort]: String(options.redisPort),
        [ENV.postgresUrl]: options.postgresUrl ?? '',
        [ENV.dataDir]: options.dataDir,
        [ENV.maxSeconds]: String(options.maxSeconds),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    live.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => {
      live.delete(child);
      resolve();
    }));
    try {
      const ready = await reply(child, 'ready', START_TIMEOUT_MS, exited);
      return new ServerChild(name, child, ready.port, ready.notes, exited);
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`server ${name} did not start: ${(error as Error).message}`);
    }
  }

  async usage(): Promise<Usage> {
    this.child.send({ cmd: 'usage' } satisfies ToServer);
    const { cpuUs, systemUs, maxRssKb } = await reply(this.child, 'usage', REPLY_TIMEOUT_MS, this.exited);
    return { cpuUs, systemUs, maxRssKb };
  }

  /** Starts V8's CPU profiler in the server (the one `node --cpu-prof` runs). */
  async profileStart(): Promise<void> {
    this.child.send({ cmd: 'profile-start' } satisfies ToServer);
    await reply(this.child, 'profiled', REPLY_TIMEOUT_MS, this.exited);
  }

  /** Stops it and has the server write the .cpuprofile to `path`. */
  async profileStop(path: string): Promise<void> {
    this.child.send({ cmd: 'profile-stop', path } satisfies ToServer);
    await reply(this.child, 'profiled', 30_000, this.exited);
  }

  /** Asks the server to close and exit; SIGKILL by PID if it has not within a few seconds. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ cmd: 'stop' } satisfies ToServer);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

type Reply<T extends FromServer['type']> = Extract<FromServer, { type: T }>;

/** The next message of `type` from `child`; rejects on 'failed', on exit, or after `timeoutMs`. */
function reply<T extends FromServer['type']>(child: ChildProcess, type: T, timeoutMs: number, exited: Promise<void>): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error, message?: Reply<T>) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      if (error) reject(error);
      else resolve(message!);
    };
    const onMessage = (message: FromServer) => {
      if (message.type === 'failed') done(new Error(message.message));
      else if (message.type === type) done(undefined, message as Reply<T>);
    };
    const timer = setTimeout(() => done(new Error(`no '${type}' within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', onMessage);
    void exited.then(() => done(new Error(`exited (code ${child.exitCode}, signal ${child.signalCode})`)));
  });
}
