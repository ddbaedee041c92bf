import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import { Controller, Ctx, Get, JsonController, Post, Redirect, UseBefore, useKoaServer } from 'routing-controllers';
import { FlashSession, Persistent, Session, SessionBag, SessionNotMountedError, SessionPolicy, SessionUnavailableError } from '../../lib/decorators';
import { session } from '../../lib/koa/middleware';
import type { SessionOptions } from '../../lib/koa/options';
import type { Bag } from '../../lib/Bag';
import type { Flash } from '../../lib/Flash';
import type { Manager } from '../../lib/Manager';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { SessionPolicyConflict } from '../../lib/errors';
import { DownAdapter, SpyAdapter } from '../helpers/doubles';
import { Client, listen } from '../helpers/http';

declare module '../../lib/Manager' {
  interface SessionData {
    decoratedVisits: number;
    notes: string[];
  }
}

/** Resolves when opened from outside: lets a handler wait for another request. */
const gates = new Map<string, { opened: Promise<void>; open(): void }>();
function gate(name: string) {
  let entry = gates.get(name);
  if (!entry) {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => { open = resolve; });
    gates.set(name, (entry = { opened, open }));
  }
  return entry;
}

@JsonController('/visits')
class VisitsController {
  @Post('/')
  count(@Session() s: Manager) {
    s.decoratedVisits = (s.decoratedVisits ?? 0) + 1; // typed through SessionData
    // @ts-expect-error SessionData says decoratedVisits is a number
    if (s.decoratedVisits < 0) s.decoratedVisits = 'many';
    return { visits: s.decoratedVisits, id: s.getId() };
  }

  @Get('/')
  @SessionPolicy({ readOnly: true })
  show(@Session() s: Manager) {
    return { visits: s.decoratedVisits ?? 0 };
  }

  @Post('/sneaky')
  @SessionPolicy({ readOnly: true })
  sneaky(@Session() s: Manager) {
    s.decoratedVisits = 1000;
    return { written: true };
  }

  @Post('/slow')
  async slow(@Session() s: Manager) {
    gate('writer-inside').open();
    await Promise.race([gate('reader-done').opened, sleep(4000)]);
    s.decoratedVisits = 99;
    return { visits: 99 };
  }
}

@JsonController('/account')
class AccountController {
  @Post('/remember')
  remember(@Persistent() mine: Bag, @Ctx() ctx: Koa.Context) {
    mine.set('last', String(ctx.query.what));
    return mine.toArray();
  }

  @Post('/named')
  named(@Persistent('account-v1') mine: Bag, @SessionBag('account-v1') same: Bag) {
    mine.set('kept', true);
    return { same: mine === same };
  }

  @Get('/raw')
  raw(@Session() s: Manager) {
    return { account: s.get('AccountController'), prefs: s.get('PrefsController'), named: s.get('account-v1') };
  }
}

@JsonController('/prefs')
@SessionPolicy({ lock: false })
class PrefsController {
  @Post('/theme')
  theme(@Persistent() mine: Bag, @SessionBag('cart') cart: Bag, @SessionBag('cart') again: Bag) {
    mine.set('theme', 'dark');
    return { sameCart: cart === again };
  }
}

@JsonController('/cart')
class CartController {
  @Post('/add')
  add(@SessionBag('cart') cart: Bag<{ items: string[] }>, @Ctx() ctx: Koa.Context) {
    cart.set('items', [...(cart.get('items') ?? []), String(ctx.query.item)]);
    return cart.get('items');
  }

  @Get('/')
  @SessionPolicy({ readOnly: true })
  show(@SessionBag('cart') cart: Bag<{ items: string[] }>) {
    return { items: cart.get('items') ?? [] };
  }
}

@Controller('/flash')
class FlashController {
  @Post('/save')
  @Redirect('/flash/show')
  save(@FlashSession() flash: Flash) {
    flash.success('Saved <b>');
  }

  @Get('/show')
  show(@FlashSession() flash: Flash) {
    return flash.output() || 'nothing';
  }
}

/** Actions a subclass controller inherits (routing-controllers gives inherited actions no parameters). */
class NotesBase {
  @Get('/inherited-read')
  inheritedRead() {
    return { inherited: 'read' };
  }

  @Post('/inherited-write')
  @SessionPolicy()
  inheritedWrite() {
    return { inherited: 'write' };
  }
}

/** A read-only controller with one action that declares its own, writable policy. */
@JsonController('/notes')
@SessionPolicy({ readOnly: true })
class NotesController extends NotesBase {
  @Get('/')
  list(@Session() s: Manager) {
    return { notes: s.notes ?? [] };
  }

  @Post('/')
  @SessionPolicy()
  add(@Session() s: Manager, @Ctx() ctx: Koa.Context) {
    s.notes = [...(s.notes ?? []), String(ctx.query.text)];
    return { notes: s.notes };
  }

  @Post('/sneaky')
  sneaky(@Session() s: Manager) {
    s.notes = [];
    return { written: true };
  }

