import type Koa from 'koa';
import type Router from 'koa-router';

export type Role = 'admin' | 'customer';

/** Who is signed in: stored in the session at sign-in, after `regenerateId()`. */
export interface Account {
  name: string;
  role: Role;
}

// Typed property access on the session (`session.account`): one augmentation for the whole
// program, so the names stay apart from the basic example's (`user`, `counter`).
declare module '../../lib/Manager' {
  interface SessionData {
    account: Account;
    /** The parallel page's counter. */
    tally: number;
    /** How many slow reports (the writeClose() route) were started. */
    reports: number;
  }
}

/** koa-router's ctx carries `ctx.session`, `ctx.flash`, `ctx.persistent` only with Koa's context type. */
export type ShopRouter = Router<Koa.DefaultState, Koa.Context>;
