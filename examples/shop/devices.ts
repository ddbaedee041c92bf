import type { Context } from 'koa';
import { UserSessions, type Adapter, type SessionOptions } from '../../lib';

/** Where the shop keeps its UserSessions for the controllers: on the request's state. */
const KEY = 'users';

/**
 * The shop's per-user sessions: "your devices", "sign out other devices", "sign out
 * everywhere", at most 5 sessions per account (the oldest ends). Only over a session store
 * with locks (the default file store, Redis, Memcached, SQL): token sessions (a TokenStore)
 * cannot be listed or ended from the server, so the shop offers none of it then.
 */
export function userSessionsFor(adapter: SessionOptions['adapter']): UserSessions | undefined {
  const store = adapter === undefined || typeof (adapter as Adapter).lock === 'function';
  return store ? new UserSessions({ max: 5 }) : undefined;
}

/** Koa middleware that hands `users` to the routes and controllers of this app. */
export function provideUsers(users: UserSessions | undefined) {
  return (ctx: Context, next: () => Promise<unknown>) => {
    ctx.state[KEY] = users;
    return next();
  };
}

/** The app's UserSessions, or undefined when sessions live in tokens. */
export function usersOf(ctx: Context): UserSessions | undefined {
  return ctx.state[KEY] as UserSessions | undefined;
}

/** A short name for a browser, from its User-Agent, for the devices list. */
export function deviceName(userAgent: string): string {
  const browser = /(Firefox|Edg|Chrome|Safari|curl|node)/i.exec(userAgent)?.[1] ?? 'a browser';
  const system = /(Windows|Mac OS X|Android|iPhone|Linux)/i.exec(userAgent)?.[1];
  return system ? `${browser === 'Edg' ? 'Edge' : browser} on ${system}` : browser;
}
