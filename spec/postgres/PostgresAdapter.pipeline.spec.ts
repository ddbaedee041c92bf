import test from 'ava';
import { Client, Pool } from 'pg';
import { PostgresAdapter, type PostgresAdapterOptions } from '../../lib/postgres/PostgresAdapter';
import { pipelineSupported, type PipeClient } from '../../lib/postgres/Pipeline';
import { newId } from '../helpers/adapterContract';
import { lockedIncrements } from '../helpers/lockedIncrements';
import { usePostgres } from '../helpers/postgresServer';

// The PostgresAdapter's pipelined connections (the `pipeline` option, on by default): the
// statements of concurrent requests share a few connections, a statement stuck behind a row lock
// does not hold up the other sessions, and a connection that PostgreSQL ends is made again. The
// adapter contract, the race matrix and the outage specs (PostgresAdapter.spec.ts) run with the
// default, so pipelined; this file shows what is particular to it.

const postgres = usePostgres(test, { settings: { max_connections: 100 } });
let shared: Promise<Pool> | undefined;
/** The spec's own pool (superuser work: row locks, pg_stat_activity, pg_terminate_backend). */
const database = (): Promise<Pool> => (shared ??= (async () => {
  const pool = new Pool({ connectionString: postgres().url, max: 4 });
  pool.on('error', () => undefined);
  await new PostgresAdapter({ pool, listen: false }).createTable();
  return pool;
})());
test.after.always(async () => (await shared)?.end());

function adapter(t: { teardown(fn: () => unknown): void }, options: PostgresAdapterOptions = {}): PostgresAdapter {
  const a = new PostgresAdapter({ url: postgres().url, listen: false, timeout: 5, ...options });
  t.teardown(() => a.close());
  return a;
}

/** The backends whose last statement was one of the adapter's session statements on `table` (not createTable()). */
async function backendsThatRan(table: string): Promise<number[]> {
  const { rows } = await (await database()).query(
    "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE $1 AND query NOT LIKE 'SELECT pg_advisory_xact_lock%'",
    [`%"${table}"%`]);
  return rows.map((row) => row.pid as number);
}

test('PostgresAdapter › pipeline › pg 8.23 pipelines; a Client that drops the option (an older pg) or has no socket to cork (pg-native) is seen as not pipelining', (t) => {
  t.true(pipelineSupported(() => new Client({ pipeline: true } as never) as unknown as PipeClient));
  t.false(pipelineSupported(() => ({}) as PipeClient));
  t.false(pipelineSupported(() => ({ pipeline: true }) as PipeClient));
});

test('PostgresAdapter › pipeline › with an app pool: a pipeline asked for is refused, false is fine', async (t) => {
  const pool = await database();
  t.throws(() => new PostgresAdapter({ pool, pipeline: 2 }), { code: 'ERR_SESSION_INVALID_OPTION', message: /cannot be combined with pool/ });
  t.throws(() => new PostgresAdapter({ pool, pipeline: true }), { message: /cannot be combined with pool/ });
  t.notThrows(() => new PostgresAdapter({ pool, pipeline: false, listen: false }));
});

for (const pipeline of [2, false] as const) {
  test(`PostgresAdapter › pipeline › 160 concurrent locked increments over 16 sessions: exact, ${pipeline === false ? 'through the pool: many connections' : 'over at most 2 connections'}`, async (t) => {
    // The pool variant shows that the count below can tell the two apart.
    await database();
    const table = `pl_${pipeline === false ? 'pool' : 'piped'}`;
    const a = adapter(t, { table, pipeline, max: 10 });
    await a.createTable();
    t.deepEqual(await lockedIncrements([a], 16, 10), Array(16).fill(10));
    const backends = await backendsThatRan(table);
    if (pipeline === false) t.true(backends.length > 2, `${backends.length} backends`);
    else t.true(backends.length >= 1 && backends.length <= 2, `${backends.length} backends`);
  });
}

/**
 * Session S's row is held (SELECT … FOR UPDATE in a transaction of the spec's own) for 1.5 s
 * while the adapter's lock of S waits for it inside PostgreSQL, its statement on one of the two
 * connections; then ten reads of other sessions. Resolves the slowest read's milliseconds.
 */
async function readsBesideAStuckStatement(a: PostgresAdapter): Promise<{ slowestMs: number; lockMs: number }> {
  const s = newId();
  const others = Array.from({ length: 10 }, () => newId());
  for (const id of [s, ...others]) await a.write(id, 'x', 600);
  const holder = await (await database()).connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE', [s]);
    const lockStarted = performance.now();
    const locking = a.lock!(s, { wait: 10 }).then(async (lock) => {
      const lockMs = performance.now() - lockStarted;
      await lock.release();
      return lockMs;
    });
    locking.catch(() => undefined); // awaited below, unless a read fails first
    await new Promise((r) => setTimeout(r, 200));
    const times = await Promise.all(others.map(async (id) => {
      const started = performance.now();
      await a.read(id);
      return performance.now() - started;
    }));
    await new Promise((r) => setTimeout(r, 1300));
    await holder.query('COMMIT');
    return { slowestMs: Math.max(...times), lockMs: await locking };
  } finally {
    holder.release();
  }
}

