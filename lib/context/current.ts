import { AsyncLocalStorage } from 'node:async_hooks';
import type { Adapter } from '../adapters/Adapter';
import { MemoryAdapter } from '../adapters/MemoryAdapter';
import type { Bag } from '../Bag';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, SessionContextMissing } from '../errors';
import type { Flash, FlashOptions } from '../Flash';
import { resolveOptions, type ResolvedOptions } from '../koa/options';
import { bagOf, flashOf, type RequestState } from '../koa/state';
import { Manager, type SessionData, type SessionRoutePolicy, type SessionTransport } from '../Manager';
import { untyped } from '../manager/data';
import { unwrap } from '../propertyAccess';

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

/** Options of {@link runInSession}. */
export interface RunInSessionOptions {
  /** Where the session is read and committed. @default a new MemoryAdapter */
  adapter?: Adapter;
  /** Resume the stored session of this id (`session.getId()` of an earlier run on the same adapter); an unknown id starts a new one. @default a new session */
  id?: string;
  /**
   * Values stored in the session before `fn` runs, as by an earlier request: `fn` finds a stored
   * session that holds them (under any policy, read-only included).
   */
  data?: Partial<SessionData> & Record<string, unknown>;
  /** The policy `fn` runs under, as a route's (`{ readOnly: true }`, `{ lock: false }`). @default {} */
  policy?: SessionRoutePolicy;
  /** As `session({ uniqueId })`. */
  uniqueId?: string;
  /** As `session({ persistentName })`. @default 'persistent' */
  persistentName?: string;
  /** As `session({ flash })`. */
  flash?: FlashOptions;
}

const RUN_KEYS: readonly (keyof RunInSessionOptions)[] = ['adapter', 'id', 'data', 'policy', 'uniqueId', 'persistentName', 'flash'];

/** The client's side for a test: the id it holds between runs, no cookies, headers never sent. */
class HeldId implements SessionTransport {
  constructor(public id: string | undefined) {}
  readId(): string | undefined { return this.id; }
  writeId(_name: string, id: string): void { this.id = id; }
  clearId(): void { this.id = undefined; }
  headersSent(): boolean { return false; }
}

/** One request's session, started on `held`'s id: what the middleware makes, without Koa. */
async function startSession(options: ResolvedOptions, adapter: Adapter, held: HeldId, policy?: SessionRoutePolicy): Promise<RequestState> {
  const manager = new Manager(options.manager);
  const raw = unwrap(manager); // the library's own calls skip the property-access proxy
  raw.setName(options.name);
  raw.setAdapter(adapter);
  raw.setTransport(held);
  if (policy !== undefined) raw.setPolicy(policy);
  await raw.start();
  return { manager, raw, options };
}

/**
 * Runs `fn` inside a session, as the code of one request under `session({ context: true })`:
 * `currentSession()`, `currentBag()`, `currentFlash()` and a `SessionService` reach this session,
 * so a service is unit-tested without HTTP and without Koa. The session is started on a
 * `MemoryAdapter` (or `options.adapter`), holding `options.data`, and committed when `fn` is done,
 * also when it throws (as the middleware does); resolves to what `fn` returns.
 *
 * @example
 * const service = new CartService(new SessionService());
 * const items = await runInSession(() => { service.add('tea'); return service.count(); }, { data: { cart: { tea: 1 } } });
 * // items === 2
 */
export async function runInSession<T>(fn: (session: Manager) => T | Promise<T>, options: RunInSessionOptions = {}): Promise<T> {
  if (typeof options !== 'object' || options === null) throw new InvalidOption('runInSession', 'options must be an object');
  checkOptionKeys('runInSession', options, RUN_KEYS);
  const { adapter = new MemoryAdapter(), id, data, policy, uniqueId, persistentName, flash } = options;
  const resolved = resolveOptions({ adapter, uniqueId, persistentName, flash, gc: false });
  const held = new HeldId(id);
  if (data !== undefined) {
    // An earlier "request" stores the data, so that fn finds it under any policy.
    const seed = await startSession(resolved, adapter, held);
    for (const [key, value] of Object.entries(data)) untyped(seed.raw).set(key, value);
    await seed.raw.writeClose();
  }
  const state = await startSession(resolved, adapter, held, policy);
  let result: T;
  try {
    result = await runWithState(state, () => fn(state.manager));
  } catch (err) {
    await state.raw.writeClose().catch(() => undefined); // fn's error wins, as in the middleware
    throw err;
  }
  await state.raw.writeClose();
  return result;
}
