import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { Body, Controller, Get, JsonController, Post, UseBefore, useKoaServer } from 'routing-controllers';
import { CsrfProtected, CsrfToken, Session, SessionPolicy } from '../../lib/decorators';
import { InvalidCsrfToken } from '../../lib/csrf';
import { unmaskToken } from '../../lib/csrf/token';
import { session } from '../../lib/koa/middleware';
import type { SessionOptions } from '../../lib/koa/options';
import type { Manager } from '../../lib/Manager';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { InvalidOption } from '../../lib/errors';
import { DownAdapter, SpyAdapter } from '../helpers/doubles';
import { Client, form, listen } from '../helpers/http';

declare module '../../lib/Manager' {
  interface SessionData {
    csrfCount: number;
  }
}

/** Every action but the GETs checked, by the class decorator. */
@JsonController('/guarded')
@CsrfProtected()
class GuardedController {
  @Get('/token')
  token(@CsrfToken() token: string, @Session() s: Manager) {
    return { token, count: s.csrfCount ?? 0 };
  }

  @Post('/count')
  count(@Session() s: Manager) {
    s.csrfCount = (s.csrfCount ?? 0) + 1;
    return { count: s.csrfCount };
  }

  @Post('/form')
  echo(@Body() body: { _csrf?: string; text?: string }) {
    return { text: body.text ?? null };
  }
}

class BaseController {
  @Post('/inherited')
  inherited() {
    return { inherited: true };
  }
}

/** The class decorator reaches the actions a controller inherits. */
@JsonController('/child')
@CsrfProtected()
class ChildController extends BaseController {}

/** Action-level checks, written on either side of the action's own policy. */
@Controller('/actions')
class ActionsController {
  @Post('/above')
  @CsrfProtected()
  @SessionPolicy({ lock: false })
  above(@Session() s: Manager) {
    s.csrfCount = 1;
    return 'above';
  }

  @Post('/below')
  @SessionPolicy({ lock: false })
  @CsrfProtected({ header: 'X-Other-Token' })
  below() {
    return 'below';
  }

  @Post('/open')
  open() {
    return 'open';
  }

  @Post('/seen')
  @UseBefore(async (ctx: Koa.Context, next: Koa.Next) => {
    ctx.state.started = ctx.session.exists();
    await next();
  })
  @SessionPolicy()
  seen(@Session() s: Manager) {
    return String(s.exists());
  }
}

async function serve(t: ExecutionContext, options: SessionOptions & { adapter?: MemoryAdapter | DownAdapter } = {}) {
  const spy = new SpyAdapter(options.adapter ?? new MemoryAdapter());
  const errors: unknown[] = [];
  const app = new Koa();
  app.silent = true;
  app.on('error', (err) => errors.push(err));
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const { status, code } = err as { status?: number; code?: string };
      ctx.status = status ?? 500;
      ctx.body = { code, name: (err as Error).name };
      if (!(err instanceof InvalidCsrfToken)) errors.push(err);
    }
  });
  app.use(session({ gc: false, start: 'lazy', ...options, adapter: spy }));
  useKoaServer(app, {
    controllers: [GuardedController, ChildController, ActionsController],
    defaultErrorHandler: false, development: false, classTransformer: false, validation: false,
  });
  const http = await listen(app);
  t.teardown(() => http.close());
  return { spy, errors, client: new Client(http.url) };
}

const header = (token: string, name = 'x-csrf-token'): RequestInit => ({ method: 'POST', headers: { [name]: token } });

test('@CsrfToken() gives a masked token; @CsrfProtected() on a controller checks its POSTs', async (t) => {
  const { client, spy } = await serve(t);
  const first = await client.json<{ token: string }>('/guarded/token');
  const second = await client.json<{ token: string }>('/guarded/token');
  t.not(first.token, second.token);
  t.deepEqual(unmaskToken(first.token), unmaskToken(second.token));
  t.is(spy.count('write'), 1, 'stored once');

  const refused = await client.fetch('/guarded/count', { method: 'POST' });
  t.is(refused.status, 403);
  t.deepEqual(await refused.json(), { code: 'ERR_CSRF_TOKEN_INVALID', name: 'InvalidCsrfToken' });
  t.deepEqual(await client.json('/guarded/count', header(first.token)), { count: 1 });
  t.deepEqual(await client.json('/guarded/count', header(second.token)), { count: 2 });
  t.deepEqual(await client.json('/guarded/form', form({ _csrf: first.token, text: 'hi' })), { text: 'hi' }, 'the form field (routing-controllers parses the body first)');
  t.is((await client.fetch('/guarded/form', form({ _csrf: first.token.slice(1), text: 'hi' }))).status, 403);
  t.like(await client.json('/guarded/token'), { count: 2 });
});

test("@CsrfProtected() on a controller › covers the actions it inherits", async (t) => {
  const { client } = await serve(t);
  t.is((await client.fetch('/child/inherited', { method: 'POST' })).status, 403);
  const { token } = await client.json<{ token: string }>('/guarded/token');
  t.deepEqual(await client.json('/child/inherited', header(token)), { inherited: true });
});

test('@CsrfProtected() on an action › runs after its @SessionPolicy(), written above or below it', async (t) => {
  const { client, errors } = await serve(t);
  const { token } = await client.json<{ token: string }>('/guarded/token');
  t.is((await client.fetch('/actions/above', { method: 'POST' })).status, 403);
  t.is((await client.fetch('/actions/below', header(token))).status, 403, 'its own header name');
  t.is(await client.text('/actions/above', header(token)), 'above');
  t.is(await client.text('/actions/below', header(token, 'x-other-token')), 'below');
  t.is(await client.text('/actions/open', { method: 'POST' }), 'open', 'an action without it is not checked');
  t.deepEqual(errors, [], 'no SessionPolicyConflict');
});

test("@SessionPolicy() on an action › runs before the action's own @UseBefore middlewares", async (t) => {
  const { client, errors } = await serve(t);
  t.is(await client.text('/actions/seen', { method: 'POST' }), 'true');
  t.deepEqual(errors, []);
});

test('@CsrfProtected() › a store failure while it starts the session is a SessionUnavailableError (503)', async (t) => {
  const { client } = await serve(t, { adapter: new DownAdapter() });
  client.jar.set('sid', 'a'.repeat(32));
  const response = await client.fetch('/guarded/count', header('A'.repeat(86)));
  t.is(response.status, 503);
  t.like(await response.json(), { name: 'SessionUnavailableError' });
});

test('@CsrfProtected() › its options are closed', (t) => {
  t.throws(() => CsrfProtected({ cookie: true } as never), { instanceOf: InvalidOption });
});
