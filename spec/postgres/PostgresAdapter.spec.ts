import test from 'ava';
import { Pool } from 'pg';
import { PostgresAdapter, type PostgresAdapterOptions } from '../../lib/postgres/PostgresAdapter';
import { Manager } from '../../lib/Manager';
import { idTag } from '../../lib/id';
import { adapterContract, newId } from '../helpers/adapterContract';
import { FakeTransport } from '../helpers/doubles';
import { lockedIncrements } from '../helpers/lockedIncrements';
import { usePostgres } from '../helpers/postgresServer';

// PostgresAdapter against a private PostgreSQL (spec/helpers/postgresServer.ts): the adapter
// contract, the table, touch and gc, the pool that lock waiters must not hold, the round trips
// counted by the server itself, and an outage. PgBouncer: PostgresAdapter.pgbouncer.spec.ts.

// Every test runs at once, each with adapters of its own: room for their connections.
const postgres = usePostgres(test, { settings: { max_connections: 400 } });
// ava runs before hooks together: the spec's own pool and the table are made at first use.
let shared: Promise<Pool> | undefined;
const database = (): Promise<Pool> => (shared ??= (async () => {
  const pool = new Pool({ connectionString: postgres().url, max: 2 });
  pool.on('error', () => undefined); // idle connections end when the outage spec kills the server
  await new PostgresAdapter({ pool, listen: false }).createTable();
  return pool;
})());
test.after.always(async () => (await shared)?.end());

function adapter(t: { teardown(fn: () => unknown): void }, options: PostgresAdapterOptions = {}): PostgresAdapter {
  const a = new PostgresAdapter({ url: postgres().url, max: 3, ...options });
  t.teardown(() => a.close());
  return a;
}

// `timeout: 5`: the contract queues 100 unlocked loops on 3 connections, and pg's pool counts the
// wait for a free connection against the timeout; on a 2-core machine running every spec file at
// once the default second ran out (npm test, 2026-12-07). The adapter's own bound is not what it tests.
adapterContract(test, 'PostgresAdapter', async () => {
  await database();
  const a = new PostgresAdapter({ url: postgres().url, max: 3, timeout: 5 });
  return { adapter: a, cleanup: () => a.close() };
}, {
  locking: true,
  persistent: true,
  lockLoss: {
    // An operator's UPDATE, or a takeover after expiry: the row's lock token is no longer the holder's.
    lose: async (_adapter, id) => void (await (await database()).query('UPDATE sessions SET lock_token = NULL, lock_expires_at = NULL WHERE id = $1', [id])),
    twin: async () => new PostgresAdapter({ url: postgres().url, max: 3, timeout: 5 }),
  },
});

test('PostgresAdapter › options › defaults: table sessions, lifetime 3600, locking on unless lockingEnabled is false', (t) => {
  const a = adapter(t);
  t.is(a.lifetime, 3600);
  t.is(typeof a.lock, 'function');
  t.is(adapter(t, { lockingEnabled: false }).lock, undefined);
  t.regex(a.tableSql(), /CREATE TABLE IF NOT EXISTS "sessions"/);
});

for (const [option, value] of [['lifetime', 0], ['lockWait', -1], ['lockExpiry', Number.NaN], ['max', 1.5], ['timeout', 0], ['port', -1], ['pipeline', 0], ['pipeline', 1.5], ['pipeline', 'yes']] as const) {
  test(`PostgresAdapter › options › rejects ${option}: ${String(value)} naming the option`, (t) => {
    const err = t.throws(() => new PostgresAdapter({ [option]: value } as PostgresAdapterOptions), { code: 'ERR_SESSION_INVALID_OPTION' });
    t.is((err as Error & { option: string }).option, option);
  });
}

test("PostgresAdapter › options › connect-pg-simple's names get a direct answer; a bad table name or URL is refused", async (t) => {
  const sql = await database();
  t.throws(() => new PostgresAdapter({ tableName: 'x' } as PostgresAdapterOptions), { message: /use table/ });
  t.throws(() => new PostgresAdapter({ createTableIfMissing: true } as PostgresAdapterOptions), { message: /createTable\(\)/ });
  t.throws(() => new PostgresAdapter({ table: 'x; DROP TABLE y' }), { code: 'ERR_SESSION_INVALID_OPTION' });
  t.throws(() => new PostgresAdapter({ url: 'mysql://x' }), { code: 'ERR_SESSION_INVALID_OPTION' });
  t.throws(() => new PostgresAdapter({ pool: sql, url: postgres().url }), { message: /cannot be combined with pool/ });
});

