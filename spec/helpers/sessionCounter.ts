import { Manager } from '../../lib/Manager';
import type { Adapter } from '../../lib/adapters/Adapter';
import { FakeTransport } from './doubles';

/** One session increment through a Manager, as a request does it (locked when the adapter locks); resolves the new count. */
export async function increment(adapter: Adapter, id: string): Promise<number> {
  const session = new Manager({ strict: false }).setAdapter(adapter).setTransport(new FakeTransport(id));
  await session.start();
  const n = (session.get<number>('n') ?? 0) + 1;
  session.set('n', n);
  await session.writeClose();
  return n;
}

/**
 * The session's count, read without the lock: a lock left behind (a Redis master that died
 * while holding it) must not make the count wait for its expiry.
 */
export async function count(adapter: Adapter, id: string): Promise<number> {
  const session = new Manager().setAdapter(adapter).setTransport(new FakeTransport(id)).setPolicy({ readOnly: true });
  await session.start();
  const n = session.get<number>('n') ?? 0;
  await session.abort();
  return n;
}
