import { logger } from '../log';
import { quote } from './statements';

const debug = logger('koa-session-manager:postgres');

/** The part of a pg `Client` the listener uses. */
export interface ListenClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
}

/** A failed connection is tried again at most this often (no reconnect storm while the database is down). */
const RETRY_MS = 1000;

/**
 * Lock hand-over through PostgreSQL `LISTEN/NOTIFY`: one connection per adapter (not per
 * waiter) listens on the table's channel; every release notifies it with the session id, and
 * the waiters of that id try again at once instead of at their next poll. A waiter never
 * depends on it: it also polls, so a lost notification (a reconnect) costs one poll interval.
 *
 * @example
 * const listener = new Listener(() => new pg.Client(config), 'ksm_sessions');
 * await listener.ready();           // before the retry that follows a refusal
 * await listener.wait(id, 250);     // woken by a release of `id`, or after 250 ms
 */
export class Listener {
  #client: ListenClient | undefined;
  #connecting: Promise<boolean> | undefined;
  #failedAt = 0;
  #closed = false;
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(private readonly makeClient: () => ListenClient, readonly channel: string) {}

  /** Resolves true once the connection listens, false when it cannot now (the waiter then polls). */
  ready(): Promise<boolean> {
    if (this.#client !== undefined) return Promise.resolve(true);
    if (this.#closed || Date.now() - this.#failedAt < RETRY_MS) return Promise.resolve(false);
    return (this.#connecting ??= this.#connect().finally(() => { this.#connecting = undefined; }));
  }

  /** Resolves when `id` is released (notified) or after `ms`. */
  wait(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(id);
      if (set === undefined) this.#waiters.set(id, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        set!.delete(done);
        if (set!.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    for (const set of this.#waiters.values()) for (const wake of [...set]) wake();
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<boolean> {
    const client = this.makeClient();
    client.on('error', (err) => this.#drop(client, err));
    client.on('end', () => this.#drop(client));
    client.on('notification', ({ channel, payload }) => {
      if (channel !== this.channel || payload === undefined) return;
      const set = this.#waiters.get(payload);
      if (set !== undefined) for (const wake of [...set]) wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quote(this.channel)}`);
    } catch (err) {
      this.#failedAt = Date.now();
      debug('listen connection failed: %s', (err as Error)?.message);
      await client.end().catch(() => undefined);
      return false;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return false;
    }
    this.#client = client;
    return true;
  }

  #drop(client: ListenClient, err?: Error): void {
    if (this.#client !== client) return;
    debug('listen connection lost: %s', err?.message ?? 'ended');
    this.#client = undefined;
    this.#failedAt = Date.now();
    void client.end().catch(() => undefined);
  }
}