test('PostgresAdapter › table › createTable() is idempotent; the adapter never creates a table by itself', async (t) => {
  const sql = await database();
  const a = adapter(t, { table: 'made_here' });
  const missing = await t.throwsAsync(a.read(newId()), { code: 'ERR_SESSION_STORE' });
  t.regex(missing!.message, /does not exist/);
  t.is((await sql.query("SELECT to_regclass('made_here') AS t")).rows[0].t, null, 'a failed read made no table');
  await a.createTable();
  await a.createTable();
  await a.write('abc', 'x', 60);
  t.is(await a.read('abc'), 'x');
  const indexes = (await sql.query("SELECT indexname FROM pg_indexes WHERE tablename = 'made_here'")).rows.map((r) => r.indexname);
  t.true(indexes.includes('made_here_expires_at'));
});

test('PostgresAdapter › table › eight adapters starting together may all call createTable()', async (t) => {
  const adapters = Array.from({ length: 8 }, () => adapter(t, { table: 'made_together', listen: false }));
  await Promise.all(adapters.map((a) => a.createTable()));
  await adapters[0]!.write('abc', 'x', 60);
  t.is(await adapters[7]!.read('abc'), 'x');
});

test('PostgresAdapter › table › ids are case-sensitive and never reach the SQL text', async (t) => {
  await database();
  const a = adapter(t);
  await a.write('AbC', 'upper', 60);
  await a.write('abc', 'lower', 60);
  t.is(await a.read('AbC'), 'upper');
  t.is(await a.read('abc'), 'lower');
  await t.throwsAsync(a.read("x' OR '1'='1"), { code: 'ERR_SESSION_INVALID_ID' });
});

const expiresIn = async (id: string): Promise<number> =>
  Number((await (await database()).query('SELECT extract(epoch FROM expires_at - now()) AS s FROM sessions WHERE id = $1', [id])).rows[0].s);

test('PostgresAdapter › touch › a read refreshes the expiry only when it is more than the slack short of a lifetime', async (t) => {
  const sql = await database();
  const a = adapter(t, { touchSlack: 60 });
  const id = newId();
  await a.write(id, 'x', 3600);
  await sql.query("UPDATE sessions SET expires_at = now() + interval '3570 seconds' WHERE id = $1", [id]);
  await a.read(id, undefined, 3600);
  t.true(await expiresIn(id) < 3575, 'within the slack: not written');
  await sql.query("UPDATE sessions SET expires_at = now() + interval '3000 seconds' WHERE id = $1", [id]);
  await a.read(id, undefined, 3600);
  t.true(await expiresIn(id) > 3590, 'beyond the slack: touched to a full lifetime');
});

test("PostgresAdapter › touch › the default slack follows the session's own TTL (a tenth), not the adapter's lifetime; 0 touches on every read", async (t) => {
  const sql = await database();
  const id = newId();
  const a = adapter(t); // lifetime 3600: a slack from it would be 60 s
  await a.write(id, 'x', 300);
  await sql.query("UPDATE sessions SET expires_at = now() + interval '280 seconds' WHERE id = $1", [id]);
  await a.read(id, undefined, 300);
  t.true(await expiresIn(id) < 285, '20 s short of 300: within the 30 s slack');
  await sql.query("UPDATE sessions SET expires_at = now() + interval '260 seconds' WHERE id = $1", [id]);
  await a.read(id, undefined, 300);
  t.true(await expiresIn(id) > 295, '40 s short: beyond the 30 s slack, touched');
  const every = adapter(t, { touchSlack: 0 });
  await sql.query("UPDATE sessions SET expires_at = now() + interval '290 seconds' WHERE id = $1", [id]);
  await every.read(id, undefined, 300);
  t.true(await expiresIn(id) > 295, 'touchSlack 0: touched though only 10 s short');
});

