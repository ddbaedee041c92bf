import test from 'ava';
import { createPool, type Pool } from 'mysql2/promise';
import { MysqlAdapter, type MysqlAdapterOptions, type MysqlPool } from '../../lib/mysql/MysqlAdapter';
import { adapterContract, newId } from '../helpers/adapterContract';
import { lockedIncrements } from '../helpers/lockedIncrements';
import { useMariadb } from '../helpers/mariadbServer';

// MysqlAdapter against a private MariaDB (spec/helpers/mariadbServer.ts): the adapter contract,
// the table, touch and gc, the pool that lock waiters must not hold, and an outage.

const mariadb = useMariadb(test);
// ava runs before hooks together: the spec's own pool and the table are made at first use.
let shared: Promise<Pool> | undefined;
const database = (): Promise<Pool> => (shared ??= (async () => {
  const pool = createPool({ uri: mariadb().url, connectionLimit: 2 });
  await new MysqlAdapter({ pool: pool as unknown as MysqlPool }).createTable();
  return pool;
})());
test.after.always(async () => (await shared)?.end());

function adapter(t: { teardown(fn: () => unknown): void }, options: MysqlAdapterOptions = {}): MysqlAdapter {
  const a = new MysqlAdapter({ url: mariadb().url, max: 3, ...options });
  t.teardown(() => a.close());
  return a;
}

adapterContract(test, 'MysqlAdapter', async () => {
  await database();
  const a = new MysqlAdapter({ url: mariadb().url, max: 3 });
  return { adapter: a, cleanup: () => a.close() };
}, {
  locking: true,
  persistent: true,
  lockLoss: {
    lose: async (_adapter, id) => void (await (await database()).query('UPDATE sessions SET lock_token = NULL, lock_expires_at = NULL WHERE id = ?', [id])),
    twin: async () => new MysqlAdapter({ url: mariadb().url, max: 3 }),
  },
});

test("MysqlAdapter › options › defaults, and other stores' names answered", (t) => {
  const a = adapter(t);
  t.is(a.lifetime, 3600);
  t.is(typeof a.lock, 'function');
  t.regex(a.tableSql(), /CREATE TABLE IF NOT EXISTS `sessions`/);
  t.throws(() => new MysqlAdapter({ connectionLimit: 5 } as MysqlAdapterOptions), { message: /use max/ });
  t.throws(() => new MysqlAdapter({ url: 'postgres://x' }), { code: 'ERR_SESSION_INVALID_OPTION' });
  t.throws(() => new MysqlAdapter({ table: 'a-b' }), { code: 'ERR_SESSION_INVALID_OPTION' });
});

test('MysqlAdapter › table › createTable() is idempotent; ids are case-sensitive (ascii_bin)', async (t) => {
  const a = adapter(t, { table: 'made_here' });
  await t.throwsAsync(a.read(newId()), { code: 'ERR_SESSION_STORE' });
  await a.createTable();
  await a.createTable();
  await a.write('AbC', 'upper', 60);
  await a.write('abc', 'lower', 60);
  t.is(await a.read('AbC'), 'upper');
  t.is(await a.read('abc'), 'lower');
});