  @Get('/seen-before')
  @UseBefore(async (ctx: Koa.Context, next: Koa.Next) => {
    ctx.state.seen = ctx.session.get('notes'); // needs the controller's policy to have started the session
    await next();
  })
  seenBefore(@Ctx() ctx: Koa.Context) {
    return { seen: ctx.state.seen ?? null };
  }
}

const controllers = [VisitsController, AccountController, PrefsController, CartController, FlashController, NotesController];

async function serve(t: ExecutionContext, options: SessionOptions | 'unmounted' = {}) {
  const spy = new SpyAdapter(new MemoryAdapter());
  const errors: unknown[] = [];
  const app = new Koa();
  app.silent = true;
  app.on('error', (err) => errors.push(err));
  if (options !== 'unmounted') app.use(session({ gc: false, start: 'lazy', adapter: spy, ...options }));
  useKoaServer(app, { controllers, development: false, classTransformer: false, validation: false });
  const http = await listen(app);
  t.teardown(() => http.close());
  return { spy, errors, client: new Client(http.url) };
}

const post = { method: 'POST' };

test.serial('@Session() › injects the started Manager; its properties keep their SessionData types', async (t) => {
  const { client } = await serve(t);
  const first = await client.json('/visits', post);
  const second = await client.json('/visits', post);
  t.is(first.visits, 1);
  t.deepEqual(second, { visits: 2, id: first.id });
  t.deepEqual(await client.json('/visits'), { visits: 2 });
});

test.serial('@Session() › also with the eager start (the session is already started)', async (t) => {
  const { client } = await serve(t, { start: 'eager' });
  await client.json('/visits', post);
  t.is((await client.json('/visits', post)).visits, 2);
});

test.serial('@Persistent() › a Bag per controller class, stored under the class name or the name given', async (t) => {
  const { client } = await serve(t);
  t.deepEqual(await client.json('/account/remember?what=shoes', post), { last: 'shoes' });
  t.deepEqual(await client.json('/prefs/theme', post), { sameCart: true }, 'one Bag per name and request');
  t.deepEqual(await client.json('/account/named', post), { same: true });
  t.deepEqual(await client.json('/account/raw'), { account: { last: 'shoes' }, prefs: { theme: 'dark' }, named: { kept: true } });
  t.throws(() => Persistent(''), { instanceOf: TypeError });
});

test.serial('@SessionBag(name) › a named Bag that survives requests', async (t) => {
  const { client } = await serve(t);
  await client.json('/cart/add?item=tea', post);
  t.deepEqual(await client.json('/cart/add?item=cups', post), ['tea', 'cups']);
  t.deepEqual(await client.json('/cart'), { items: ['tea', 'cups'] });
  t.throws(() => SessionBag(''), { instanceOf: TypeError });
});

test.serial('@FlashSession() › a flash message appears once after the redirect', async (t) => {
  const { client } = await serve(t);
  const saved = await client.fetch('/flash/save', post);
  t.is(saved.status, 302);
  t.is(saved.headers.get('location'), '/flash/show');
  const shown = await client.text('/flash/show');
  t.true(shown.includes('Saved &lt;b&gt;'), shown);
  t.is(await client.text('/flash/show'), 'nothing');
});

test.serial('@SessionPolicy({ readOnly: true }) › takes no lock and refuses writes with a 500, storing nothing', async (t) => {
  const { client, spy } = await serve(t);
  await client.json('/visits', post);
  spy.calls.length = 0;
  t.deepEqual(await client.json('/visits'), { visits: 1 });
  t.deepEqual(spy.calls.map((c) => c.split(':')[0]), ['read']);
  spy.calls.length = 0;
  const sneaky = await client.fetch('/visits/sneaky', post);
  t.is(sneaky.status, 500);
  t.is(spy.count('write'), 0);
  t.deepEqual(await client.json('/visits'), { visits: 1 });
});

test.serial('@SessionPolicy({ readOnly: true }) › answers while a writer of the same session holds the lock', async (t) => {
  gates.clear();
  const { client } = await serve(t, { locking: { wait: 2 } });
  await client.json('/visits', post);
  const writer = client.fetch('/visits/slow', post);
  await gate('writer-inside').opened;
  const reader = await client.fetch('/visits');
  gate('reader-done').open();
  t.is(reader.status, 200);
  t.deepEqual(await reader.json(), { visits: 1 });
  t.is((await writer).status, 200);
  t.deepEqual(await client.json('/visits'), { visits: 99 });
});

test.serial('@SessionPolicy({ lock: false }) on a controller › its actions write without the lock', async (t) => {
  const { client, spy } = await serve(t);
  await client.json('/visits', post);
  spy.calls.length = 0;
  await client.json('/prefs/theme', post);
  t.is(spy.count('lock'), 0);
  t.is(spy.count('write'), 1);
});

