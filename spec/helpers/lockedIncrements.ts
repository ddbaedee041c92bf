import type { Adapter } from '../../lib/adapters/Adapter';
import { Manager } from '../../lib/Manager';
import { newId } from './adapterContract';
import { FakeTransport } from './doubles';

/**
 * `sessions × perSession` locked read-modify-write requests at once, spread over the adapters
 * (processes) in turn, through the Manager as a request would; resolves each session's stored
 * count, which is `perSession` for every session when no update was lost.
 *
 * @example
 * t.deepEqual(await lockedIncrements([a, b], 20, 10), Array(20).fill(10));
 */
export async function lockedIncrements(adapters: Adapter[], sessions: number, perSession: number): Promise<number[]> {
  const ids = Array.from({ length: sessions }, () => newId());
  for (const id of ids) await adapters[0]!.write(id, JSON.stringify({ c: Date.now(), d: { n: 0 } }), 600);
  await Promise.all(Array.from({ length: sessions * perSession }, async (_, i) => {
    const m = new Manager({ locking: { wait: 30 } }).setAdapter(adapters[i % adapters.length]!).setTransport(new FakeTransport(ids[i % sessions]!));
    await m.start();
    m.set('n', (m.get<number>('n') ?? 0) + 1);
    await m.writeClose();
  }));
  return Promise.all(ids.map(async (id) => JSON.parse((await adapters[0]!.read(id))!).d.n as number));
}
