import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { RedisAdapter, type RedisAdapterOptions } from '../../lib/redis/RedisAdapter';
import type { LockOptions } from '../../lib/adapters/Adapter';
import { adapterContract, newId } from '../helpers/adapterContract';
import { useRedisCluster } from '../helpers/redisServer';

// A private 3-master Redis Cluster for this file (three redis-server processes with
// --cluster-enabled yes, joined by `redis-cli --cluster create`), stopped by PID afterwards.
const cluster = useRedisCluster(test);

type Teardown = { teardown(fn: () => unknown): void };

/**
 * An app-owned Cluster client, as the README tells users to build it (bounded node options, no
 * Cluster offline queue), with auto-pipelining on: an app may turn it on for its own client, and
 * the scripts must still reach the right node. The adapter never closes a client it was given,
 * so the test quits it.
 */
function newCluster(): Cluster {
  const client = new Cluster(cluster().startupNodes, {
    // A limit meant for the spec: a loaded 2-core machine may take more than production's 1 s
    // to answer while three nodes and the suite share it.
    redisOptions: RedisAdapter.clientOptions(5000),
    enableOfflineQueue: false,
    enableAutoPipelining: true,
  });
  client.on('error', () => undefined); // node errors are reported through the commands
  return client;
}

/** A Cluster client for the spec's own queries, once ready (it has no offline queue). */
async function readyCluster(t: Teardown): Promise<Cluster> {
  const client = newCluster();
  t.teardown(() => quit(client));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise((resolve) => client.once('ready', resolve)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('the Cluster client was not ready within 10 s')), 10_000); }),
  ]).finally(() => clearTimeout(timer));
  return client;
}

async function quit(client: Cluster): Promise<void> {
  await client.quit().catch(() => client.disconnect());
}

/** A locking adapter over its own new Cluster client; both are closed when the test ends. */
function clusterAdapter(t: Teardown, options: RedisAdapterOptions = {}): RedisAdapter {
  const client = newCluster();
  const adapter = new RedisAdapter({ client, readTimeout: 5, ...options });
  t.teardown(async () => {
    await adapter.close();
    await quit(client);
  });
  return adapter;
}

adapterContract(test, 'RedisAdapter (cluster)', async () => {
  const client = newCluster();
  const adapter = new RedisAdapter({ client, lockingEnabled: true });
  return {
    adapter,
    cleanup: async () => {
      await adapter.close();
      await quit(client);
    },
  };
}, { locking: true, persistent: true });

// ---- where keys live ----

/** slot → port of the master serving it, from CLUSTER NODES. */
async function slotOwners(): Promise<Map<number, number>> {
  const owners = new Map<number, number>();
  const text = await cluster().nodes[0].cli('CLUSTER', 'NODES');
  for (const line of text.trim().split('\n')) {
    const [, address, flags, , , , , , ...slots] = line.trim().split(' ');
    if (!flags.split(',').includes('master')) continue;
    const port = Number(/:(\d+)@/.exec(address)![1]);
    for (const range of slots) {
      if (range.startsWith('[')) continue; // a slot being migrated or imported
      const [from, to = from] = range.split('-').map(Number);
      for (let slot = from; slot <= to; slot++) owners.set(slot, port);
    }
  }
  return owners;
}

/** The keys matching `pattern` that each node holds itself (KEYS is local to a cluster node). */
async function keysByPort(pattern: string): Promise<Map<number, Set<string>>> {
  const entries = await Promise.all(cluster().nodes.map(async (node) => {
    const out = (await node.cli('KEYS', pattern)).trim(); // raw output: one key a line
    const keys = out === '' ? [] : out.split('\n');
    return [node.port, new Set(keys)] as const;
  }));
  return new Map(entries);
}

const keySlot = (client: Cluster, key: string) => client.cluster('KEYSLOT', key);

