import test from 'ava';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { currentBag, currentFlash, currentSession } from '../../lib/context/current';
import { InvalidOption, SessionContextMissing, SessionModificationDenied, SessionNotStarted } from '../../lib/errors';
import { session } from '../../lib/koa/middleware';
import type { SessionOptions } from '../../lib/koa/options';
import { sessionPolicy } from '../../lib/koa/policy';
import { sessionBag } from '../../lib/koa/state';
import { Client, listen } from '../helpers/http';

const CODE = 'ERR_SESSION_CONTEXT_MISSING';

/** An app: `session(options)`, then `handler`; errors answer 500 with their code as the body. */
async function serve(t: { teardown(fn: () => unknown): void }, options: SessionOptions, handler: Koa.Middleware, before?: Koa.Middleware) {
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    try { await next(); } catch (err) { ctx.status = 500; ctx.body = String((err as { code?: string }).code ?? err); }
  });
  if (before) app.use(before);
  app.use(session({ adapter: new MemoryAdapter(), gc: false, ...options }));
  app.use(handler);
  const server = await listen(app);
  t.teardown(() => server.close());
  return new Client(server.url);
}

/** Three levels of async functions below the route, none of them given ctx. */
async function deepRead(): Promise<unknown> {
  await sleep(1);
  return deeper();
}
async function deeper(): Promise<unknown> {
  await nextTurn();
  const [a] = await Promise.all([Promise.resolve().then(() => currentSession().get('visits'))]);
  return a;
}

// Serial tests run before the others: no context middleware exists in this process yet.
test.serial('context › with the option off › the accessors throw SessionContextMissing naming session({ context: true }) and runInSession', async (t) => {
  const client = await serve(t, {}, (ctx) => { ctx.body = (() => { try { currentSession(); return 'reached'; } catch (err) { return (err as Error).message; } })(); });
  const message = await client.text('/');
  t.regex(message, /session\(\{ context: true \}\)/);
  t.regex(message, /runInSession/);
  const error = t.throws(() => currentBag('cart'), { instanceOf: SessionContextMissing });
  t.is(error?.code, CODE);
  t.throws(() => currentFlash(), { code: CODE });
});

test('context › inside a request › the accessors give this request\'s Manager, Bag and Flash, the same objects as ctx gives', async (t) => {
  const client = await serve(t, { context: true }, (ctx) => {
    ctx.body = {
      session: currentSession() === ctx.session,
      bag: currentBag('cart') === sessionBag(ctx, 'cart'),
      persistent: currentBag('persistent') === ctx.persistent,
      flash: currentFlash() === ctx.flash,
    };
  });
  t.deepEqual(await client.json('/'), { session: true, bag: true, persistent: true, flash: true });
});

test('context › inside a request › reaches the session after awaits, timers and Promise.all, and writes through it are committed', async (t) => {
  const client = await serve(t, { context: true }, async (ctx) => {
    currentSession().set('visits', Number(currentSession().get('visits') ?? 0) + 1);
    ctx.body = { deep: await deepRead(), id: currentSession().getId() };
  });
  const first = await client.json('/');
  t.is(first.deep, 1);
  const second = await client.json('/');
  t.deepEqual(second, { deep: 2, id: first.id });
  t.is(client.jar.get('sid'), first.id);
});

test('context › outside a request › after a context middleware was made, the message says "outside a request"', (t) => {
  session({ adapter: new MemoryAdapter(), context: true, gc: false });
  const error = t.throws(() => currentSession(), { instanceOf: SessionContextMissing });
  t.is(error?.code, CODE);
  t.regex(error!.message, /outside a request/);
  t.regex(error!.message, /runInSession/);
  t.is(error?.status, 500);
  t.false(error?.expose);
});

test('context › middleware mounted before session() › is outside the context, also after next()', async (t) => {
  const client = await serve(t, { context: true }, (ctx) => { ctx.body = 'route'; }, async (ctx, next) => {
    await next();
    try { currentSession(); ctx.set('x-outer', 'reached'); } catch (err) { ctx.set('x-outer', (err as SessionContextMissing).code); }
  });
  const response = await client.fetch('/');
  t.is(response.headers.get('x-outer'), CODE);
  t.is(await response.text(), 'route');
});

test('context › start: lazy › the route starts the session: before that a read throws SessionNotStarted, after sessionPolicy() it works', async (t) => {
  const app = new Koa();
  app.silent = true;
  app.use(session({ adapter: new MemoryAdapter(), context: true, start: 'lazy', gc: false }));
  app.use(async (ctx, next) => {
    if (ctx.path === '/unstarted') {
      ctx.body = (() => { try { currentSession().get('x'); return 'read'; } catch (err) { return err instanceof SessionNotStarted ? 'not started' : String(err); } })();
      return;
    }
    await next();
  });
  app.use(sessionPolicy());
  app.use((ctx) => { currentSession().set('x', 1); ctx.body = String(currentSession().get('x')); });
  const server = await listen(app);
  t.teardown(() => server.close());
  const client = new Client(server.url);
  t.is(await client.text('/unstarted'), 'not started');
  t.is(await client.text('/started'), '1');
});

test('context › work that outlives the response › still sees its own session, closed: reads work, writes throw', async (t) => {
  let later: Promise<{ value: unknown; write: unknown; id: string }> | undefined;
  const client = await serve(t, { context: true }, (ctx) => {
    currentSession().set('mine', later === undefined ? 'first request' : 'second request');
    later ??= sleep(50).then(() => {
      const s = currentSession();
      let write: unknown = 'allowed';
      try { s.set('mine', 'too late'); } catch (err) { write = err instanceof SessionModificationDenied ? 'denied' : String(err); }
      return { value: s.get('mine'), write, id: s.getId() };
    });
    ctx.body = currentSession().getId();
  });
  const id = await client.text('/');
  await new Client(client.base).text('/'); // another request meanwhile: never seen by the timer
  t.deepEqual(await later, { value: 'first request', write: 'denied', id });
});

test('context › the option is checked: true or false only', (t) => {
  const error = t.throws(() => session({ adapter: new MemoryAdapter(), context: 'yes' as unknown as boolean }), { instanceOf: InvalidOption });
  t.is(error?.option, 'context');
  t.throws(() => session({ adapter: new MemoryAdapter(), contxt: true } as SessionOptions), { message: /did you mean "context"/ });
});
