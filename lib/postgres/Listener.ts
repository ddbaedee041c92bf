import { logger } from '../log';
import { quote } from './statements';
import { wakeable, type Watch } from '../adapters/wakeable';

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
 * if (await listener.ready()) {     // after a refusal
 *   const watch = listener.watch(id); // then the retry, then:
 *   await watch.wait(250);           // woken by a release of `id`, or after 250 ms
 *   watch.close();
 * }
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

  /**
   * Watch `id` until close(): each wait() resolves when `id` is released (notified) or after its
   * `ms`, and at once when a release was heard since the last wait: a waiter watches before its
   * try, so a notification that arrives before the try's refusal is not lost (wakeable()).
   */
  watch(id: string): Watch {
    const { fire, wait } = wakeable();
    let set = this.#waiters.get(id);
    if (set === undefined) this.#waiters.set(id, (set = new Set()));
    set.add(fire);
    return {
      wait,
      close: () => {
        set.delete(fire);
        if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    for (const set of this.#waiters.values()) for (const fire of [...set]) fire();
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<boolean> {
    const client = this.makeClient();
    client.on('error', (err) => this.#drop(client, err));
    client.on('end', () => this.#drop(client));
    client.on('notification', ({ channel, payload }) => {
      if (channel !== this.channel || payload === undefined) return;
      const set = this.#waiters.get(payload);
      if (set !== undefined) for (const fire of [...set]) fire();
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
