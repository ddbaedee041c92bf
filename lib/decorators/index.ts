/**
 * Parameter decorators for routing-controllers 0.11 (Koa driver): controller actions receive the
 * request's session, started, instead of reaching into the Koa context. Imported from
 * `koa-session-manager/decorators`, so only apps using routing-controllers load it.
 *
 * @example
 * import 'reflect-metadata';
 * import { Controller, Get, Post, Redirect } from 'routing-controllers';
 * import { Session, SessionBag, FlashSession, SessionPolicy } from 'koa-session-manager/decorators';
 *
 * @Controller('/cart')
 * class CartController {
 *   @Get('/') @SessionPolicy({ readOnly: true })
 *   show(@SessionBag('cart') cart: Bag<{ items: string[] }>) { return cart.get('items') ?? []; }
 *
 *   @Post('/add') @Redirect('/cart')
 *   add(@SessionBag('cart') cart: Bag, @FlashSession() flash: Flash) { ...; flash.success('Added'); }
 * }
 */
import type { Context } from 'koa';
import { createParamDecorator, UseBefore, type Action } from 'routing-controllers';
import type { Bag } from '../Bag';
import type { Flash } from '../Flash';
import type { Manager } from '../Manager';
import { resolvePolicy, type SessionRoutePolicy } from '../manager/SessionPolicy';
import { sessionPolicy, startSession } from '../koa/policy';
import { bagOf, flashOf, requestState, type RequestState } from '../koa/state';
import { SessionNotMountedError, SessionUnavailableError } from './errors';

export { SessionNotMountedError, SessionUnavailableError } from './errors';
export type { SessionRoutePolicy } from '../manager/SessionPolicy';

/** A parameter decorator whose value is `pick(state)`, once the request's session is started. */
function sessionParameter<T>(pick: (state: RequestState) => T): ParameterDecorator {
  const decorator = createParamDecorator({
    required: false,
    value: async (action: Action): Promise<T> => {
      const ctx = action.context as Context | undefined;
      const state = ctx && requestState(ctx);
      if (state === undefined) throw new SessionNotMountedError();
      if (!state.raw.exists()) {
        try {
          await startSession(ctx!);
        } catch (err) {
          throw new SessionUnavailableError(err);
        }
      }
      return pick(state);
    },
  });
  return decorator as ParameterDecorator;
}

/** The request's `Manager`, started (Phalcon `$this->session`). Its properties are typed by `SessionData`. */
export function Session(): ParameterDecorator {
  return sessionParameter((state): Manager => state.manager);
}

/**
 * A Bag named after the controller class (Phalcon `$this->persistent`, keyed by the class name):
 * each controller keeps its own values across requests. Give `name` when the class name may
 * change (a rename or a minifier would otherwise leave the stored values behind).
 */
export function Persistent(name?: string): ParameterDecorator {
  if (name !== undefined && (typeof name !== 'string' || name === '')) throw new TypeError('@Persistent(name): the name must be a non-empty string');
  return (target, method, index) => {
    const key = name ?? (target as { constructor: { name: string } }).constructor.name;
    sessionParameter((state): Bag => bagOf(state, key))(target, method, index);
  };
}

/** The Bag stored under the session key `name` (Phalcon `new Bag($session, name)`). */
export function SessionBag(name: string): ParameterDecorator {
  if (typeof name !== 'string' || name === '') throw new TypeError('@SessionBag(name): the name must be a non-empty string');
  return sessionParameter((state): Bag => bagOf(state, name));
}

/** The request's Flash (Phalcon `Flash\Session`). */
export function FlashSession(): ParameterDecorator {
  return sessionParameter((state): Flash => flashOf(state));
}

/**
 * The route's session policy, on an action or a whole controller: `@SessionPolicy({ readOnly: true })`
 * takes no lock and forbids writes, `@SessionPolicy({ lock: false })` writes without the lock.
 * Needs `session({ start: 'lazy' })`; it is `@UseBefore(sessionPolicy(policy))`.
 */
export function SessionPolicy(policy: SessionRoutePolicy = {}): ClassDecorator & MethodDecorator {
  resolvePolicy(policy); // a bad policy fails where it is declared
  return UseBefore(sessionPolicy(policy)) as ClassDecorator & MethodDecorator;
}