test('PostgresAdapter › pipeline › a statement waiting for a row lock holds up no other session: new statements go to the idle connection', async (t) => {
  await database();
  const a = adapter(t);
  const { slowestMs, lockMs } = await readsBesideAStuckStatement(a);
  t.true(lockMs >= 1400, `the lock waited for the row: ${Math.round(lockMs)} ms`);
  t.true(slowestMs < 1000, `slowest read beside it: ${Math.round(slowestMs)} ms`);
});

test('PostgresAdapter › pipeline › a connection PostgreSQL ends fails its statement in flight, typed; the next statements are served, on a new connection', async (t) => {
  const a = adapter(t, { table: 'pl_ended' });
  await a.createTable();
  const id = newId();
  await a.write(id, 'kept', 600);
  const sql = await database();
  // A statement in flight: the lock of a row the spec holds; its backend waits for that row.
  const holder = await sql.connect();
  let ended: number[] = [];
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM pl_ended WHERE id = $1 FOR UPDATE', [id]);
    const waiting = a.lock!(id, { wait: 10 });
    await new Promise((r) => setTimeout(r, 300));
    ended = (await sql.query("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%\"pl_ended\"%'")).rows.map((row) => row.pid as number);
    t.is(ended.length, 1, 'the lock statement waits in one backend');
    await sql.query('SELECT pg_terminate_backend($1)', [ended[0]]);
    await t.throwsAsync(waiting, { code: 'ERR_SESSION_STORE' });
    await holder.query('COMMIT');
  } finally {
    holder.release();
  }
  await new Promise((r) => setTimeout(r, 200));
  // Enough at once for both connections.
  t.deepEqual(await Promise.all(Array.from({ length: 8 }, () => a.read(id))), Array(8).fill('kept'));
  const lock = await a.lock!(id, { wait: 5 });
  await a.write(id, 'after', 600, lock);
  t.is(await a.read(id), 'after');
  const after = await backendsThatRan('pl_ended');
  t.is(after.length, 2, `backends ${after.join(',')}`);
  t.false(after.includes(ended[0]!), `the ended backend ${ended[0]} is not among ${after.join(',')}`);
});

test('PostgresAdapter › pipeline › a statement past the timeout fails within about the timeout, with the statements sent behind it on its connection; then all is served again', async (t) => {
  const a = adapter(t, { table: 'pl_timeout', timeout: 1, pipeline: 1 });
  await a.createTable();
  const [stuck, other] = [newId(), newId()];
  await a.write(stuck, 'x', 600);
  await a.write(other, 'y', 600);
  const sql = await database();
  const holder = await sql.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM pl_timeout WHERE id = $1 FOR UPDATE', [stuck]);
    const started = performance.now();
    const locking = a.lock!(stuck, { wait: 10 });
    await new Promise((r) => setTimeout(r, 100));
    // One connection: this read is sent behind the waiting lock statement and shares its fate.
    const behind = a.read(other);
    await t.throwsAsync(locking, { code: 'ERR_SESSION_STORE', message: /timeout|terminated/i });
    const lockMs = performance.now() - started;
    await t.throwsAsync(behind, { code: 'ERR_SESSION_STORE' });
    t.true(lockMs >= 900 && lockMs < 3000, `failed after ${Math.round(lockMs)} ms`);
    await holder.query('COMMIT');
  } finally {
    holder.release();
  }
  t.is(await a.read(other), 'y');
  t.is(await a.read(stuck), 'x');
});

test('PostgresAdapter › pipeline › idle pipelined connections do not keep the process alive: a script that never calls close() exits', async (t) => {
  await database();
  const { execFile } = await import('node:child_process');
  const script = `const { PostgresAdapter } = require(${JSON.stringify(require.resolve('../../lib/postgres/PostgresAdapter'))});
const a = new PostgresAdapter({ url: ${JSON.stringify(postgres().url)}, listen: false });
(async () => { await a.write('exits', 'x', 60); await Promise.all([a.read('exits'), a.read('exits')]); console.log(await a.read('exits')); })();`;
  const started = performance.now();
  const out = await new Promise<{ code: number | null; stdout: string; killed: boolean }>((resolve) => {
    const child = execFile(process.execPath, ['-e', script], { timeout: 8000 }, (err, stdout) => resolve({ code: child.exitCode, stdout, killed: err?.killed === true }));
  });
  t.false(out.killed, 'still running after 8 s');
  t.is(out.stdout.trim(), 'x');
  t.is(out.code, 0);
  t.true(performance.now() - started < 8000);
});
