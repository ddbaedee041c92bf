import test, { type ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import Router from 'koa-router';
import { session } from '../../lib/koa/middleware';
import { sessionPolicy } from '../../lib/koa/policy';
import { sessionBag } from '../../lib/koa/state';
import type { SessionOptions } from '../../lib/koa/options';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { InvalidOption, SessionNotMounted } from '../../lib/errors';
import { SpyAdapter } from '../helpers/doubles';
import { Client, listen } from '../helpers/http';

type AppRouter = Router<Koa.DefaultState, Koa.Context>;

/** A promise to resolve from outside, for handlers that must wait on each other. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { opened, open };
}

/**
 * An app whose session middleware starts lazily (unless `options.start` says otherwise), with
 * plain koa-router routes that declare their policy. Errors are collected by code.
 */
async function serve(t: ExecutionContext, options: SessionOptions = {}, routes?: (router: AppRouter) => void) {
  const spy = new SpyAdapter(new MemoryAdapter());
  const errors: string[] = [];
  const app = new Koa();
  app.silent = true;
  app.on('error', (err: { code?: string }) => errors.push(err.code ?? 'unknown'));
  app.use(session({ gc: false, start: 'lazy', ...options, adapter: spy }));
  const router: AppRouter = new Router();
  router.post('/inc', sessionPolicy(), async (ctx) => {
    const n = ctx.session.get<number>('n', 0)!;
    if (ctx.query.delay) await sleep(Number(ctx.query.delay));
    ctx.session.set('n', n + 1);
    ctx.body = { n: n + 1 };
  });
  router.post('/inc-unlocked', sessionPolicy({ lock: false }), async (ctx) => {
    const n = ctx.session.get<number>('n', 0)!;
    await sleep(Number(ctx.query.delay ?? 0));
    ctx.session.set('n', n + 1);
    ctx.body = { n: n + 1 };
  });
  router.get('/read', sessionPolicy({ readOnly: true }), (ctx) => { ctx.body = { n: ctx.session.get('n') }; });
  router.post('/read-then-write', sessionPolicy({ readOnly: true }), (ctx) => { ctx.session.set('n', 1000); ctx.body = 'written?'; });
  router.get('/no-session', (ctx) => { ctx.body = 'static'; });
  router.get('/touch-unstarted', (ctx) => { ctx.body = { n: ctx.session.get('n') }; });
  router.get('/explicit', async (ctx) => { await ctx.session.start(); ctx.session.set('explicit', true); ctx.body = 'ok'; });
  routes?.(router);
  app.use(router.routes());
  const http = await listen(app);
  t.teardown(() => http.close());
  return { spy, errors, url: http.url, client: new Client(http.url) };
}

test('sessionPolicy() › a read-only route takes no lock, writes and touches nothing, sends no cookie', async (t) => {
  const { spy, client } = await serve(t);
  await client.fetch('/inc', { method: 'POST' });
  spy.calls.length = 0;
  const response = await client.fetch('/read');
  t.deepEqual(await response.json(), { n: 1 });
  t.deepEqual(spy.calls.map((c) => c.split(':')[0]), ['read']);
  t.is(response.headers.get('set-cookie'), null);
});

test('sessionPolicy() › a write on a read-only route throws SessionModificationDenied and stores nothing', async (t) => {
  const { spy, client, errors } = await serve(t);
  await client.fetch('/inc', { method: 'POST' });
  spy.calls.length = 0;
  t.is((await client.fetch('/read-then-write', { method: 'POST' })).status, 500);
  t.deepEqual(errors, ['ERR_SESSION_MODIFICATION_DENIED']);
  t.is(spy.count('write') + spy.count('updateTimestamp'), 0);
  t.deepEqual(await client.json('/read'), { n: 1 });
});

test('sessionPolicy() › a read-only request answers while a writer of the same session holds the lock', async (t) => {
  const writerInside = gate();
  const readerDone = gate();
  const { client } = await serve(t, { locking: { wait: 2 } }, (router) => {
    router.post('/slow-writer', sessionPolicy(), async (ctx) => {
      writerInside.open();
      // With a lock on the reader, this would wait for a reader that waits for us: deadlock, 503.
      await Promise.race([readerDone.opened, sleep(4000)]);
      ctx.session.set('n', 50);
      ctx.body = 'written';
    });
  });
  await client.fetch('/inc', { method: 'POST' });
  const writer = client.fetch('/slow-writer', { method: 'POST' });
  await writerInside.opened;
  const reader = await client.fetch('/read');
  readerDone.open();
  t.is(reader.status, 200);
  t.deepEqual(await reader.json(), { n: 1 }, 'the reader sees the data as it was before the writer commits');
  t.is((await writer).status, 200);
  t.deepEqual(await client.json('/read'), { n: 50 });
});

test('sessionPolicy() › read-only requests of one session run at the same time', async (t) => {
  const inside = { now: 0, most: 0 };
  const all = gate();
  const { client } = await serve(t, { locking: { wait: 2 } }, (router) => {
    router.get('/read-slow', sessionPolicy({ readOnly: true }), async (ctx) => {
      inside.now++;
      inside.most = Math.max(inside.most, inside.now);
      if (inside.now === 5) all.open();
      await Promise.race([all.opened, sleep(3000)]);
      inside.now--;
      ctx.body = { n: ctx.session.get('n') };
    });
  });
  await client.fetch('/inc', { method: 'POST' });
  const responses = await Promise.all(Array.from({ length: 5 }, () => client.fetch('/read-slow')));
  t.true(responses.every((r) => r.status === 200));
  t.is(inside.most, 5, 'all five handlers were inside at once');
});

async function parallelIncrements(t: ExecutionContext, path: string, count: number): Promise<number> {
  const { client, url } = await serve(t);
  await client.fetch('/inc', { method: 'POST' });
  const cookie = `sid=${client.jar.get('sid')}`;
  const responses = await Promise.all(Array.from({ length: count }, () => fetch(`${url}${path}?delay=2`, { method: 'POST', headers: { cookie } })));
  t.true(responses.every((r) => r.status === 200));
  return (await client.json('/read')).n - 1;
}

test('sessionPolicy() › writers of one session stay serialized: 40 parallel increments end at 40', async (t) => {
  t.is(await parallelIncrements(t, '/inc', 40), 40);
});

test('sessionPolicy() › { lock: false } writes without waiting, and so loses parallel updates (the spec above can fail)', async (t) => {
  const survived = await parallelIncrements(t, '/inc-unlocked', 40);
  t.log(`unlocked: ${survived} of 40 increments survived`);
  t.true(survived >= 1 && survived < 40);
});

test('sessionPolicy() › { lock: false } stores its write without taking the lock', async (t) => {
  const { spy, client } = await serve(t);
  await client.fetch('/inc', { method: 'POST' });
  spy.calls.length = 0;
  t.deepEqual(await client.json('/inc-unlocked', { method: 'POST' }), { n: 2 });
  t.is(spy.count('lock'), 0);
  t.is(spy.count('write'), 1);
});

test("start: 'lazy' › a route that never starts the session costs no store call and sends no cookie", async (t) => {
  const { spy, client } = await serve(t);
  await client.fetch('/inc', { method: 'POST' });
  spy.calls.length = 0;
  const response = await client.fetch('/no-session');
  t.is(await response.text(), 'static');
  t.deepEqual(spy.calls, []);
  t.is(response.headers.get('set-cookie'), null);
});

test("start: 'lazy' › touching the session before it starts is a SessionNotStarted error, not a silent null", async (t) => {
  const { client, errors } = await serve(t);
  t.is((await client.fetch('/touch-unstarted')).status, 500);
  t.deepEqual(errors, ['ERR_SESSION_NOT_STARTED']);
});

test("start: 'lazy' › await ctx.session.start() starts it with the default policy", async (t) => {
  const { spy, client } = await serve(t);
  t.is(await client.text('/explicit'), 'ok');
  t.true(client.jar.has('sid'));
  t.is(spy.count('write'), 1);
});

test('sessionPolicy() › a read-only route for a new visitor stores nothing and sends no cookie', async (t) => {
  const { spy, client } = await serve(t);
  const response = await client.fetch('/read');
  t.deepEqual(await response.json(), { n: null });
  t.is(response.headers.get('set-cookie'), null);
  t.is(spy.count('write'), 0);
});

test('sessionPolicy() › a second, different policy on one request is a SessionPolicyConflict', async (t) => {
  const { client, errors } = await serve(t, {}, (router) => {
    router.use('/nested', sessionPolicy());
    router.get('/nested/read', sessionPolicy({ readOnly: true }), (ctx) => { ctx.body = 'never'; });
    router.get('/same', sessionPolicy({ readOnly: true }), sessionPolicy({ readOnly: true }), (ctx) => { ctx.body = 'same twice is fine'; });
  });
  t.is((await client.fetch('/nested/read')).status, 500);
  t.deepEqual(errors, ['ERR_SESSION_POLICY_CONFLICT']);
  t.is(await client.text('/same'), 'same twice is fine');
});

test("sessionPolicy() › with the eager start only the default policy applies; another one names start: 'lazy'", async (t) => {
  let message = '';
  const { client } = await serve(t, { start: 'eager' }, (router) => {
    router.get('/eager-read', async (ctx, next) => {
      try { await next(); } catch (err) { message = (err as Error).message; throw err; }
    }, sessionPolicy({ readOnly: true }), (ctx) => { ctx.body = 'never'; });
  });
  t.deepEqual(await client.json('/inc', { method: 'POST' }), { n: 1 }, 'the default policy is what eager already did');
  t.is((await client.fetch('/eager-read')).status, 500);
  t.regex(message, /start: 'lazy'/);
});

test('sessionPolicy() › without the session middleware it is a SessionNotMounted error', async (t) => {
  const app = new Koa();
  app.silent = true;
  const codes: string[] = [];
  const seen: unknown[] = [];
  app.on('error', (err: { code?: string }) => { codes.push(err.code ?? 'unknown'); seen.push(err); });
  app.use(sessionPolicy());
  app.use((ctx) => { ctx.body = 'never'; });
  const http = await listen(app);
  t.teardown(() => http.close());
  const response = await fetch(http.url);
  t.is(response.status, 500);
  t.false((await response.text()).includes('at '), 'no stack trace in the response');
  t.deepEqual(codes, ['ERR_SESSION_NOT_MOUNTED']);
  t.true(seen[0] instanceof SessionNotMounted, 'the plain SessionError: koa-router apps need no routing-controllers');
});

test('sessionPolicy() › a bad policy is refused when the route is declared, naming the field', (t) => {
  t.is(t.throws(() => sessionPolicy({ readOnly: 'yes' as unknown as boolean }), { instanceOf: InvalidOption })?.option, 'policy.readOnly');
  t.is(t.throws(() => sessionPolicy({ readOnly: true, lock: true }), { instanceOf: InvalidOption })?.option, 'policy.lock');
  t.is(t.throws(() => sessionPolicy(null as never), { instanceOf: InvalidOption })?.option, 'policy');
  t.is(t.throws(() => session({ start: 'later' as never }), { instanceOf: InvalidOption })?.option, 'start');
});

test('sessionBag(ctx, name) › one Bag per name and request, so two parts of a request cannot undo each other', async (t) => {
  const { client } = await serve(t, {}, (router) => {
    router.post('/bags', sessionPolicy(), (ctx) => {
      const a = sessionBag(ctx, 'prefs');
      const b = sessionBag<{ lang: string }>(ctx, 'prefs');
      a.set('theme', 'dark');
      b.set('lang', 'fr'); // a second `new Bag(ctx.session, 'prefs')` here would write { lang } alone
      ctx.body = { same: a === b, stored: ctx.session.get('prefs') };
    });
  });
  t.deepEqual(await client.json('/bags', { method: 'POST' }), { same: true, stored: { theme: 'dark', lang: 'fr' } });
  t.throws(() => sessionBag({} as Koa.Context, 'prefs'), { instanceOf: SessionNotMounted });
});

test('sessionPolicy() › a second policy after writeClose() does not lock and read the session again', async (t) => {
  const { spy, client } = await serve(t, {}, (router) => {
    router.post('/closed-early', sessionPolicy(), async (ctx, next) => {
      ctx.session.set('n', 7);
      await ctx.session.writeClose();
      await next();
    }, sessionPolicy(), (ctx) => { ctx.body = { n: ctx.session.get('n') }; });
  });
  await client.fetch('/inc', { method: 'POST' });
  spy.calls.length = 0;
  t.deepEqual(await client.json('/closed-early', { method: 'POST' }), { n: 7 });
  t.is(spy.count('lock'), 1);
  t.is(spy.count('read'), 1);
});

test("start: 'lazy' › `await ctx.session` gives the Manager, before the start and under a policy", async (t) => {
  /** Returns the session from an async function: the same `then` probe as `await`. */
  const sessionOf = async (ctx: Koa.Context) => ctx.session;
  const { client, errors } = await serve(t, {}, (router) => {
    router.post('/await-then-start', async (ctx) => {
      const s = await ctx.session;
      await s.start();
      s.set('n', 41);
      ctx.body = { same: s === ctx.session };
    });
    router.post('/await-under-policy', sessionPolicy(), async (ctx) => {
      const s = await sessionOf(ctx);
      s.set('n', s.get<number>('n', 0)! + 1);
      ctx.body = { n: s.get('n') };
    });
  });
  t.deepEqual(await client.json('/await-then-start', { method: 'POST' }), { same: true });
  t.deepEqual(await client.json('/await-under-policy', { method: 'POST' }), { n: 42 });
  t.deepEqual(await client.json('/read'), { n: 42 }, 'both writes were stored');
  t.deepEqual(errors, []);
});
