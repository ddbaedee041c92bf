import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';
import { getIronSession } from 'iron-session';
import { listen, routes } from './koaBase';
import { LIFETIME_S, SECRET, type RunningApp } from './types';

// iron-session 8 mounted in Koa the way its README mounts it in any Node server:
// getIronSession(req, res, options) on Node's own request and response (ctx.req, ctx.res), and
// `await session.save()` after a change, which puts a Set-Cookie header on ctx.res before Koa
// writes the response. Every unseal and seal derives its AES-256-CBC and HMAC-SHA256 keys from
// the password (PBKDF2, one iteration, a random salt per seal) through WebCrypto.
// iron-session 9 needs Node 22.13 or newer; 8.0.4 is its last release for Node 20.

interface Counter {
  n?: number;
}

const OPTIONS = {
  password: `${SECRET}-iron`, // at least 32 characters
  cookieName: 'iron',
  ttl: LIFETIME_S, // cookie Max-Age: ttl - 60 s (iron-session's skew)
  cookieOptions: { secure: false, httpOnly: true, sameSite: 'lax' as const, path: '/' },
};

export function ironApp(): Promise<RunningApp> {
  const app = new Koa();
  const sessionOf = (req: IncomingMessage, res: ServerResponse) => getIronSession<Counter>(req, res, OPTIONS);
  routes(app, async (ctx) => {
    const session = await sessionOf(ctx.req, ctx.res);
    session.n = (session.n ?? 0) + 1;
    await session.save();
    ctx.body = String(session.n);
  }, async (ctx) => {
    const session = await sessionOf(ctx.req, ctx.res);
    ctx.body = String(session.n ?? 0);
  });
  return listen(app, ['getIronSession(ctx.req, ctx.res, { password, cookieName, ttl: 3600, cookieOptions: { secure: false } }); /inc: await session.save()']);
}
