import type { ExecutionContext } from 'ava';
import Koa from 'koa';
import * as jose from 'jose';
import { session } from '../../lib/koa/middleware';
import type { SessionOptions } from '../../lib/koa/options';
import { TokenStore, type TokenStoreOptions } from '../../lib/token';
import type { SessionEventMap } from '../../lib/SessionEvents';
import { Client, listen } from './http';
import './anyKeys';

/** A secret the specs share, so that they can forge tokens with it. */
export const SECRET = TokenStore.generateSecret();
export const KEYS = [{ kid: 'k1', secret: SECRET }];

/** One event a token app reported: its name and its details (without session and context). */
export interface Reported {
  event: string;
  reason?: string;
  cause?: string;
  id?: string;
  operation?: string;
}

/** Resolves when opened from outside: lets a handler wait for another request. */
export function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { opened, open };
}

/**
 * A Koa app on a TokenStore, on a free 127.0.0.1 port: `/inc` adds one to `n`, `/read` shows
 * the session, `/login` regenerates the id and signs in, `/logout` destroys, `/put?size=N`
 * stores N characters, `/wait` (and `/login?wait=1`) opens `gates.reached` once it has read the
 * session, then blocks on `gates.wait` before it adds one (signs in).
 */
export async function serveTokens(t: ExecutionContext, storeOptions: Partial<TokenStoreOptions> = {}, sessionOptions: SessionOptions = {}) {
  const store = new TokenStore({ keys: KEYS, ...storeOptions });
  const app = new Koa();
  app.silent = true;
  const mw = session({ gc: false, ...sessionOptions, adapter: store });
  const events: Reported[] = [];
  for (const event of ['session:invalid', 'session:expired', 'session:discarded', 'session:created', 'session:regenerated', 'session:destroyed', 'session:storeError'] as const) {
    mw.events.on(event, (payload: SessionEventMap[typeof event]) => {
      const { session: _s, context: _c, ...details } = payload as Record<string, unknown>;
      events.push({ event, ...(details as Omit<Reported, 'event'>) });
    });
  }
  // `reached` opens once a waiting handler has read the session: the spec acts then, not after a guessed sleep.
  const gates = { wait: gate(), reached: gate() };
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; code?: string };
      ctx.status = e.status ?? 500;
      ctx.body = { error: e.code ?? 'unknown' };
    }
  });
  app.use(mw);
  app.use(async (ctx) => {
    const s = ctx.session;
    switch (ctx.path) {
      case '/inc':
        s.set('n', s.get<number>('n', 0)! + 1);
        break;
      case '/wait': {
        const n = s.get<number>('n', 0)!;
        gates.reached.open();
        await gates.wait.opened;
        s.set('n', n + 1);
        break;
      }
      case '/login':
        if (ctx.query.wait) {
          gates.reached.open();
          await gates.wait.opened;
        }
        await s.regenerateId();
        s.set('user', String(ctx.query.user ?? 'alice'));
        break;
      case '/logout':
        await s.destroy();
        ctx.body = { out: true };
        return;
      case '/put':
        s.set('pad', 'x'.repeat(Number(ctx.query.size)));
        break;
      case '/flash':
        ctx.flash.success('saved');
        ctx.redirect('/show');
        return;
      case '/show':
        ctx.body = { messages: ctx.flash.getMessages() };
        return;
      case '/bag':
        ctx.persistent.set('seen', (ctx.persistent.get('seen') as number | undefined ?? 0) + 1);
        break;
      default:
        break;
    }
    ctx.body = { id: s.getId(), n: s.get('n', 0), user: s.get('user'), seen: s.get<{ seen?: number }>('persistent')?.seen ?? null };
  });
  const http = await listen(app);
  t.teardown(() => http.close());
  return { store, mw, events, gates, url: http.url, client: new Client(http.url) };
}

/** The claims of a signed token, read without verifying (as any client can). */
export function claimsOf(token: string): Record<string, any> {
  return jose.decodeJwt(token) as Record<string, any>;
}

/** The protected header of a token (JWS or JWE). */
export function headerOf(token: string): Record<string, any> {
  return jose.decodeProtectedHeader(token) as Record<string, any>;
}

/**
 * A signed token made outside the TokenStore with the shared secret (or `secret`): valid
 * claims unless `claims` replaces them, the store's header unless `header` does.
 */
export async function forge(claims: Record<string, unknown>, header: Record<string, unknown> = {}, secret = SECRET): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = { jti: 'forgedForgedForgedForgedForged01', iat: now, exp: now + 600, c: Date.now(), d: { n: 41 }, ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete (payload as Record<string, unknown>)[k];
  return new jose.SignJWT(payload as jose.JWTPayload)
    .setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'session+jwt', ...header } as jose.JWTHeaderParameters)
    .sign(Buffer.from(secret, 'base64url'));
}
