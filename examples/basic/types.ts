import type Koa from 'koa';
import type Router from 'koa-router';

// Typed property access on the session: `ctx.session.visits` is `number | null | undefined`.
declare module '../../lib/Manager' {
  interface SessionData {
    visits: number;
    user: string;
    counter: number;
  }
}

/** koa-router's ctx only carries `ctx.session`, `ctx.flash`, `ctx.persistent` when given Koa's context type. */
export type AppRouter = Router<Koa.DefaultState, Koa.Context>;
