import type { Context, Middleware } from 'koa';
import type { Action } from 'routing-controllers';
import { startOnce } from '../koa/policy';
import { requestState, type RequestState } from '../koa/state';
import { SessionNotMountedError, SessionUnavailableError } from './errors';
import { rc } from './routingControllers';

const { createParamDecorator, getMetadataArgsStorage } = rc;

/**
 * A parameter decorator whose value is `pick(state)`, once the request's session is started.
 *
 * @example
 * export const Visits = () => sessionParameter((state) => state.manager.get('visits'));
 */
export function sessionParameter<T>(pick: (state: RequestState) => T): ParameterDecorator {
  const decorator = createParamDecorator({
    required: false,
    value: async (action: Action): Promise<T> => {
      const ctx = action.context as Context | undefined;
      const state = ctx && requestState(ctx);
      if (state === undefined) throw new SessionNotMountedError();
      if (!state.raw.exists()) {
        try {
          await startOnce(state, undefined);
        } catch (err) {
          throw new SessionUnavailableError(err);
        }
      }
      return pick(state);
    },
  });
  return decorator as ParameterDecorator;
}

/** `middleware` as the first before-use of the action `method` of `controller` (routing-controllers runs them in order). */
export function firstUse(controller: Function, method: string, middleware: Middleware): void {
  const uses = getMetadataArgsStorage().uses;
  const use = { target: controller, method, middleware, afterAction: false };
  const first = uses.findIndex((u) => u.target === controller && u.method === method);
  if (first === -1) uses.push(use);
  else uses.splice(first, 0, use);
}

/** `middleware` as the last before-use of the action `method` of `controller`, so far. */
export function lastUse(controller: Function, method: string, middleware: Middleware): void {
  getMetadataArgsStorage().uses.push({ target: controller, method, middleware, afterAction: false });
}

/**
 * The action methods `controller` serves, its parents' included (as routing-controllers'
 * MetadataBuilder.createActions: a subclass serves its parents' actions, under its own class).
 */
export function actionsOf(controller: Function): string[] {
  const storage = getMetadataArgsStorage();
  const seen = new Set<string>();
  for (let target = controller; typeof target === 'function' && target !== Function.prototype; target = Object.getPrototypeOf(target)) {
    for (const { method } of storage.filterActionsWithTarget(target)) seen.add(method);
  }
  return [...seen];
}
