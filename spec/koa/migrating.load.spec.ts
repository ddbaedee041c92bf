import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter } from '../../lib/adapters/Adapter';
import { MigratingAdapter, type MigrationPhase } from '../../lib/adapters/MigratingAdapter';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { PostgresAdapter } from '../../lib/postgres/PostgresAdapter';
import { RedisAdapter } from '../../lib/redis/RedisAdapter';
import { session } from '../../lib/koa/middleware';
import { listen, parseSetCookie } from '../helpers/http';
import { usePostgres } from '../helpers/postgresServer';
import { useRedis } from '../helpers/redisServer';
import { tempDir } from '../helpers/tmp';

/**
 * A live app moves its sessions between real stores under load (issue #16): 50 signed-in
 * sessions take overlapping increments (8 clients, each session twice in a row, round the 50)
 * from a bounded pool of clients (127.0.0.1 only) while
 * the app's adapter goes from the old store alone, through MigratingAdapter's phases, to the
 * new store alone. Each "process" is a Koa app with `session()` (locking on, the defaults) and
 * adapters of its own over the same two stores; a mixed stage sends each request to either of
 * two processes at random, as a rolling deploy does. Ten more sessions sign out along the way
 * and are asked for again with their old cookie.
 *
 * Asserted at the end: every acknowledged increment is there (the count equals the number of
 * 200 answers), every one of the 50 is still signed in, and no signed-out session came back.
 */

const redis = useRedis(test);
const postgres = usePostgres(test, { settings: { max_connections: 200 } });

/**
 * Session lifetime (s): the waits of one lifetime the docs ask for take this long. Each session is
 * asked for once per round of all of them, so a round must stay under it: at 6 s a heavy npm test
 * (the pack spec compiling beside it, about 20 requests a second here) let sessions expire.
 */
const LIFETIME = 10;
const SIGNED_IN = 50;
const LEAVING = 10;
const CLIENTS = 8;

/** The adapter of one process: the old store alone, a phase of the move, or the new store alone. */
type Stage = 'old' | MigrationPhase | 'plain';

interface Pair {
  from(t: ExecutionContext): Promise<Adapter>;
  to(t: ExecutionContext): Promise<Adapter>;
}

let table: Promise<void> | undefined;
const PAIRS: Record<string, () => Promise<Pair>> = {
  'files → Redis': async () => {
    let dir: Promise<string> | undefined;
    const prefix = `move-${Math.random().toString(36).slice(2)}-`; // one store per test: one prefix
    return {
      from: async (t) => new StreamAdapter({ savePath: await (dir ??= tempDir(t, 'move')) }),
      to: async () => new RedisAdapter({ port: redis().port, prefix }),
    };
  },
  'Redis → PostgreSQL': async () => {
    const prefix = `move-${Math.random().toString(36).slice(2)}-`;
    return {
      from: async () => new RedisAdapter({ port: redis().port, prefix }),
      to: async () => {
        const a = new PostgresAdapter({ url: postgres().url, max: 4, timeout: 10 });
        await (table ??= a.createTable());
        return a;
      },
    };
  },
};

/**
 * The schedules: [processes serving, seconds]. All at once: one process swaps its middleware
 * (the old store's sessions reach 'both' through the fallback alone). Rolling: the docs' order,
 * each step mixed with the one before, and one lifetime where the docs ask for it.
 */
const SCHEDULES: Record<string, Array<[Stage[], number]>> = {
  'all at once: old → both → (one lifetime) → new store': [[['old'], 1.5], [['both'], LIFETIME + 1], [['plain'], 1.5]],
  'rolling deploy: old → copy → both → new → new store': [
    [['old'], 1], [['old', 'copy'], 1.5], [['copy'], LIFETIME + 1], [['copy', 'both'], 1.5], [['both'], 1],
    [['both', 'new'], 1.5], [['new'], LIFETIME + 1], [['new', 'plain'], 1.5], [['plain'], 1],
  ],
};

/** One process: an app on its own adapters; resolves its URL. */
async function startProcess(t: ExecutionContext, pair: Pair, stage: Stage): Promise<string> {
  const adapter = stage === 'old' ? await pair.from(t) : stage === 'plain' ? await pair.to(t)
    : new MigratingAdapter({ from: await pair.from(t), to: await pair.to(t), phase: stage });
  t.teardown(() => adapter.close?.());
  const app = new Koa();
  app.use(session({ adapter, lifetime: LIFETIME, gc: false }));
  app.use(async (ctx) => {
    const s = ctx.session;
    const signedIn = s.get('userId') !== null;
    if (ctx.path === '/login') { await s.regenerateId(); s.set('userId', 7); s.set('n', 0); }
    if (ctx.path === '/inc' && signedIn) s.set('n', s.get<number>('n')! + 1);
    if (ctx.path === '/logout') await s.destroy();
    ctx.body = { userId: s.get('userId'), n: s.get('n') };
  });
  const server = await listen(app);
  t.teardown(server.close);
  return server.url;
}

