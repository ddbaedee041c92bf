import type { Adapter } from '../adapters/Adapter';
import { MemoryAdapter } from '../adapters/MemoryAdapter';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';
import type { FlashOptions } from '../Flash';
import { resolveOptions, type ResolvedOptions } from '../koa/options';
import type { RequestState } from '../koa/state';
import { Manager, type SessionData, type SessionRoutePolicy, type SessionTransport } from '../Manager';
import { untyped } from '../manager/data';
import { unwrap } from '../propertyAccess';
import { runWithState } from './current';

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
