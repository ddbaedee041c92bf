import type { Context, Middleware, Next } from 'koa';
import { verifyRequest } from '../csrf/csrf';
import { InvalidCsrfToken } from '../csrf/errors';
import { resolveCsrfOptions, type CsrfOptions, type ResolvedCsrfOptions } from '../csrf/options';
import { maskToken, tokenOf } from '../csrf/token';
import { SessionPolicyConflict } from '../errors';
import { requestState } from '../koa/state';
import { SessionNotMountedError, SessionUnavailableError } from './errors';
import { actionsOf, lastUse, sessionParameter } from './parameter';

/** Actions with a `@CsrfProtected()` of their own, by prototype: a class-level one leaves them to it. */
const ownChecks = new WeakMap<object, Set<string>>();

/**
 * The CSRF check of `csrf()` on a controller action, or on every action of a controller: a
 * request with a method other than GET, HEAD and OPTIONS must carry the session's token (the
 * `X-CSRF-Token` header or the `_csrf` form field), else it is refused with
 * `InvalidCsrfToken` (403, `ERR_CSRF_TOKEN_INVALID`) before the action and its parameters.
 * It runs after the action's `@SessionPolicy()` (written above or below it) and starts the
 * session under it; a session that cannot be started is a `SessionUnavailableError`. On a
 * controller it covers the actions the controller inherits too (an action-level one on a parent
 * class does not reach a subclass: routing-controllers matches uses by the serving class).
 *
 * @example
 * @Controller('/cart') @CsrfProtected()
 * class CartController {
 *   @Get('/') show(@CsrfToken() token: string) { return `<input type="hidden" name="_csrf" value="${token}">`; }
 *   @Post('/clear') @Redirect('/cart') clear(@SessionBag('cart') cart: Bag) { cart.clear(); }  // checked
 * }
 */
export function CsrfProtected(options: CsrfOptions = {}): ClassDecorator & MethodDecorator {
  const middleware = checkMiddleware(resolveCsrfOptions(options)); // bad options fail where declared
  return ((target: object, method?: string | symbol) => {
    if (method === undefined) {
      const controller = target as Function;
      const own = ownChecks.get(controller.prototype as object);
      for (const action of actionsOf(controller)) if (!own?.has(action)) lastUse(controller, action, middleware);
    } else {
      let own = ownChecks.get(target);
      if (own === undefined) ownChecks.set(target, (own = new Set()));
      own.add(method as string);
      lastUse((target as { constructor: Function }).constructor, method as string, middleware);
    }
  }) as ClassDecorator & MethodDecorator;
}

/**
 * The session's CSRF token, masked for this response (as `csrfToken()`), for the action's form;
 * starts the session. The first use of a session (or of a new id) stores the token.
 */
export function CsrfToken(): ParameterDecorator {
  return sessionParameter((state): string => maskToken(tokenOf(state.raw)));
}

/**
 * routing-controllers leaves a `@UseBefore` function's errors to Koa: `InvalidCsrfToken` (403,
 * exposed) and `SessionPolicyConflict` as they are, a failed start as `SessionUnavailableError`.
 */
function checkMiddleware(options: ResolvedCsrfOptions): Middleware {
  return async function csrfProtected(ctx: Context, next: Next): Promise<void> {
    if (!options.ignore.has(ctx.method)) {
      const state = requestState(ctx);
      if (state === undefined) throw new SessionNotMountedError();
      try {
        await verifyRequest(ctx, state, options);
      } catch (err) {
        throw err instanceof InvalidCsrfToken || err instanceof SessionPolicyConflict ? err : new SessionUnavailableError(err);
      }
    }
    await next();
  };
}
