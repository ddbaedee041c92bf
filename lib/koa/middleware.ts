import { logger } from '../log';
import type { Context, Middleware, Next } from 'koa';
import type { SessionEvents } from '../SessionEvents';
import type { Adapter } from '../adapters/Adapter';
import { Manager } from '../Manager';
import { GUARDS, REQUIRE_START } from '../manager/internal';
import { unwrap } from '../propertyAccess';
import { SessionError } from '../errors';
import { KoaTransport, SentCookies } from './cookie';
import { FOR_REQUEST, isCarrier, type CarrierRequest, type SessionCarrier } from './carrier';
import { emit } from '../manager/emit';
import { DONE } from '../manager/StoredSession';
import type { SessionEventDetails, SessionEventName } from '../events';
import { resolveOptions, type ResolvedOptions, type SessionOptions } from './options';
import { installAccessors, requestState, setRequestState, type RequestState } from './state';
import { offerContext, runWithState } from '../context/current';
import './context';

const debug = logger('koa-session-manager:koa');

/** The middleware, with the app-wide parts it owns. */
export interface SessionMiddleware<A extends Adapter | SessionCarrier = Adapter | SessionCarrier> extends Middleware {
  /**
   * Where `session:*` events are emitted: `options.events` (or a new EventEmitter), typed so that
   * each listener gets its event's payload (`SessionEventMap`).
   */
  readonly events: SessionEvents;
  /** The adapter (or carrier) shared by every request. */
  readonly adapter: A;
}

/**
 * The session middleware: per request it makes a Manager (`ctx.session`), starts it, runs the
 * rest of the app, and commits (write or touch, cookie, lock release) before the response is
 * sent, also when the handler throws. `ctx.persistent` (a Bag) and `ctx.flash` are made on
 * first use. With `start: 'lazy'` the route starts the session instead, under its own policy
 * (`sessionPolicy()`, the decorators, or `await ctx.session.start()`); a request that never
 * starts it costs no store call. With `context: true` the routes' code reaches the session
 * without `ctx` too: `currentSession()`, `currentBag()`, `currentFlash()`, `SessionService`.
 *
 * @example
 * const app = new Koa();
 * app.use(session({ adapter: new StreamAdapter({ savePath: './sessions' }), lifetime: 1800 }));
 * app.use((ctx) => { ctx.session.visits = (ctx.session.visits ?? 0) + 1; });
 */
export function session<A extends Adapter | SessionCarrier = Adapter>(options: SessionOptions & { adapter?: A } = {}): SessionMiddleware<A> {
  const resolved = resolveOptions(options);
  const { adapter, manager: managerOptions, name, cookie } = resolved;
  const lazy = resolved.start === 'lazy';
  const collect = garbageCollector(resolved);
  const carrier = isCarrier(adapter) ? adapter : null;
  // The cookies this middleware re-sent on read-only requests (the cookie rule; not for a carrier's token).
  const sent = carrier === null ? new SentCookies() : undefined;
  const guards = resolved.guards.length > 0 ? resolved.guards : null;
  // One AsyncLocalStorage.run per request, around the rest of the app; null when off (no cost).
  const inContext = resolved.context ? (offerContext(), runWithState) : null;

  const middleware = async function session(ctx: Context, next: Next): Promise<void> {
    // A second session() on one request would wait for the first one's lock until it times out.
    if (requestState(ctx)) throw new SessionError('session() is mounted twice on this route: mount it once, before the routers', 'ERR_SESSION_MOUNTED_TWICE');
    installAccessors(ctx);
    const manager = new Manager(managerOptions);
    const raw = unwrap(manager); // the middleware's calls skip the property-access proxy
    let transport: KoaTransport | undefined;
    raw.setName(name); // (chained calls would return to the proxy)
    if (guards !== null) raw[GUARDS](guards);
    if (carrier === null) {
      raw.setAdapter(adapter as Adapter);
      raw.setTransport(transport = new KoaTransport(ctx, cookie, sent));
    } else {
      const carried = carrier[FOR_REQUEST](carrierRequest(ctx, manager, resolved));
      raw.setAdapter(carried.adapter);
      raw.setTransport(carried.transport);
    }
    ctx.session = manager;
    const state: RequestState = { manager, raw, options: resolved };
    setRequestState(ctx, state);
    if (lazy) raw[REQUIRE_START]();
    else await raw.start();
    try {
      await (inContext === null ? next() : inContext(state, next));
    } catch (err) {
      // An error that cannot carry headers loses the cookie with Koa's error response: spare none.
      if (typeof err !== 'object' || err === null || Object.isFrozen(err)) transport?.unreliable();
      try {
        await raw.writeClose();
      } catch (commitError) {
        // The handler's own error wins; the store error was emitted as session:storeError.
        debug('commit failed after a handler error: %s', (commitError as Error).message);
      }
      keepSessionCookie(ctx, name, cookie.cacheHeaders, err, carrier?.responseHeader);
      throw err;
    } finally {
      collect();
    }
    const closing = raw.writeClose();
    if (closing !== DONE) await closing; // (a read-only commit: nothing to wait for, no microtask turn)
  };
  return Object.assign(middleware, { events: resolved.events as SessionEvents, adapter: adapter as A });
}

