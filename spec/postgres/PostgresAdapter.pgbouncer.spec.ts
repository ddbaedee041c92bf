import test from 'ava';
import { PostgresAdapter } from '../../lib/postgres/PostgresAdapter';
import { Manager } from '../../lib/Manager';
import { adapterContract, newId } from '../helpers/adapterContract';
import { FakeTransport } from '../helpers/doubles';
import { usePgbouncer } from '../helpers/pgbouncerServer';

// PostgresAdapter through a private pgbouncer in transaction pooling in front of a private
// PostgreSQL: every statement may run on another server connection, so nothing may depend on
// session state (no advisory locks, no LISTEN: `listen: false`; pgbouncer 1.18 keeps no named
// prepared statements: `prepared: false`).

const pgbouncer = usePgbouncer(test, { poolMode: 'transaction', defaultPoolSize: 4 });
let table: Promise<void> | undefined;
const ready = (): Promise<void> => (table ??= new PostgresAdapter({ url: pgbouncer().url, listen: false, prepared: false }).createTable());

function through(): PostgresAdapter {
  return new PostgresAdapter({ url: pgbouncer().url, listen: false, prepared: false, max: 4 });
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
  const ids = Array.from({ length: 20 }, () => newId());
  for (const id of ids) await adapters[0]!.write(id, JSON.stringify({ c: Date.now(), d: { n: 0 } }), 600);
  await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const m = new Manager({ locking: { wait: 30 } }).setAdapter(adapters[i % 3]!).setTransport(new FakeTransport(ids[i % 20]!));
    await m.start();
    m.set('n', (m.get<number>('n') ?? 0) + 1);
    await m.writeClose();
  }));
  for (const id of ids) t.is(JSON.parse((await adapters[0]!.read(id))!).d.n, 10);
  const pools = await pgbouncer().admin('SHOW POOLS');
  t.true(pools.some((p) => p.pool_mode === 'transaction'), 'the pooler ran in transaction mode');
});
