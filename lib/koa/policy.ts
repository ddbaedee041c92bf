import type { Context, Middleware, Next } from 'koa';
import { SessionAlreadyStarted, SessionNotMounted, SessionPolicyConflict } from '../errors';
import { describePolicy, resolvePolicy, type ResolvedPolicy, type SessionRoutePolicy } from '../manager/SessionPolicy';
import { requestState, type RequestState } from './state';

/**
 * Route middleware that declares how the route uses the session and starts it accordingly;
 * needs `session({ start: 'lazy' })` (with the default eager start, every session is started,
 * and locked, before any route runs, so only the default policy can still apply).
 * Put it first on the route, or on a router with `router.use()`.
 *
 * @example
 * app.use(session({ adapter, start: 'lazy' }));
 * router.get('/api/cart', sessionPolicy({ readOnly: true }), (ctx) => { ctx.body = ctx.session.cart ?? []; });
 * router.post('/api/cart', sessionPolicy(), addToCart);          // locked, writable
 * router.post('/api/seen', sessionPolicy({ lock: false }), markSeen);
 */
export function sessionPolicy(policy: SessionRoutePolicy = {}): Middleware {
  const wanted = resolvePolicy(policy);
  return async function sessionPolicy(ctx: Context, next: Next): Promise<void> {
    await startOnce(mounted(ctx), wanted);
    await next();
  };
}

function mounted(ctx: Context): RequestState {
  const state = requestState(ctx);
  if (state === undefined) throw new SessionNotMounted();
  return state;
}

const STARTED = Promise.resolve(true);

/**
 * The request's one start, under `wanted` when given (a plain function, not async: the policy
 * middlewares call it on every request and save a frame).
 */
export function startOnce(state: RequestState, wanted: ResolvedPolicy | undefined): Promise<boolean> {
  const manager = state.raw;
  if (wanted !== undefined && wanted !== manager.getPolicy()) {
    try {
      manager.setPolicy(wanted);
    } catch (err) {
      if (!(err instanceof SessionAlreadyStarted)) throw err;
      const why = state.options.start === 'eager'
        ? "session() starts every session before the routes; use session({ start: 'lazy' }) for per-route policies"
        : 'an earlier sessionPolicy(), a session decorator or start() started it first';
      throw new SessionPolicyConflict(`The session was already started with policy ${describePolicy(manager.getPolicy())}, so ${describePolicy(wanted)} cannot apply: ${why}`);
    }
  }
  // Once per request: a session closed early by writeClose() must not be locked and read again.
  return (state.started ??= manager.exists() ? STARTED : manager.start());
}
