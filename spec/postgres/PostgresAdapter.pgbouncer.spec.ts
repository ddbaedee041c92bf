import test from 'ava';
import { PostgresAdapter } from '../../lib/postgres/PostgresAdapter';
import { adapterContract } from '../helpers/adapterContract';
import { lockedIncrements } from '../helpers/lockedIncrements';
import { usePgbouncer } from '../helpers/pgbouncerServer';

// PostgresAdapter through a private pgbouncer in transaction pooling in front of a private
// PostgreSQL: every statement may run on another server connection, so nothing may depend on
// session state (no advisory locks, no LISTEN: `listen: false`; pgbouncer 1.18 keeps no named
// prepared statements: `prepared: false`), and statements are not pipelined (`pipeline: false`),
// as docs/adapters.md advises behind a transaction pooler: it hands a server connection on between
// transactions, and whether it first waits for every answer a pipelining client is still owed
// depends on the pooler and its version, which this spec does not vouch for.

const pgbouncer = usePgbouncer(test, { poolMode: 'transaction', defaultPoolSize: 4 });
let table: Promise<void> | undefined;
const ready = (): Promise<void> => (table ??= new PostgresAdapter({ url: pgbouncer().url, listen: false, prepared: false, pipeline: false }).createTable());

// `timeout: 5`: the contract queues 100 unlocked loops on these connections, and pg's pool counts
// the wait for a free one against the timeout (spec/postgres/PostgresAdapter.spec.ts says why).
function through(): PostgresAdapter {
  return new PostgresAdapter({ url: pgbouncer().url, listen: false, prepared: false, pipeline: false, max: 4, timeout: 5 });
}

adapterContract(test, 'PostgresAdapter (pgbouncer, transaction pooling)', async () => {
  await ready();
  const a = through();
  return { adapter: a, cleanup: () => a.close() };
}, {
  locking: true,
  persistent: true,
  lockLoss: {
    lose: async (_adapter, id) => void (await pgbouncer().psql(`UPDATE sessions SET lock_token = NULL WHERE id = '${id}'`)),
    twin: async () => through(),
  },
});

test('PostgresAdapter › pgbouncer › 200 locked increments over 20 sessions from three adapters (processes) through 4 server connections: exact', async (t) => {
  await ready();
  const adapters = [through(), through(), through()];
  t.teardown(() => Promise.all(adapters.map((a) => a.close())));
  t.deepEqual(await lockedIncrements(adapters, 20, 10), Array(20).fill(10));
  const pools = await pgbouncer().admin('SHOW POOLS');
  t.true(pools.some((p) => p.pool_mode === 'transaction'), 'the pooler ran in transaction mode');
});
