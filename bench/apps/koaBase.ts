import type { Server } from 'node:http';
import type Koa from 'koa';
import type { Context, Middleware, Next } from 'koa';
import type { RunningApp } from './types';

// What the Koa contenders share. Every one routes with the same two-way switch on ctx.path (no
// router), so the differences between them are the session layers alone.

export type Handler = (ctx: Context, next: Next) => Promise<void> | void;

export function listen(app: Koa, notes: string[], close: () => Promise<void> = async () => undefined): Promise<RunningApp> {
  return new Promise((resolve, reject) => {
    const server: Server = app.listen(0, '127.0.0.1');
    server.once('error', reject);
    server.once('listening', () => resolve({
      server,
      notes,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((done) => server.close(() => done()));
        await close();
      },
    }));
  });
}

export function routes(app: Koa, inc: Handler, read: Handler): void {
  app.use(async (ctx, next) => {
    if (ctx.path === '/inc') await inc(ctx, next);
    else if (ctx.path === '/read') await read(ctx, next);
    else ctx.status = 404;
  });
}

/** `mw` then `handler`, as a router would chain them on one route. */
export function chain(mw: Middleware, handler: Handler): Handler {
  return (ctx, next) => mw(ctx, async () => { await handler(ctx, next); });
}