test('RedisAdapter (cluster) › keys › data and lock of one session share a slot', async (t) => {
  const client = await readyCluster(t);
  const ids = [
    ...Array.from({ length: 300 }, newId),
    'a', '-', ',', 'lock', 'x-lock', `${newId()}-lock`, '0'.repeat(128), 'aZ09,-'.repeat(21).slice(0, 128),
  ];
  const started = performance.now();
  for (const id of ids) {
    const data = `sess-reds-{${id}}`;
    const [dataSlot, lockSlot] = await Promise.all([keySlot(client, data), keySlot(client, `${data}.lock`)]);
    if (dataSlot !== lockSlot) return t.fail(`id ${id}: data slot ${dataSlot}, lock slot ${lockSlot}`);
    if (performance.now() - started > 20_000) return t.fail('KEYSLOT checks took longer than 20 s');
  }
  t.pass(`${ids.length} ids checked`);
});

test('RedisAdapter (cluster) › keys › sessions spread over all three masters, each lock next to its data', async (t) => {
  const client = await readyCluster(t);
  // A prefix of its own, so that the contract tests' keys are not counted.
  const prefix = `spread-${newId().slice(0, 8)}-`;
  const spread = clusterAdapter(t, { prefix });
  const ids = Array.from({ length: 200 }, newId);
  await Promise.all(ids.map((id) => spread.write(id, 'x', 60)));
  const locks = await Promise.all(ids.map((id) => spread.lock!(id, { wait: 10, expiry: 30 })));
  t.teardown(() => Promise.all(locks.map((lock) => lock.release().catch(() => undefined))));

  const owners = await slotOwners();
  t.is(owners.size, 16384, 'every slot has a master');
  const held = await keysByPort(`${prefix}*`);
  const perPort = new Map<number, number>();
  const misplaced: string[] = [];
  for (const id of ids) {
    const data = `${prefix}{${id}}`;
    const expected = owners.get(await keySlot(client, data))!;
    const dataOn = [...held].filter(([, keys]) => keys.has(data)).map(([port]) => port);
    const lockOn = [...held].filter(([, keys]) => keys.has(`${data}.lock`)).map(([port]) => port);
    if (dataOn.join() !== String(expected) || lockOn.join() !== String(expected)) {
      misplaced.push(`${id}: slot owner ${expected}, data on [${dataOn.join()}], lock on [${lockOn.join()}]`);
    }
    perPort.set(expected, (perPort.get(expected) ?? 0) + 1);
  }
  t.deepEqual(misplaced, [], 'data and lock of each session live on the master of their slot, and only there');
  const total = [...held.values()].reduce((sum, keys) => sum + keys.size, 0);
  t.is(total, 400, '200 data keys and 200 lock keys, nothing else under the prefix');
  t.log(`200 sessions per master port: ${[...perPort].map(([port, n]) => `${port}=${n}`).join(', ')}`);
  t.true(perPort.size >= 2, 'keys spread over at least two masters');
  t.is(perPort.size, 3, 'keys spread over all three masters');
});

// ---- locking across connections ----

const LOCK: LockOptions = { wait: 20, expiry: 30 };
const INCREMENTS = 200;

/**
 * lock → read → 1 ms pause → fenced write → release, with `INCREMENTS` / 2 on each adapter.
 * Resolves the final counter and how often the lock passed from one client to the other.
 */
async function increments(adapters: RedisAdapter[], id: string, locked: boolean): Promise<{ result: number; switches: number }> {
  const holders: number[] = [];
  await Promise.all(Array.from({ length: INCREMENTS }, async (_, i) => {
    const adapter = adapters[i % adapters.length];
    const handle = locked ? await adapter.lock!(id, LOCK) : undefined;
    holders.push(i % adapters.length);
    try {
      const n = Number((await adapter.read(id, handle)) ?? 0);
      await sleep(1);
      await adapter.write(id, String(n + 1), 60, handle);
    } finally {
      await handle?.release();
    }
  }));
  const switches = holders.filter((holder, n) => n > 0 && holder !== holders[n - 1]).length;
  return { result: Number(await adapters[0].read(id)), switches };
}

