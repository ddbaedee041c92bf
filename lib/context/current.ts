import { AsyncLocalStorage } from 'node:async_hooks';
import type { Bag } from '../Bag';
import { SessionContextMissing } from '../errors';
import type { Flash } from '../Flash';
import type { Manager } from '../Manager';
import { bagOf, flashOf, type RequestState } from '../koa/state';

/**
 * The request whose async work is running: set by `session({ context: true })` around the rest
 * of the app, and by `runInSession()`. Node enables its promise hooks only at the first `run()`,
 * so an app that never turns the option on pays nothing for it.
 */
const storage = new AsyncLocalStorage<RequestState>();

/** Whether a middleware with `context: true` was made: the error then says "outside a request". */
let offered = false;

/** @internal Called once per `session({ context: true })`, when the middleware is made. */
export function offerContext(): void {
  offered = true;
}

/** @internal Runs `fn` (the rest of the app, or a test) with `state` as the current request's. */
export function runWithState<R>(state: RequestState, fn: () => R): R {
  return storage.run(state, fn);
}

/** The current request's state, or undefined outside any request that has a context. */
export function contextState(): RequestState | undefined {
  return storage.getStore();
}

/** @internal The current request's state; throws `SessionContextMissing` outside one. */
export function currentState(): RequestState {
  const state = storage.getStore();
  if (state === undefined) throw new SessionContextMissing(offered);
  return state;
}

/**
 * The current request's session (the `Manager` that is `ctx.session`), from any function that
 * runs inside the request, however deep and after however many `await`s. Needs
 * `session({ context: true })` (or `runInSession()` in a test); elsewhere (at start-up, in a job
 * started outside a request, or with the option off) it throws `SessionContextMissing`, never
 * another request's session. Under `start: 'lazy'` the route starts the session, as for
 * `ctx.session`.
 *
 * @example
 * app.use(session({ adapter, context: true }));
 * export function signedInUser(): string | null {
 *   return currentSession().get<string>('user');     // no ctx passed down
 * }
 */
export function currentSession(): Manager {
  return currentState().manager;
}

/**
 * The current request's Bag named `name`: the same object as `sessionBag(ctx, name)` and
 * `@SessionBag(name)` in this request. Throws as {@link currentSession} does.
 *
 * @example
 * const cart = currentBag<{ [product: string]: number }>('cart');
 * cart.set('tea', (cart.get('tea') ?? 0) + 1);
 */
export function currentBag<T extends Record<string, unknown> = Record<string, unknown>>(name: string): Bag<T> {
  return bagOf(currentState(), name) as unknown as Bag<T>;
}

/**
 * The current request's flash messages: the same object as `ctx.flash` in this request. Throws
 * as {@link currentSession} does.
 *
 * @example
 * currentFlash().success('Saved');
 */
export function currentFlash(): Flash {
  return flashOf(currentState());
}