test("MysqlAdapter › lock › right under MariaDB's SIMULTANEOUS_ASSIGNMENT too: the taker's expiry is set, a held lock is refused", async (t) => {
  await database();
  const pool = createPool({ uri: mariadb().url, connectionLimit: 1 });
  t.teardown(() => pool.end());
  await pool.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',SIMULTANEOUS_ASSIGNMENT')");
  const a = new MysqlAdapter({ pool: pool as unknown as MysqlPool });
  const id = newId();
  await a.write(id, 'x', 600);
  const first = await a.lock!(id, { wait: 1, expiry: 30 });
  const [rows] = await pool.query('SELECT lock_expires_at > NOW(3) AS set_ FROM sessions WHERE id = ?', [id]);
  t.is(Number((rows as Array<{ set_: number }>)[0]!.set_), 1, 'the expiry moved with the token');
  await t.throwsAsync(a.lock!(id, { wait: 0.3 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
  await first.release();
  const second = await a.lock!(id, { wait: 1 });
  await second.release();
});

test('MysqlAdapter › touch › a read refreshes the expiry only beyond the slack; an expired row is never served', async (t) => {
  const sql = await database();
  const a = adapter(t, { touchSlack: 60 });
  const id = newId();
  const expiresIn = async (): Promise<number> =>
    Number(((await sql.query('SELECT TIMESTAMPDIFF(SECOND, NOW(3), expires_at) AS s FROM sessions WHERE id = ?', [id]))[0] as Array<{ s: number }>)[0]!.s);
  await a.write(id, 'x', 3600);
  await sql.query('UPDATE sessions SET expires_at = NOW(3) + INTERVAL 3570 SECOND WHERE id = ?', [id]);
  await a.read(id, undefined, 3600);
  t.true(await expiresIn() < 3575, 'within the slack: not written');
  await sql.query('UPDATE sessions SET expires_at = NOW(3) + INTERVAL 3000 SECOND WHERE id = ?', [id]);
  await a.read(id, undefined, 3600);
  t.true(await expiresIn() > 3590, 'beyond the slack: touched');
  await sql.query('UPDATE sessions SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ?', [id]);
  t.is(await a.read(id, undefined, 3600), null);
});

test('MysqlAdapter › gc › deletes expired rows in batches, keeps live rows and rows whose lock is held', async (t) => {
  const sql = await database();
  const a = adapter(t, { table: 'gc_sessions' });
  await a.createTable();
  const values = Array.from({ length: 2500 }, (_, i) => `('old${i}', 'x', NOW(3) - INTERVAL 1 MINUTE)`).join(',');
  await sql.query(`INSERT INTO gc_sessions (id, data, expires_at) VALUES ${values}`);
  await a.write('live', 'x', 60);
  await a.write('held', 'x', 60);
  const lock = await a.lock!('held', { wait: 1, expiry: 30 });
  await sql.query("UPDATE gc_sessions SET expires_at = NOW(3) - INTERVAL 1 MINUTE WHERE id = 'held'");
  t.is(await a.gc(), 2500);
  const [rows] = await sql.query('SELECT id FROM gc_sessions ORDER BY id');
  t.deepEqual((rows as Array<{ id: string }>).map((r) => r.id), ['held', 'live']);
  await lock.release();
  t.is(await a.gc(), 1);
});

test('MysqlAdapter › pool › 200 concurrent locked increments over 20 sessions through a pool of 5 connections: exact', async (t) => {
  const pool = createPool({ uri: mariadb().url, connectionLimit: 5 }) as unknown as MysqlPool;
  t.teardown(() => pool.end());
  const adapters = [new MysqlAdapter({ pool }), new MysqlAdapter({ pool })];
  t.deepEqual(await lockedIncrements(adapters, 20, 10), Array(20).fill(10));
});

test.serial("MysqlAdapter › outage › hung (SIGSTOP): every statement carries the timeout, through the app's own pool too", async (t) => {
  await database();
  const pool = createPool({ uri: mariadb().url, connectionLimit: 2 });
  t.teardown(() => pool.end().catch(() => undefined));
  const a = new MysqlAdapter({ pool: pool as unknown as MysqlPool, timeout: 0.5 });
  const id = newId();
  await a.write(id, 'kept', 600);
  mariadb().pause();
  try {
    const started = performance.now();
    await t.throwsAsync(a.read(id), { code: 'ERR_SESSION_STORE' });
    t.true(performance.now() - started < 3000, 'bounded');
  } finally {
    mariadb().resume();
  }
  t.is(await a.read(id), 'kept');
});

test.serial('MysqlAdapter › outage › down: a bounded 503-class error; restarted: works again with the same adapter', async (t) => {
  const a = adapter(t, { timeout: 0.5 });
  const id = newId();
  await database();
  await a.write(id, 'kept', 600);
  await mariadb().kill();
  const started = performance.now();
  const err = await t.throwsAsync(a.read(id), { code: 'ERR_SESSION_STORE' });
  t.is((err as Error & { status: number }).status, 503);
  t.true(performance.now() - started < 3000, 'bounded');
  await mariadb().restart();
  t.is(await a.read(id), 'kept');
});
