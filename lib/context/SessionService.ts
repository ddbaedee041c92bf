import type { Bag } from '../Bag';
import type { Flash } from '../Flash';
import type { Manager } from '../Manager';
import { bagOf } from '../koa/state';
import { contextState, currentBag, currentFlash, currentSession, currentState } from './current';

/**
 * The session as an injectable service (Phalcon's `session` service in its DI container): an
 * object with no state of its own whose every member resolves to the current request's session,
 * so one instance serves every request and a singleton may keep it for life. Register it with
 * any container (typedi: `Container.set(SessionService, new SessionService())`) and declare it
 * as a constructor parameter; needs `session({ context: true })`, or `runInSession()` in a test.
 * Outside a request its members throw `SessionContextMissing`.
 *
 * @example
 * @Service()
 * export class CartService {
 *   constructor(private readonly session: SessionService) {}
 *   add(product: string): void {
 *     const cart = this.session.bag<Record<string, number>>('cart');  // this request's cart
 *     cart.set(product, (cart.get(product) ?? 0) + 1);
 *   }
 * }
 */
export class SessionService {
  /** The current request's `Manager` (`ctx.session`): `get`, `set`, property access, `regenerateId()`, … */
  get manager(): Manager {
    return currentSession();
  }

  /** The current request's Bag named `name` (the one `sessionBag(ctx, name)` and `@SessionBag(name)` give). */
  bag<T extends Record<string, unknown> = Record<string, unknown>>(name: string): Bag<T> {
    return currentBag<T>(name);
  }

  /** The current request's `ctx.persistent` (the Bag named by the `persistentName` option). */
  get persistent(): Bag {
    const state = currentState();
    return bagOf(state, state.options.persistentName);
  }

  /** The current request's flash messages (`ctx.flash`). */
  get flash(): Flash {
    return currentFlash();
  }

  /** True inside a request (or `runInSession()`) that has a current session: the members will not throw for want of one. */
  get available(): boolean {
    return contextState() !== undefined;
  }
}
