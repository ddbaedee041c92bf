import test from 'ava';
import { MigratingAdapter, type MigrationPhase } from '../../lib/adapters/MigratingAdapter';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { RedisAdapter } from '../../lib/redis/RedisAdapter';
import { adapterContract } from '../helpers/adapterContract';
import { useRedis } from '../helpers/redisServer';
import { makeTempDir } from '../helpers/tmp';

// The adapter contract around MigratingAdapter over real stores, the first move
// docs/migrating.md walks through: files → Redis, in each phase (Redis → PostgreSQL:
// MigratingAdapter.postgres.spec.ts). A private Redis on a free 127.0.0.1 port, stopped by PID.

const redis = useRedis(test);

for (const phase of ['copy', 'both', 'new'] as MigrationPhase[]) {
  adapterContract(test, `MigratingAdapter(files → Redis, ${phase})`, async () => {
    const dir = await makeTempDir('migrating');
    const a = new MigratingAdapter({ from: new StreamAdapter({ savePath: dir.path }), to: new RedisAdapter({ port: redis().port }), phase });
    return { adapter: a, cleanup: async () => { await a.close(); await dir.remove(); } };
  }, { locking: true, persistent: true });
}