/** Fails the test instead of letting a hung run reach ava's timeout without a message. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test.serial(`RedisAdapter (cluster) › locking › ${INCREMENTS} concurrent locked increments over two clients end at exactly ${INCREMENTS}`, async (t) => {
  const adapters = [clusterAdapter(t), clusterAdapter(t)];
  const id = newId();
  const started = performance.now();
  const { result, switches } = await within(40_000, 'the locked increments', increments(adapters, id, true));
  t.log(`${INCREMENTS} locked increments over two Cluster clients: ${(performance.now() - started).toFixed(0)} ms, the lock changed clients ${switches} times`);
  t.is(result, INCREMENTS);
  t.true(switches > 0, 'the two clients contended for the lock in Redis');
});

test.serial(`RedisAdapter (cluster) › locking › without locks the same ${INCREMENTS} increments lose updates (the check above can fail)`, async (t) => {
  const adapters = [clusterAdapter(t), clusterAdapter(t)];
  const id = newId();
  const { result } = await within(20_000, 'the unlocked increments', increments(adapters, id, false));
  t.log(`without locks: ${result} of ${INCREMENTS}`);
  t.true(result < INCREMENTS, `ended at ${result}`);
});

test.serial('RedisAdapter (cluster) › locking › a waiter on another client is woken on release, not after lockWaitTime', async (t) => {
  // lockWaitTime 2 s: a waiter that only slept between tries would take about that long.
  const holder = clusterAdapter(t);
  const waiter = clusterAdapter(t, { lockWaitTime: 2_000_000, lockRetries: 5 });
  const handOffs: number[] = [];
  const deadline = performance.now() + 30_000;
  for (let i = 0; i < 10 && performance.now() < deadline; i++) {
    const id = newId();
    const held = await holder.lock!(id);
    let acquiredAt = 0;
    const waiting = waiter.lock!(id).then((lock) => ((acquiredAt = performance.now()), lock));
    await sleep(30);
    t.is(acquiredAt, 0, 'the waiter did not get a held lock');
    const releasedAt = performance.now();
    await held.release();
    const lock = await within(5_000, 'the hand-off', waiting);
    handOffs.push(acquiredAt - releasedAt);
    await lock.release();
  }
  t.is(handOffs.length, 10);
  const sorted = [...handOffs].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)];
  t.log(`hand-off across Cluster clients: median ${median.toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms (${handOffs.map((ms) => ms.toFixed(1)).join(', ')})`);
  // The median, not every sample: one sample can be late on a loaded machine without a bug.
  t.true(median < 100, `median hand-off ${median.toFixed(1)} ms`);
});

// ---- the readiness wait ----

test('RedisAdapter (cluster) › client › a new Cluster client without an offline queue serves the first requests once ready', async (t) => {
  // The raw client refuses a command sent before the cluster is ready; the adapter waits for
  // readiness (at most its command timeout) instead of failing the first requests.
  const raw = newCluster();
  t.teardown(() => quit(raw));
  await t.throwsAsync(raw.get('probe'), { message: /Cluster isn't ready and enableOfflineQueue options is false/ });

  const a = clusterAdapter(t);
  const ids = Array.from({ length: 50 }, newId);
  const results = await Promise.allSettled(ids.map((id) => a.write(id, 'first', 60)));
  t.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
  t.deepEqual(await Promise.all(ids.map((id) => a.read(id))), ids.map(() => 'first'));

  const b = clusterAdapter(t);
  const locked = await Promise.allSettled(ids.map((id) => b.lock!(id, { wait: 5, expiry: 30 }).then((lock) => lock.release())));
  t.deepEqual(locked.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], 'a lock as the first command');
});
