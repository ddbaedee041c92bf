/**
 * A child process for the cross-process locking specs, on a shared directory.
 *
 * - `fork(build/spec/helpers/lock-worker.js, [savePath, id, count, 'lock' | 'nolock'])`: runs
 *   `count` concurrent "lock → read → sleep 1 ms → write n+1 → release" cycles on one id. It
 *   sends `{ ready: true }`, starts on the message `'go'` (so that every process starts
 *   together), sends `{ done: count }` and exits.
 * - `fork(…, [savePath, id, '0', 'takeover'])`: one lock attempt per trial, for the takeover
 *   race (see {@link TakeoverStep}). It sends `{ ready: true }`, then answers each step.
 *
 * Any failure exits with code 1.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter, LockHandle } from '../../lib/adapters/Adapter';
import { StreamAdapter } from '../../lib/file/StreamAdapter';

/** Runs `count` concurrent increments of the counter stored under `id`. */
export async function increments(adapter: Adapter, id: string, count: number, locking: boolean): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const handle = locking ? await adapter.lock!(id, { wait: 30, expiry: 10 }) : undefined;
      try {
        const n = Number((await adapter.read(id, handle)) ?? 0);
        await sleep(1);
        await adapter.write(id, String(n + 1), 60, handle);
      } finally {
        await handle?.release();
      }
    }),
  );
}

/**
 * One step of a takeover trial, sent by the parent to every worker, answered with
 * `{ step, trial, yes }`:
 * - `take`: one try for the lock (`wait: 0`: no polling, the race is the first attempt);
 *   `yes` when a handle came back;
 * - `check`: does the handle still hold the lock: a fenced write goes through (`yes`) or is
 *   refused with SessionLockLost; sent only once every worker has answered `take`;
 * - `release`: release the handle, if any.
 */
export interface TakeoverStep {
  step: 'take' | 'check' | 'release';
  trial: number;
}

/** The takeover mode: answers the parent's steps until it disconnects. */
function takeovers(adapter: StreamAdapter, id: string): void {
  let handle: LockHandle | undefined;
  const answer = async ({ step, trial }: TakeoverStep): Promise<boolean> => {
    if (step === 'take') {
      handle = await adapter.lock(id, { wait: 0, expiry: 30, renew: false }).catch((err: { code?: string }) => {
        if (err.code === 'ERR_SESSION_LOCK_TIMEOUT') return undefined;
        throw err;
      });
      return handle !== undefined;
    }
    if (step === 'check') {
      if (handle === undefined) return false;
      return adapter.write(id, `trial ${trial} by ${process.pid}`, 60, handle).then(() => true, (err: { code?: string }) => {
        if (err.code === 'ERR_SESSION_LOCK_LOST') return false;
        throw err;
      });
    }
    await handle?.release();
    handle = undefined;
    return false;
  };
  process.on('message', (message: TakeoverStep) => {
    answer(message).then(
      (yes) => process.send!({ step: message.step, trial: message.trial, yes }),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
  process.once('disconnect', () => process.exit(0));
}

if (require.main === module) {
  const [savePath, id, count, mode] = process.argv.slice(2);
  // An explicit prefix: the parent names the lock file it plants.
  const adapter = new StreamAdapter({ savePath, prefix: 'sess_' });
  if (mode === 'takeover') {
    takeovers(adapter, id);
  } else {
    process.once('message', (message) => {
      if (message !== 'go') process.exit(2);
      increments(adapter, id, Number(count), mode === 'lock').then(
        () => process.send!({ done: Number(count) }, () => process.exit(0)),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
    });
  }
  process.send!({ ready: true });
}
