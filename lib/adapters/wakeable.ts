/** A lock waiter's wait for a release, registered until close(). */
export interface Watch {
  /** Resolves when a release is heard, or after `ms`; at once when one was heard since the last wait. */
  wait(ms: number): Promise<void>;
  close(): void;
}

/** One waiter's wake-ups: `fire()` (a release heard) and the `wait()` it ends. */
export interface Wakeable {
  fire(): void;
  wait(ms: number): Promise<void>;
}

/**
 * The wake-ups of one lock waiter, shared by the Redis and PostgreSQL hand-overs. A release heard
 * while no wait() is armed (between a refused try and the next wait: the release's message can
 * arrive before the refusal's answer) is kept, so the next wait() returns at once instead of
 * sleeping out its pause.
 *
 * @example
 * const waiter = wakeable();
 * channel.on('release', waiter.fire);
 * await waiter.wait(250); // a release, or 250 ms
 */
export function wakeable(): Wakeable {
  let wake: (() => void) | undefined;
  let heard = false;
  return {
    fire: () => {
      if (wake) wake();
      else heard = true;
    },
    wait: (ms) => new Promise<void>((resolve) => {
      if (heard) {
        heard = false;
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(pause);
        wake = undefined;
        resolve();
      };
      const pause = setTimeout(done, ms);
      wake = done;
    }),
  };
}
