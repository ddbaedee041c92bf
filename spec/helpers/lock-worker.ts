/**
 * A child process for the cross-process locking specs: a StreamAdapter on a shared directory
 * runs `count` concurrent "lock → read → sleep 1 ms → write n+1 → release" cycles on one id.
 *
 * Usage: `fork(build/spec/helpers/lock-worker.js, [savePath, id, count, 'lock' | 'nolock'])`.
 * It sends `{ ready: true }`, starts on the message `'go'` (so that every process starts
 * together), sends `{ done: count }` and exits; any failure exits with code 1.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter } from '../../lib/adapters/Adapter';
import { StreamAdapter } from '../../lib/adapters/StreamAdapter';

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

if (require.main === module) {
  const [savePath, id, count, mode] = process.argv.slice(2);
  const adapter = new StreamAdapter({ savePath });
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
  process.send!({ ready: true });
}
