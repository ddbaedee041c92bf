import type { ExecutionContext } from 'ava';
import Koa from 'koa';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter } from '../../lib/adapters/Adapter';
import { session } from '../../lib/koa/middleware';
import type { SessionOptions } from '../../lib/koa/options';
import { listen } from './http';
import { sharedJar, startPhp } from './phpServer';

/** What the PHP pages of spec/php/fixtures/www/router.php answer. */
export interface PhpAnswer {
  id: string;
  errors: string[];
  started: number;
  ended: number;
  sessionStarted?: false;
  session?: Record<string, unknown>;
  /** session_encode(), base64. */
  encoded?: string;
  counter?: number;
  written?: boolean;
  same?: boolean;
  stored?: string;
  want?: string;
}

/**
 * The Koa side of the PHP interop specs: `session()` on `adapter` (nothing else set: the cookie
 * name and format come from the adapter), and routes that read, add to the cart, count (after
 * `?sleep` ms, holding the session), set a key, sign in; errors answer `{ code }` with their status.
 */
export async function koaApp(t: ExecutionContext, adapter: Adapter, options: Partial<SessionOptions> = {}): Promise<string> {
  t.teardown(() => adapter.close?.());
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; code?: string; message: string };
      ctx.status = e.status ?? 500;
      ctx.body = { code: e.code, message: e.message };
    }
  });
  app.use(session({ adapter, gc: false, ...options }));
  app.use(async (ctx) => {
    const s = ctx.session;
    switch (ctx.path) {
      case '/whoami': ctx.body = { id: s.getId(), user: s.get('user'), since: s.get('since'), counter: s.get('counter') }; return;
      case '/cart': s.set('cart', [...(s.get<string[]>('cart') ?? []), String(ctx.query.item)]); ctx.body = { cart: s.get('cart') }; return;
      case '/inc': {
        const n = s.get<number>('counter') ?? 0;
        await sleep(Number(ctx.query.sleep ?? 0));
        s.set('counter', n + 1);
        ctx.body = { counter: n + 1 };
        return;
      }
      case '/set': s.set(String(ctx.query.key), JSON.parse(String(ctx.query.value))); ctx.body = { ok: true }; return;
      case '/set-date': s.set('when', new Date()); ctx.body = { ok: true }; return;
      case '/signin': await s.regenerateId(); s.set('user', String(ctx.query.user)); ctx.body = { id: s.getId() }; return;
    }
  });
  const server = await listen(app);
  t.teardown(server.close);
  return server.url;
}

/** A PHP app with `ini` (and `env`) and a Koa app on `adapter`, and a browser for both (one cookie jar). */
export async function sharedApps(t: ExecutionContext, adapter: Adapter, ini: Record<string, string | number>, env: Record<string, string> = {}) {
  const [php, koa] = await Promise.all([startPhp(t, ini, env), koaApp(t, adapter)]);
  const browser = sharedJar(php.url, koa);
  const phpJson = async (path: string): Promise<PhpAnswer> => {
    const response = await browser.php.fetch(path);
    const text = await response.text();
    try {
      return JSON.parse(text) as PhpAnswer;
    } catch {
      throw new Error(`PHP ${path} answered ${response.status}: ${text}\n${php.output()}`);
    }
  };
  const koaJson = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await browser.koa.fetch(path);
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  };
  return { php, browser, phpJson, koaJson };
}

/** Polls `check` every 10 ms until it is true (at most `ms`). */
export async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await sleep(10);
  }
}

/** The base64 session_encode() of a PHP answer, as text. */
export const encoded = (answer: PhpAnswer): string => Buffer.from(answer.encoded ?? '', 'base64').toString('latin1');