for (const [pairName, makePair] of Object.entries(PAIRS)) {
  for (const [scheduleName, schedule] of Object.entries(SCHEDULES)) {
    test(`migrating under load › ${pairName} › ${scheduleName}: no session lost, no update lost, no logout undone`, async (t) => {
      t.timeout(90_000);
      const pair = await makePair();
      const stages = [...new Set(schedule.flatMap(([serving]) => serving))];
      const urls = new Map<Stage, string>();
      for (const stage of stages) urls.set(stage, await startProcess(t, pair, stage));
      let serving: Stage[] = schedule[0][0];
      const failures: string[] = [];
      const send = async (path: string, sid?: string) => {
        const url = urls.get(serving[Math.floor(Math.random() * serving.length)])!;
        const response = await fetch(url + path, { headers: sid ? { cookie: `sid=${sid}` } : {}, signal: AbortSignal.timeout(20_000) });
        const cookie = response.headers.getSetCookie().map(parseSetCookie).find((c) => c.name === 'sid');
        if (response.status !== 200) failures.push(`${path} ${response.status} on ${serving.join('+')}`);
        return { ok: response.status === 200, body: await response.json().catch(() => ({})) as { userId: number | null; n: number | null }, sid: cookie?.value };
      };

      const sessions = await Promise.all(Array.from({ length: SIGNED_IN + LEAVING }, async () => (await send('/login')).sid!));
      const staying = sessions.slice(0, SIGNED_IN);
      const leaving = sessions.slice(SIGNED_IN);
      const acked = sessions.map(() => 0);
      const perStage = new Map<string, number>();
      const signedOut = new Set<string>();
      // A session whose logout is in flight: asked nothing until it is answered (a request
      // served before the logout may rightly see the user, or lose to it).
      const leavingNow = new Set<string>();
      const comeBack: string[] = [];
      let done = false;
      let cursor = 0;
      const clients = Array.from({ length: CLIENTS }, async () => {
        while (!done) {
          // Round the sessions, each twice in a row: two clients meet on one session (its lock),
          // and every session is asked for within its lifetime while a round of all of them takes
          // less (LIFETIME above).
          // A signed-out one is asked whether it is still out: its copies are live meanwhile.
          const i = Math.floor(cursor++ / 2) % sessions.length;
          const sid = sessions[i];
          if (leavingNow.has(sid)) continue;
          if (signedOut.has(sid)) {
            const { body } = await send('/whoami', sid);
            if (body.userId !== null) comeBack.push(`${i} on ${serving.join('+')}`);
            continue;
          }
          const { ok, body } = await send('/inc', sid);
          if (ok && body.userId === 7) (acked[i]++, perStage.set(serving.join('+'), (perStage.get(serving.join('+')) ?? 0) + 1));
          else if (ok && !signedOut.has(sid) && !leavingNow.has(sid)) failures.push(`session ${i} lost on ${serving.join('+')}: ${JSON.stringify(body)}`);
        }
      });
      const started = Date.now();
      for (const [stage, seconds] of schedule) {
        serving = stage;
        // One logout in each stage, halfway: on the store(s) that stage writes.
        await sleep((seconds * 1000) / 2);
        const sid = leaving.shift();
        if (sid !== undefined) {
          leavingNow.add(sid);
          await send('/logout', sid);
          signedOut.add(sid);
          leavingNow.delete(sid);
          if ((await send('/whoami', sid)).body.userId !== null) comeBack.push(`just after the logout on ${serving.join('+')}`);
        }
        await sleep((seconds * 1000) / 2);
      }
      done = true;
      await Promise.all(clients);
      t.log(`${acked.reduce((a, b) => a + b, 0)} increments in ${((Date.now() - started) / 1000).toFixed(1)} s: ${[...perStage].map(([k, v]) => `${k} ${v}`).join(', ')}`);

      t.deepEqual(failures.slice(0, 10), [], `every request answered, no session found empty (${failures.length} failures)`);
      t.deepEqual(comeBack, [], 'no signed-out session came back');
      for (const [i, sid] of staying.entries()) {
        const { body } = await send('/whoami', sid);
        t.is(body.userId, 7, `session ${i} is still signed in`);
        t.is(body.n, acked[i], `session ${i} holds every acknowledged increment`);
      }
      for (const sid of signedOut) t.is((await send('/whoami', sid)).body.userId, null, 'a signed-out session stays out');
      t.true(acked.slice(0, SIGNED_IN).every((n) => n > 0), 'every session was incremented');
    });
  }
}
