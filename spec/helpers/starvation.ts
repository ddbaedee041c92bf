import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter } from '../../lib/adapters/Adapter';

/** One round of the other process asking: how many of the busy process's turns went by first. */
export interface Turn {
  /** The busy process's releases between the ask and the grant; undefined when the ask timed out. */
  passedOver: number | undefined;
  /** Milliseconds from the ask to the grant (or the timeout). */
  ms: number;
}

/**
 * The starvation check for any locking adapter: `busy` keeps `workers` requests of one session
 * looping (lock → 2 ms → write → release), as a process with a queue of its own would, while
 * `other` (another process: another connection or adapter instance on the same store) asks for
 * the lock `rounds` times, each with `wait` seconds. Bounded: at most 500 turns per worker.
 */
export async function turnsBeforeOther(busy: Adapter, other: Adapter, id: string, { rounds = 1, workers = 20, wait = 2 } = {}): Promise<Turn[]> {
  let stop = false;
  let releases = 0;
  const worker = async () => {
    for (let i = 0; i < 500 && !stop; i++) {
      const held = await busy.lock!(id, { wait: 10, expiry: 30 });
      await sleep(2);
      await busy.write(id, 'busy', 60, held);
      await held.release();
      releases++;
    }
  };
  const running = Array.from({ length: workers }, worker);
  await sleep(100);
  const turns: Turn[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const before = releases;
      const started = performance.now();
      const passedOver = await other.lock!(id, { wait, expiry: 30 }).then(async (held) => {
        const during = releases - before;
        await held.release();
        return during;
      }, () => undefined);
      turns.push({ passedOver, ms: performance.now() - started });
      if (round < rounds - 1) await sleep(20);
    }
  } finally {
    stop = true;
    await Promise.all(running);
  }
  return turns;
}
