import type { Command, Redis } from 'ioredis';

/** How many looks a reply may miss: one every `timeoutMs / LOOKS`. */
const LOOKS = 4;

/**
 * The reply timeout (`readTimeout`) of the adapter's own client, kept by one timer instead of
 * ioredis' `commandTimeout`, which starts and clears a Node timer for every command: about 5k
 * of the 100k instructions of a session read (issue #17, bench/results/layer-functions.md).
 *
 * Every `timeoutMs / 4` it looks at the commands waiting for a reply (ioredis' command queue,
 * where a command stays from its send until its reply); a command still waiting four looks
 * after the look that first saw it is rejected with ioredis' own `Command timed out`, as
 * `commandTimeout` rejects it: after `timeoutMs` at the earliest, `1.25 × timeoutMs` at the
 * latest. Its reply, if it ever comes, is matched to it and dropped, as after ioredis' timer.
 * The timer runs only while commands wait: `arm()` starts it (the adapter arms it with every
 * command it sends, and the client's `connect` arms it for the ready check); a look that finds
 * the queue empty stops it. An app's own `client` is not watched: it keeps its own options
 * (`RedisAdapter.clientOptions()` gives it a `commandTimeout`). It reads what ioredis 6 declares
 * but marks internal (`commandQueue`; a `Command`'s `isSettled` and `reject`, which its own
 * timer uses): spec/redis/replyWatch.spec.ts fails on an ioredis that changes them.
 *
 * @example
 * const watch = new ReplyWatch(client, 1000);
 * watch.arm(); // before (or right after) a command is sent
 */
export class ReplyWatch {
  #timer: NodeJS.Timeout | undefined;
  #looks = 0;
  /** The waiting commands, with the look that first saw each. */
  #seen = new Map<Command, number>();

  constructor(private readonly client: Redis, private readonly timeoutMs: number) {
    client.on('connect', () => this.arm());
  }

  /** Make sure the timer runs (a flag test when it does). */
  arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#look(), Math.max(1, this.timeoutMs / LOOKS));
    this.#timer.unref(); // a hung Redis must not keep a process alive that is otherwise done
  }

  /** Whether the timer runs (for the specs). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  #look(): void {
    const looks = ++this.#looks;
    const queue = this.client.commandQueue;
    const seen = new Map<Command, number>();
    for (let i = 0; i < queue.length; i++) {
      const command = queue.peekAt(i)?.command as Command | undefined;
      // (a queue item that is no Command, as none of ours is, has no timer in ioredis either)
      if (command === undefined || typeof command.isSettled !== 'boolean' || command.isSettled) continue;
      const first = this.#seen.get(command) ?? looks;
      if (looks - first >= LOOKS) command.reject(new Error('Command timed out'));
      else seen.set(command, first);
    }
    this.#seen = seen;
    if (queue.length === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