test('PostgresAdapter › errors › lock timeout and lost lock name the session by its tag, never its id', async (t) => {
  await database();
  const a = adapter(t);
  const id = newId();
  await a.write(id, 'x', 600);
  const held = await a.lock!(id, { wait: 1, expiry: 30 });
  const timeout = await t.throwsAsync(adapter(t).lock!(id, { wait: 0.2 }), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
  t.false(timeout!.message.includes(id));
  t.true(timeout!.message.includes(idTag(id)));
  await (await database()).query('UPDATE sessions SET lock_token = NULL WHERE id = $1', [id]);
  const lost = await t.throwsAsync(a.write(id, 'y', 600, held), { code: 'ERR_SESSION_LOCK_LOST' });
  t.false(lost!.message.includes(id));
  await held.release();
});

test('PostgresAdapter › touch › the release of a lock touches as a read would; an expired row is never served', async (t) => {
  const sql = await database();
  const a = adapter(t, { touchSlack: 60 });
  const id = newId();
  await a.write(id, 'x', 3600);
  await sql.query("UPDATE sessions SET expires_at = now() + interval '100 seconds' WHERE id = $1", [id]);
  const lock = await a.lock!(id, { wait: 1, expiry: 10 });
  t.is(await a.read(id, lock, 3600), 'x');
  await lock.release();
  t.true(await expiresIn(id) > 3590);
  await sql.query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1", [id]);
  t.is(await a.read(id, undefined, 3600), null);
  const again = await a.lock!(id, { wait: 1, expiry: 10 });
  t.is(await a.read(id, again, 3600), null, 'nor with the lock');
  await again.release();
});

test('PostgresAdapter › gc › deletes expired rows in batches, keeps live rows and rows whose lock is held', async (t) => {
  const sql = await database();
  const a = adapter(t, { table: 'gc_sessions' });
  await a.createTable();
  await sql.query(`INSERT INTO gc_sessions (id, data, expires_at) SELECT 'old' || g, 'x', now() - interval '1 minute' FROM generate_series(1, 2500) g`);
  await a.write('live', 'x', 60);
  await a.write('held', 'x', 60);
  const lock = await a.lock!('held', { wait: 1, expiry: 30 });
  await sql.query("UPDATE gc_sessions SET expires_at = now() - interval '1 minute' WHERE id = 'held'");
  t.is(await a.gc(), 2500);
  const left = (await sql.query('SELECT id FROM gc_sessions ORDER BY id')).rows.map((r) => r.id);
  t.deepEqual(left, ['held', 'live']);
  await lock.release();
  t.is(await a.gc(), 1, 'once released, the expired row goes');
});

test('PostgresAdapter › pool › 200 concurrent locked increments over 20 sessions through a pool of 5 connections: exact, no pool timeout', async (t) => {
  // Two adapters share the app's pool of 5 (two processes' worth of waiters: each adapter's own
  // queue lets one request per session at a time reach the database). A waiter that held a pool
  // connection would leave the other sessions none: the pool times out after 2 s.
  await database();
  const pool = new Pool({ connectionString: postgres().url, max: 5, connectionTimeoutMillis: 2000, query_timeout: 5000 });
  pool.on('error', () => undefined);
  t.teardown(() => pool.end());
  const adapters = [new PostgresAdapter({ pool }), new PostgresAdapter({ pool })];
  t.teardown(() => Promise.all(adapters.map((a) => a.close())));
  t.deepEqual(await lockedIncrements(adapters, 20, 10), Array(20).fill(10));
});

/**
 * One slow request holds session S's lock for 2.5 s while five requests of S (from five adapters:
 * five processes) wait for it, over one pool of 5 connections with a 1 s acquire timeout; then
 * another session's read must get a connection. `holdConnection` locks as PdoSessionHandler does
 * (a transaction and SELECT … FOR UPDATE, the connection held until release).
 */
async function slowHolderAndOtherSession(holdConnection: boolean): Promise<{ otherMs: number; error?: string }> {
  await database();
  const pool = new Pool({ connectionString: postgres().url, max: 5, connectionTimeoutMillis: 1000, query_timeout: 10_000 });
  pool.on('error', () => undefined);
  const adapters = Array.from({ length: 6 }, () => new PostgresAdapter({ pool, listen: false }));
  const s = newId();
  const other = newId();
  await adapters[0]!.write(s, 'x', 600);
  await adapters[0]!.write(other, 'y', 600);
  const lockS = async (a: PostgresAdapter, holdMs: number): Promise<void> => {
    if (!holdConnection) {
      const lock = await a.lock!(s, { wait: 10 });
      await new Promise((r) => setTimeout(r, holdMs));
      await lock.release();
      return;
    }
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT data FROM sessions WHERE id = $1 FOR UPDATE', [s]);
      await new Promise((r) => setTimeout(r, holdMs));
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  };
  const holder = lockS(adapters[0]!, 2500);
  await new Promise((r) => setTimeout(r, 200));
  const waiters = adapters.slice(1).map((a) => lockS(a, 0));
  await new Promise((r) => setTimeout(r, 300));
  const started = performance.now();
  let error: string | undefined;
  try {
    await adapters[0]!.read(other);
  } catch (err) {
    error = (err as Error).message;
  }
  const otherMs = performance.now() - started;
  await Promise.allSettled([holder, ...waiters]);
  await Promise.all(adapters.map((a) => a.close()));
  await pool.end();
  return error === undefined ? { otherMs } : { otherMs, error };
}

test('PostgresAdapter › pool › waiters hold no connection: another session is served while five requests wait behind a slow one', async (t) => {
  const { otherMs, error } = await slowHolderAndOtherSession(false);
  t.is(error, undefined);
  t.true(otherMs < 1000, `${Math.round(otherMs)} ms`);
});

test('PostgresAdapter › pool › the same with locks that hold their connection (a transaction): the pool is drained, the other session times out', async (t) => {
  // What the spec above would see if waiting held a connection: it can fail.
  const { error } = await slowHolderAndOtherSession(true);
  t.regex(error ?? '', /timeout/i);
});

test.serial('PostgresAdapter › outage › hung (SIGSTOP): the statement timeout bounds the request; resumed: works again', async (t) => {
  const a = adapter(t, { timeout: 0.5 });
  const id = newId();
  await database();
  await a.write(id, 'kept', 600);
  // Both pipelined connections made: the read below meets the statement timeout, not a connect.
  await Promise.all([a.read(id), a.read(id)]);
  postgres().pause();
  try {
    const started = performance.now();
    await t.throwsAsync(a.read(id), { code: 'ERR_SESSION_STORE' });
    t.true(performance.now() - started < 3000, 'bounded');
  } finally {
    postgres().resume();
  }
  t.is(await a.read(id), 'kept');
});

for (const listen of [true, false]) {
  test(`PostgresAdapter › wake-up › ${listen ? 'LISTEN/NOTIFY wakes a waiter of another adapter at the release, long before its next poll' : 'without listen the waiter finds the release at its next poll'}`, async (t) => {
    await database();
    const holder = adapter(t);
    const waiter = adapter(t, { listen, lockPoll: 4 });
    const id = newId();
    await holder.write(id, 'x', 600);
    const held = await holder.lock!(id, { wait: 10 });
    // The waiter's first try is refused; with listen it then listens and tries once more.
    const waiting = waiter.lock!(id, { wait: 10 });
    await new Promise((r) => setTimeout(r, 500));
    const released = performance.now();
    await held.release();
    const next = await waiting;
    const afterRelease = performance.now() - released;
    await next.release();
    if (listen) t.true(afterRelease < 2000, `${Math.round(afterRelease)} ms after the release`);
    else t.true(afterRelease > 2000, `${Math.round(afterRelease)} ms after the release: the 4 s poll`);
  });
}

test('PostgresAdapter › round trips › read-only request 1 statement, locked write 2 (lock+read, write+unlock), counted by pg_stat_statements', async (t) => {
  const sql = await database();
  const a = adapter(t, { table: 'rt_sessions', listen: false });
  await a.createTable();
  const id = newId();
  await a.write(id, JSON.stringify({ c: Date.now(), d: { n: 1 } }), 600);
  const count = async (): Promise<number> =>
    Number((await sql.query("SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_statements WHERE query LIKE '%rt_sessions%' AND query NOT LIKE '%pg_stat_statements%'")).rows[0].n);
  await sql.query('SELECT pg_stat_statements_reset()');
  const reader = new Manager().setAdapter(a).setTransport(new FakeTransport(id)).setPolicy({ readOnly: true });
  await reader.start();
  t.is(reader.get('n'), 1);
  await reader.writeClose();
  t.is(await count(), 1, 'read-only');
  await sql.query('SELECT pg_stat_statements_reset()');
  const writer = new Manager().setAdapter(a).setTransport(new FakeTransport(id));
  await writer.start();
  writer.set('n', 2);
  await writer.writeClose();
  t.is(await count(), 2, 'locked write');
  t.is(JSON.parse((await a.read(id))!).d.n, 2);
});

test.serial('PostgresAdapter › outage › down: a bounded 503-class error, never a missing session; restarted: works again with the same adapter', async (t) => {
  const a = adapter(t, { timeout: 0.5 });
  const id = newId();
  await a.write(id, 'kept', 600);
  await postgres().kill();
  const started = performance.now();
  const err = await t.throwsAsync(a.read(id), { code: 'ERR_SESSION_STORE' });
  t.is((err as Error & { status: number }).status, 503);
  t.true(performance.now() - started < 3000, 'bounded');
  await postgres().restart();
  t.is(await a.read(id), 'kept');
});
