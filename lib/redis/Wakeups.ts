import { logger } from '../log';
import type { Cluster, Redis } from 'ioredis';
import { closeClient } from './connect';
import { wakeable, type Watch } from '../adapters/wakeable';

const debug = logger('koa-session-manager:redis');

/** A request waiting for a lock: woken by a release message, or after `ms` at the latest. */
export type Listener = Watch;

/**
 * Release messages for the lock waiters of one process, over one subscriber connection made on
 * first contention. A channel has at most one waiter per process: the in-process queue lets
 * only its head wait on Redis. When the subscription fails (Redis down), waiting falls back to
 * sleeping, so a lost message costs at most one pause.
 */
export class Wakeups {
  #subscriber: Redis | Cluster | undefined;
  readonly #wakers = new Map<string, () => void>();

  /** `commandTimeout` (ms): for the subscriber of a client that has none of its own (the adapter's, watched by ReplyWatch). */
  constructor(private readonly client: Redis | Cluster, private readonly commandTimeout?: number) {}

  async listen(channel: string): Promise<Listener> {
    // A release heard while no wait() is armed is kept for the next one (wakeable()).
    const { fire, wait } = wakeable();
    this.#wakers.set(channel, fire);
    const subscriber = this.#connection();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      subscriber.subscribe(channel).catch((err: Error) => debug('subscribe failed: %s', err.message)),
      new Promise((resolve) => { timer = setTimeout(resolve, 1000); }),
    ]);
    clearTimeout(timer);
    return {
      wait,
      close: () => {
        if (this.#wakers.get(channel) !== fire) return;
        this.#wakers.delete(channel);
        subscriber.unsubscribe(channel).catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber) await closeClient(subscriber);
  }

  #connection(): Redis | Cluster {
    if (this.#subscriber) return this.#subscriber;
    const client = this.client;
    // The subscriber may queue its SUBSCRIBE while connecting: a subscription is never stale.
    const subscriber = 'isCluster' in client && client.isCluster
      ? (client as Cluster).duplicate(undefined, { enableOfflineQueue: true, enableAutoPipelining: false })
      : (client as Redis).duplicate({ enableOfflineQueue: true, enableAutoPipelining: false, ...(this.commandTimeout === undefined ? {} : { commandTimeout: this.commandTimeout }) });
    subscriber.on('message', (channel: string) => this.#wakers.get(channel)?.());
    subscriber.on('error', (err: Error) => debug('subscriber: %s', err.message));
    this.#subscriber = subscriber;
    return subscriber;
  }
}