/** What a carrier gets for one request. */
function carrierRequest(ctx: Context, manager: Manager, { name, cookie, manager: managerOptions, events }: ResolvedOptions): CarrierRequest {
  return {
    context: ctx,
    name,
    cookie: new KoaTransport(ctx, cookie),
    cacheHeaders: cookie.cacheHeaders,
    lifetime: managerOptions.lifetime ?? 3600,
    absoluteLifetime: managerOptions.absoluteLifetime ?? 0,
    report<E extends SessionEventName>(event: E, details: SessionEventDetails[E]) {
      emit(events, event, details, manager, { context: ctx } as KoaTransport);
    },
  };
}

/** Runs `adapter.gc(lifetime)` in the background after some responses, one run at a time. */
function garbageCollector({ gc, adapter, lifetime, events }: ResolvedOptions): () => void {
  if (gc === false) return () => undefined;
  let running = false;
  let last = Date.now();
  const due = 'probability' in gc
    ? () => gc.probability > 0 && Math.random() < gc.probability
    : () => Date.now() - last >= gc.interval * 1000;
  return () => {
    if (running || !due()) return;
    running = true;
    last = Date.now();
    adapter.gc(lifetime)
      .then((removed) => debug('gc removed %d sessions', removed))
      .catch((error) => {
        if (events.listenerCount('session:storeError') > 0) events.emit('session:storeError', { id: '', operation: 'gc', error });
      })
      .finally(() => { running = false; });
  };
}

/**
 * Koa's error response removes every header, the session cookie too: a new session (or one
 * whose id was just regenerated) would be stored but never reach the browser. Koa re-applies
 * `err.headers`, so the cookie goes there, with the cache headers that keep it out of shared
 * caches; so does a carrier's own response header (a bearer token's: `tokenHeader`).
 */
function keepSessionCookie(ctx: Context, name: string, cacheHeaders: readonly string[], err: unknown, tokenHeader?: string): void {
  const cookies = ctx.response.get('Set-Cookie') as string | string[] | undefined;
  const ours = (Array.isArray(cookies) ? cookies : cookies ? [cookies] : []).filter((c) => c.startsWith(`${name}=`));
  const token = tokenHeader !== undefined && ctx.res.hasHeader(tokenHeader) ? String(ctx.response.get(tokenHeader)) : undefined;
  if ((ours.length === 0 && token === undefined) || typeof err !== 'object' || err === null || Object.isFrozen(err)) return;
  const carrier = err as { headers?: Record<string, string | string[]> };
  const headers = { ...carrier.headers };
  if (ours.length > 0) {
    const existing = headers['Set-Cookie'] ?? headers['set-cookie'];
    headers['Set-Cookie'] = [...(Array.isArray(existing) ? existing : existing ? [existing] : []), ...ours];
    delete headers['set-cookie'];
  }
  if (token !== undefined) {
    for (const key of Object.keys(headers)) if (key.toLowerCase() === tokenHeader!.toLowerCase()) delete headers[key];
    headers[tokenHeader!] = token;
  }
  for (let i = 0; i < cacheHeaders.length; i += 2) {
    for (const key of Object.keys(headers)) if (key.toLowerCase() === cacheHeaders[i].toLowerCase()) delete headers[key];
    headers[cacheHeaders[i]] = cacheHeaders[i + 1];
  }
  carrier.headers = headers;
}
