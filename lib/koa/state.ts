import type { Context } from 'koa';
import { Bag } from '../Bag';
import { SessionNotMounted } from '../errors';
import { Flash } from '../Flash';
import type { Manager } from '../Manager';
import type { ResolvedOptions } from './options';

const STATE = Symbol('koa-session-manager');

/** What the middleware keeps on one request's context. */
export interface RequestState {
  /** `ctx.session`: the Manager with property access. */
  readonly manager: Manager;
  /** The same Manager without the property-access proxy, for the library's own calls. */
  readonly raw: Manager;
  readonly options: ResolvedOptions;
  /** Bags by session key, one per name and request: two views of one group would undo each other's writes. */
  bags?: Map<string, Bag>;
  flash?: Flash;
  /** The start made for this request by sessionPolicy() or a decorator: at most one. */
  started?: Promise<boolean>;
}

type WithState = Context & { [STATE]?: RequestState };

/** The request's session state, or undefined when the middleware did not run for it. */
export function requestState(ctx: Context): RequestState | undefined {
  return (ctx as WithState)[STATE];
}

export function setRequestState(ctx: Context, state: RequestState): void {
  (ctx as WithState)[STATE] = state;
}

/** The request's Bag named `name` (made on first use; reads the session, so start it first). */
export function bagOf(state: RequestState, name: string): Bag {
  const bags = (state.bags ??= new Map());
  let bag = bags.get(name);
  if (bag === undefined) bags.set(name, (bag = new Bag(state.raw, name)));
  return bag;
}

/**
 * The request's Bag named `name`, the same object for every caller of this request (two Bags of
 * one name would each write their own view of the group back, undoing each other's changes).
 * Start the session first: making the Bag reads it.
 *
 * @example
 * router.post('/prefs', sessionPolicy(), (ctx) => { sessionBag(ctx, 'prefs').set('theme', 'dark'); });
 */
export function sessionBag<T extends Record<string, unknown> = Record<string, unknown>>(ctx: Context, name: string): Bag<T> {
  const state = requestState(ctx);
  if (state === undefined) throw new SessionNotMounted();
  return bagOf(state, name) as unknown as Bag<T>;
}

/** The request's Flash (made on first use). */
export function flashOf(state: RequestState): Flash {
  return (state.flash ??= new Flash(state.raw, state.options.flash));
}

const installed = new WeakSet<object>();
/** The prototype last seen (one app, every request): a comparison instead of a WeakSet lookup. */
let lastProto: object | undefined;

/** `ctx.persistent` and `ctx.flash` as lazy getters on the app's context prototype, once per app. */
export function installAccessors(ctx: Context): void {
  const proto = Object.getPrototypeOf(ctx) as object;
  if (proto === lastProto) return;
  lastProto = proto;
  if (installed.has(proto)) return;
  installed.add(proto);
  Object.defineProperties(proto, {
    persistent: {
      configurable: true,
      get(this: WithState) {
        const state = this[STATE];
        return state && bagOf(state, state.options.persistentName);
      },
    },
    flash: {
      configurable: true,
      get(this: WithState) {
        const state = this[STATE];
        return state && flashOf(state);
      },
    },
  });
}