test.serial('decorators › without the session middleware: a 500 naming the fix, without a stack trace', async (t) => {
  const { client } = await serve(t, 'unmounted');
  const response = await client.fetch('/visits', post);
  const body = await response.text();
  t.is(response.status, 500);
  t.regex(body, /app\.use\(session\(/);
  t.regex(body, /SessionNotMountedError/);
  t.false(body.includes('    at '), body);
  const error = new SessionNotMountedError();
  t.is(error.httpCode, 500);
  t.is(error.code, 'ERR_SESSION_NOT_MOUNTED');
  t.true(error instanceof SessionNotMountedError);
});

test.serial('decorators › a store that is down: 503, and the response says nothing of the store', async (t) => {
  const { client } = await serve(t, { adapter: new DownAdapter() });
  await client.fetch('/visits', post); // no cookie yet: a new session needs no read
  const response = await client.fetch('/visits', { ...post, headers: { cookie: 'sid=abcdefghijklmnopqrstuvwxyz012345' } });
  const body = await response.text();
  t.is(response.status, 503);
  t.false(/ECONNREFUSED|127\.0\.0\.1/.test(body), body);
});

test.serial('@SessionPolicy() › without the session middleware: SessionNotMountedError naming the fix, as the parameter decorators', async (t) => {
  const { client, errors } = await serve(t, 'unmounted');
  for (const path of ['/visits', '/notes']) { // an action's policy, a controller's policy
    const response = await client.fetch(path);
    const body = await response.text();
    t.is(response.status, 500, path);
    t.regex(body, /app\.use\(session\(/, path);
    t.false(body.includes('    at '), body);
  }
  t.is(errors.length, 2);
  t.true(errors.every((err) => err instanceof SessionNotMountedError), String(errors));
});

test.serial('@SessionPolicy() › a store that is down: 503 SessionUnavailableError, and the response says nothing of the store', async (t) => {
  const { client, errors } = await serve(t, { adapter: new DownAdapter() });
  const response = await client.fetch('/visits', { headers: { cookie: 'sid=abcdefghijklmnopqrstuvwxyz012345' } });
  const body = await response.text();
  t.is(response.status, 503);
  t.is(body, 'The session store is unavailable; please try again');
  t.is(errors.length, 1);
  const err = errors[0] as SessionUnavailableError;
  t.true(err instanceof SessionUnavailableError, String(err));
  t.is(err.httpCode, 503);
  t.is((err.cause as { status?: number }).status, 503, 'the store error is kept as the cause, for the log');
  t.is(err.code, (err.cause as { code: string }).code);
});

test.serial("@SessionPolicy() on an action › overrides its controller's: the write goes through and is stored", async (t) => {
  const { client, spy } = await serve(t);
  t.deepEqual(await client.json('/notes?text=first', post), { notes: ['first'] });
  spy.calls.length = 0;
  t.deepEqual(await client.json('/notes?text=second', post), { notes: ['first', 'second'] });
  t.is(spy.count('lock'), 1, 'the default policy: locked');
  t.is(spy.count('write'), 1);
  t.deepEqual(await client.json('/notes'), { notes: ['first', 'second'] });
});

test.serial("@SessionPolicy() on an action › the controller's other actions keep its read-only policy", async (t) => {
  const { client, spy, errors } = await serve(t);
  await client.json('/notes?text=kept', post);
  spy.calls.length = 0;
  t.deepEqual(await client.json('/notes'), { notes: ['kept'] });
  t.deepEqual(spy.calls.map((c) => c.split(':')[0]), ['read'], 'no lock, no write');
  const sneaky = await client.fetch('/notes/sneaky', post);
  t.is(sneaky.status, 500);
  t.is(((await sneaky.json()) as { code?: string }).code, 'ERR_SESSION_MODIFICATION_DENIED');
  t.is(spy.count('write') + spy.count('updateTimestamp'), 0);
  t.deepEqual(errors, []);
  t.deepEqual(await client.json('/notes'), { notes: ['kept'] });
});

test.serial("@SessionPolicy() on an action › inherited actions: their own policy, else the subclass controller's", async (t) => {
  const { client, spy } = await serve(t);
  await client.json('/notes?text=x', post);
  spy.calls.length = 0;
  t.deepEqual(await client.json('/notes/inherited-read'), { inherited: 'read' });
  t.is(spy.count('lock'), 0, "the controller's read-only policy");
  t.deepEqual(await client.json('/notes/inherited-write', post), { inherited: 'write' });
  t.is(spy.count('lock'), 1, "the parent method's own policy");
});

test.serial("@SessionPolicy() on a controller › runs before the action's own @UseBefore middlewares", async (t) => {
  const { client } = await serve(t);
  await client.json('/notes?text=early', post);
  t.deepEqual(await client.json('/notes/seen-before'), { seen: ['early'] });
});

test.serial("@SessionPolicy() › with the eager start, another policy is a SessionPolicyConflict naming start: 'lazy'", async (t) => {
  const { client, errors } = await serve(t, { start: 'eager' });
  t.is((await client.fetch('/visits')).status, 500);
  t.is(errors.length, 1);
  t.true(errors[0] instanceof SessionPolicyConflict, String(errors[0]));
  t.regex((errors[0] as Error).message, /start: 'lazy'/);
});
