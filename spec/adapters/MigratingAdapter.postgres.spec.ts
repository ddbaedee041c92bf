import test from 'ava';
import { MigratingAdapter, type MigrationPhase } from '../../lib/adapters/MigratingAdapter';
import { PostgresAdapter } from '../../lib/postgres/PostgresAdapter';
import { RedisAdapter } from '../../lib/redis/RedisAdapter';
import { adapterContract } from '../helpers/adapterContract';
import { usePostgres } from '../helpers/postgresServer';
import { useRedis } from '../helpers/redisServer';

// The adapter contract around MigratingAdapter over real stores, the second move
// docs/migrating.md walks through: Redis → PostgreSQL, in each phase. Private servers on free
// 127.0.0.1 ports (spec/helpers), stopped by PID. Three suites share one machine's cores with
// the rest of the specs: the PostgreSQL adapter gets a 10 s statement timeout rather than 1 s.

const redis = useRedis(test);
const postgres = usePostgres(test, { settings: { max_connections: 400 } });
let table: Promise<void> | undefined;

for (const phase of ['copy', 'both', 'new'] as MigrationPhase[]) {
  adapterContract(test, `MigratingAdapter(Redis → PostgreSQL, ${phase})`, async () => {
    const to = new PostgresAdapter({ url: postgres().url, max: 3, timeout: 10 });
    await (table ??= to.createTable());
    const a = new MigratingAdapter({ from: new RedisAdapter({ port: redis().port }), to, phase });
    return { adapter: a, cleanup: () => a.close() };
  }, { locking: true, persistent: true });
}
