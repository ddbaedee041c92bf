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
 *
 * @module koa-session-manager/decorators
 */
import type { Context, Middleware, Next } from 'koa';
import type { Bag } from '../Bag';
import { SessionPolicyConflict } from '../errors';
import type { Flash } from '../Flash';
import type { Manager } from '../Manager';
import { resolvePolicy, type ResolvedPolicy, type SessionRoutePolicy } from '../manager/SessionPolicy';
import { startOnce } from '../koa/policy';
import { bagOf, flashOf, requestState } from '../koa/state';
import { SessionNotMountedError, SessionUnavailableError } from './errors';
import { firstUse, sessionParameter } from './parameter';
import { rc } from './routingControllers';

const { getMetadataArgsStorage } = rc;

export { SessionNotMountedError, SessionUnavailableError } from './errors';
export { CsrfProtected, CsrfToken } from './csrf';
export type { SessionRoutePolicy } from '../manager/SessionPolicy';

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
 * An action's own policy overrides its controller's (the most specific wins). Needs
 * `session({ start: 'lazy' })`. The policy runs before the action's other `@UseBefore`
 * middlewares, so they see the session started; a controller-level `@UseBefore` runs before it.
 * Errors are the parameter decorators' HttpErrors (`SessionNotMountedError`,
 * `SessionUnavailableError`), except `SessionPolicyConflict`, a mistake in the app, thrown as it
 * is so that its message reaches the log.
 *
 * @example
 * @JsonController('/cart') @SessionPolicy({ readOnly: true })
 * class CartController {
 *   @Get('/') show(@SessionBag('cart') cart: Bag) { return cart.toArray(); }                   // read-only
 *   @Post('/add') @SessionPolicy() add(@SessionBag('cart') cart: Bag) { cart.set('n', 1); }  // locked, writable
 * }
 */
export function SessionPolicy(policy: SessionRoutePolicy = {}): ClassDecorator & MethodDecorator {
  const middleware = policyMiddleware(resolvePolicy(policy)); // a bad policy fails where it is declared
  return ((target: object, method?: string | symbol) => {
    if (method === undefined) {
      applyToActions(target as Function, middleware);
    } else {
      let own = methodPolicies.get(target);
      if (own === undefined) methodPolicies.set(target, (own = new Map()));
      own.set(method, middleware);
      // First among the action's uses, whichever order the decorators are written in: the
      // action's @UseBefore middlewares and @CsrfProtected() see the session started under it.
      firstUse((target as { constructor: Function }).constructor, method as string, middleware);
    }
  }) as ClassDecorator & MethodDecorator;
}

/**
 * The policy middleware of a decorator. routing-controllers leaves a `@UseBefore` function's
 * errors to Koa, so it throws the parameter decorators' HttpErrors, which Koa answers alike.
 */
function policyMiddleware(wanted: ResolvedPolicy): Middleware {
  return async function sessionPolicy(ctx: Context, next: Next): Promise<void> {
    const state = requestState(ctx);
    if (state === undefined) throw new SessionNotMountedError();
    try {
      await startOnce(state, wanted);
    } catch (err) {
      throw err instanceof SessionPolicyConflict ? err : new SessionUnavailableError(err);
    }
    await next();
  };
}

/**
 * Method-level policies by prototype. Method decorators run before their class's decorators,
 * so a class policy knows which actions declared their own.
 */
const methodPolicies = new WeakMap<object, Map<string | symbol, Middleware>>();

/**
 * A class policy, given per action instead of once for the controller: routing-controllers runs
 * every controller-level middleware for every action, so a controller-level policy and an
 * action's own one would both start the session (SessionPolicyConflict). Each action gets the
 * nearest policy declared for its method, else the class policy.
 */
function applyToActions(controller: Function, classPolicy: Middleware): void {
  const storage = getMetadataArgsStorage();
  const seen = new Set<string>();
  // As routing-controllers' MetadataBuilder.createActions: a subclass serves its parents' actions.
  for (let target = controller; typeof target === 'function' && target !== Function.prototype; target = Object.getPrototypeOf(target)) {
    for (const { method } of storage.filterActionsWithTarget(target)) {
      if (seen.has(method)) continue;
      seen.add(method);
      const own = nearestPolicy(controller.prototype as object, method);
      // routing-controllers already applies a policy declared on this class's own method, but
      // not one declared on a parent class (it matches uses by the action's class): that one is
      // given again here, for this controller.
      if (own?.on === controller.prototype) continue;
      // First among the action's uses, where a controller-level policy ran: the action's own
      // @UseBefore middlewares may read the session.
      firstUse(controller, method, own?.middleware ?? classPolicy);
    }
  }
}

/** The method-level policy of `method` nearest to `proto` in its prototype chain, and where it was found. */
function nearestPolicy(proto: object, method: string): { on: object; middleware: Middleware } | undefined {
  for (let on: object | null = proto; on !== null; on = Object.getPrototypeOf(on) as object | null) {
    const middleware = methodPolicies.get(on)?.get(method);
    if (middleware !== undefined) return { on, middleware };
  }
  return undefined;
}
