import type { LockHandle } from '../../lib';
import { RedisAdapter } from '../../lib/redis';
import { median, quantile } from '../stats';

// Lock hand-off latency under contention: N clients take and release the lock of one session in
// a loop for a few seconds. A hand-off is the time from one holder's release() call to the next
// holder's lock() resolving; holds are sorted by acquisition, so consecutive holds are the
// holder and its successor. One process, one clock; nothing is done while holding the lock.

export interface HandoffResult {
  mode: string;
  clients: number;
  holds: number;
  /** Hand-off latency, ms. */
  p50: number;
  p99: number;
  /** Lock acquisitions per second over the whole window. */
  perSecond: number;
  /** Share of hand-offs slower than 10 ms (a waiter that slept instead of being woken), %. */
  slowShare: number;
}

interface Hold {
  acquired: number;
  releasing: number;
}

async function hammer(lock: () => Promise<LockHandle>, until: number, holds: Hold[]): Promise<void> {
  while (performance.now() < until) {
    const handle = await lock();
    const acquired = performance.now();
    const releasing = performance.now();
    await handle.release();
    holds.push({ acquired, releasing });
  }
}

function summarize(mode: string, clients: number, holds: Hold[], seconds: number): HandoffResult {
  holds.sort((a, b) => a.acquired - b.acquired);
  const gaps: number[] = [];
  for (let i = 1; i < holds.length; i++) gaps.push(holds[i].acquired - holds[i - 1].releasing);
  if (gaps.some((gap) => gap < 0)) throw new Error(`${mode}: a lock was acquired before its previous holder released it`);
  return {
    mode,
    clients,
    holds: holds.length,
    p50: median(gaps),
    p99: quantile(gaps, 0.99),
    perSecond: holds.length / seconds,
    slowShare: (100 * gaps.filter((gap) => gap > 10).length) / Math.max(1, gaps.length),
  };
}

/**
 * Two measurements: `clients` adapters, each with its own Redis connections (as `clients` app
 * processes would be: hand-off through Redis and its pub/sub release message), and one adapter
 * with `clients` concurrent requests (hand-off through the in-process queue, then Redis).
 */
export async function measureHandoff(redisPort: number, clients: number, seconds: number): Promise<HandoffResult[]> {
  const make = () => new RedisAdapter({ host: '127.0.0.1', port: redisPort, lockingEnabled: true, prefix: 'bench-handoff-' });
  const results: HandoffResult[] = [];

  const adapters = Array.from({ length: clients }, make);
  try {
    await Promise.all(adapters.map((a) => a.read('warmup'))); // connected before the clock starts
    const holds: Hold[] = [];
    const until = performance.now() + seconds * 1000;
    await Promise.all(adapters.map((a) => hammer(() => a.lock!('handoff1'), until, holds)));
    results.push(summarize(`${clients} adapters (own connections), one session`, clients, holds, seconds));
  } finally {
    await Promise.all(adapters.map((a) => a.close()));
  }

  const shared = make();
  try {
    await shared.read('warmup');
    const holds: Hold[] = [];
    const until = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, () => hammer(() => shared.lock!('handoff2'), until, holds)));
    results.push(summarize(`one adapter, ${clients} concurrent requests, one session`, clients, holds, seconds));
  } finally {
    await shared.close();
  }
  return results;
}
