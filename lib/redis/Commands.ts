import type { Cluster, Redis } from 'ioredis';
import { AdapterRuntimeError } from '../errors';
import type { Script } from './scripts';
import type { ReplyWatch } from './ReplyWatch';
import { logger } from '../log';

const debug = logger('koa-session-manager:redis');

/** The suffix of a data key's move-marker key (scripts.ts: KEYS[4]). */
export const MOVED = '.moved';

/**
 * How the adapter sends its commands over one client: it waits for a connection that is being
 * (re)established (at most the command timeout), corks the socket for the tick so that the
 * commands of concurrent requests leave in one write, and runs scripts by EVALSHA.
 *
 * @example
 * const commands = new Commands(client, 1000);
 * const data = await commands.eval(READ, 'sess-reds-{abc}', [0]);
 */
export class Commands {
  #readyWait: Promise<void> | undefined;
  /** Whether coalesce() applies: one socket, and no auto-pipelining of its own. */
  readonly #corkable: boolean;
  #corked = false;
  #lastError: string | undefined;
  /** The reply timeout of the adapter's own client (set by the adapter; an app's client has its own). */
  watch: ReplyWatch | undefined;

  /**
   * `lockSuffix` names the lock key after the data key (`.lock`; PHP's `_LOCK` or `-lock`);
   * `binary`: replies come as Buffers (PHP's sessions are bytes), which {@link eval} turns into
   * the adapter contract's strings with `text`.
   */
  constructor(
    private readonly client: Redis | Cluster,
    private readonly timeoutMs: number,
    private readonly lockSuffix = '.lock',
    private readonly text?: (bytes: Buffer) => string,
  ) {
    this.#corkable = !('isCluster' in client && client.isCluster) && client.options.enableAutoPipelining !== true;
  }

  /**
   * Run a script on the data key and, as far as it uses them, the lock, claim and marker keys: EVALSHA,
   * or EVAL after a NOSCRIPT. (Each argument costs ioredis CPU: only the keys used are sent.)
   */
  eval(script: Script, dataKey: string, args: Array<string | number | Buffer>): Promise<unknown> {
    // Not async on the common path (ready, strings): one promise less to settle per command.
    if (this.client.status !== 'ready') return this.ready().then(() => this.#send(script, dataKey, args));
    try {
      return this.#send(script, dataKey, args);
    } catch (err) {
      return Promise.reject(err); // a rejection, as from an async function: callers chain .catch()
    }
  }

  #send(script: Script, dataKey: string, args: Array<string | number | Buffer>): Promise<unknown> {
    this.coalesce();
    const keys = script.keys === 1 ? [dataKey]
      : script.keys === 2 ? [dataKey, dataKey + this.lockSuffix]
        : script.keys === 3 ? [dataKey, dataKey + this.lockSuffix, `${dataKey}.claim`]
          : [dataKey, dataKey + this.lockSuffix, `${dataKey}.claim`, dataKey + MOVED];
    if (this.text !== undefined) return this.#evalBytes(script, keys, args);
    return this.client.evalsha(script.sha, script.keys, ...keys, ...args).catch((err: Error) => {
      if (!String(err?.message).startsWith('NOSCRIPT')) throw err;
      this.coalesce();
      return this.client.eval(script.lua, script.keys, ...keys, ...args);
    });
  }

  /** {@link eval} with Buffer replies, each turned into text (also inside an array reply). */
  async #evalBytes(script: Script, keys: string[], args: Array<string | number | Buffer>): Promise<unknown> {
    let reply: unknown;
    try {
      reply = await this.client.callBuffer('EVALSHA', script.sha, script.keys, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      this.coalesce();
      reply = await this.client.callBuffer('EVAL', script.lua, script.keys, ...keys, ...args);
    }
    const text = this.text!;
    if (Buffer.isBuffer(reply)) return text(reply);
    return Array.isArray(reply) ? reply.map((item: unknown) => (Buffer.isBuffer(item) ? text(item) : item)) : reply;
  }

  /**
   * Cork the connection until the end of this tick, so that the commands concurrent requests send
   * in one tick leave in one write. Loopback socket writes were the largest part of a locked
   * request's CPU (37 %, one write per command); this costs a flag and a nextTick per tick, where
   * ioredis' auto-pipelining builds a Pipeline per tick and measured slower. Not for a Cluster
   * (no single socket) nor a client that pipelines by itself. (Corking only while replies arrive,
   * when the resumed requests' next commands can batch, measured no better: issue #17.)
   */
  coalesce(): void {
    this.watch?.arm(); // (every command sent passes here: the watch's timer runs while replies are due)
    if (this.#corked || !this.#corkable) return;
    const stream = (this.client as Redis).stream;
    if (stream === undefined || typeof stream.cork !== 'function') return;
    this.#corked = true;
    stream.cork();
    process.nextTick(() => {
      this.#corked = false;
      stream.uncork();
    });
  }

  /**
   * Notes a connection error (the client's 'error' event) for the next "not reachable" error to
   * name; `undefined` once the client is ready again.
   */
  failed(err: Error | undefined): void {
    if (err) debug('redis: %s', err.message);
    this.#lastError = err?.message;
  }

  /**
   * Wait for a connection that is being (re)established, at most the command timeout; a Redis
   * that is down therefore fails a request in about a second instead of queueing it. Callers
   * check `client.status` first: awaiting this on every command cost CPU (profile).
   */
  async ready(): Promise<void> {
    const status = this.client.status;
    if (status === 'ready') return;
    if (status === 'end') throw new AdapterRuntimeError('The Redis connection was closed', 'ERR_SESSION_STORE');
    if (status === 'wait') this.client.connect().catch(() => undefined);
    this.#readyWait ??= new Promise<void>((resolve) => this.client.once('ready', resolve))
      .finally(() => { this.#readyWait = undefined; });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AdapterRuntimeError(`Redis is not reachable (${status}${this.#lastError === undefined ? '' : `; last error: ${this.#lastError}`})`, 'ERR_SESSION_STORE')), this.timeoutMs);
    });
    try {
      await Promise.race([this.#readyWait, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
