import test from 'ava';
import type { ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { RedisAdapter, type RedisAdapterOptions } from '../../lib/redis/RedisAdapter';
import { AdapterRuntimeError } from '../../lib/errors';
import { newId } from '../helpers/adapterContract';
import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redisSentinel';
import { count, increment } from '../helpers/sessionCounter';
import { checkFailoverWhileConnecting, killMasterUnderLoad } from '../helpers/failoverLoad';

// Each test starts its own Sentinel deployment (master, replica, three sentinels on free
// 127.0.0.1 ports, stopped by PID); the tests run one at a time, so that at most five servers
// and one load share the machine's two cores.

async function deployment(t: ExecutionContext): Promise<RedisSentinelSet> {
  const set = await startRedisSentinel();
  t.teardown(() => set.stop());
  return set;
}

function adapter(t: ExecutionContext, set: RedisSentinelSet, options: RedisAdapterOptions = {}): RedisAdapter {
  const a = new RedisAdapter({ sentinels: set.addresses, name: set.name, ...options });
  t.teardown(() => a.close());
  return a;
}

test.serial('Sentinel › the adapter finds the master by name through the sentinels; locked increments stay exact', async (t) => {
  const set = await deployment(t);
  const a = adapter(t, set);
  const id = newId();
  await Promise.all(Array.from({ length: 50 }, () => increment(a, id)));
  t.is(await count(a, id), 50);
  t.is((a.client as Redis).stream.remotePort, set.master.port, 'connected to the master, not the replica');
});

test.serial('Sentinel › the master is killed mid-load: bounded 503s during the failover, then sessions go on on the new master', async (t) => {
  t.timeout(90_000);
  const set = await deployment(t);
  // Locks held on the old master when it died reach the replica and outlive the failover: their
  // sessions wait up to the lock wait (5 s) and get SessionLockTimeout (a 503) until the lock
  // expires — the default lockExpiry of 30 s, in most runs for every session under load. A short
  // lockExpiry bounds that (renewal keeps a long request's lock); the count reads without the lock.
  await killMasterUnderLoad(t, set, adapter(t, set, { lockExpiry: 5 }), 200);
});

test.serial('Sentinel › a hung master (SIGSTOP): the sentinels fail over and the adapter leaves it for the new master', async (t) => {
  t.timeout(60_000);
  const set = await deployment(t);
  const a = adapter(t, set);
  const id = newId();
  t.is(await increment(a, id), 1);
  const pausedAt = performance.now();
  set.master.pause(); // accepts connections, answers nothing: only the sentinels can tell the client
  t.teardown(() => set.master.resume());
  const failures: string[] = [];
  let served = Number.NaN;
  while (performance.now() - pausedAt < 30_000) {
    const begin = performance.now();
    try {
      await increment(a, id);
      served = performance.now();
      break;
    } catch (err) {
      t.true(err instanceof AdapterRuntimeError, String(err));
      t.true(performance.now() - begin < 8_000, 'no request hangs on the stopped master');
      failures.push((err as Error).message);
      await sleep(100);
    }
  }
  t.false(Number.isNaN(served), 'served by the new master within 30 s');
  t.is((a.client as Redis).stream.remotePort, set.replica.port);
  t.log(`served again ${((served - pausedAt) / 1000).toFixed(2)} s after the master stopped answering; ${failures.length} failed requests`);
  t.true(await count(a, id) >= 1);
});

test.serial('Sentinel › +switch-master heard while the client asks the sentinels: the client reconnects, never ends', async (t) => {
  t.timeout(60_000);
  const set = await deployment(t);
  const a = adapter(t, set);
  const newMaster = await checkFailoverWhileConnecting(t, set, a);
  t.is((a.client as Redis).stream.remotePort, newMaster, 'on the promoted replica');
});
