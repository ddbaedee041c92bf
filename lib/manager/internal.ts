import { emptyData } from '../record';

/**
 * The Manager's internals shared with the middleware and the guards (not part of the API): its
 * states, and hooks keyed by symbols, so that no session key or user property can reach them.
 */

/** The Manager's states: no session; active; closed. */
export const NONE = 1;
export const ACTIVE = 2;
/** After writeClose()/abort(): reads work, writes throw. Reported as NONE, as PHP does. */
export const CLOSED = 3;

/** The data before start() and after destroy(): never written, so one object serves every Manager. */
export const NO_DATA: Record<string, unknown> = Object.freeze(emptyData());

/**
 * Reading or writing before `start()` throws `SessionNotStarted` instead of Phalcon's silent
 * null / no-op, until the first start.
 */
export const REQUIRE_START = Symbol('koa-session-manager.requireStart');

/**
 * Internal (the middleware's): the guards of this request (fingerprint binding, per-user
 * sessions), called with the request's context at the points of the lifecycle they watch.
 */
export const GUARDS = Symbol('koa-session-manager.guards');

/** Internal: a guard's fresh start after it destroyed the session inside the start it watches. */
export const RESTART = Symbol('koa-session-manager.restart');

/** Internal: the request's data object, every key with its `uniqueId` prefix (for the guards). */
export const SESSION_DATA = Symbol('koa-session-manager.sessionData');

/**
 * A watcher of one request's session lifecycle (internal: the middleware installs them).
 * Each hook may change the session through its public API.
 */
export interface SessionGuard<S> {
  /** After start() loaded the session (stored or new), before start() resolves. */
  started?(session: S, context: unknown): void | Promise<void>;
  /**
   * Before a writable session is committed (writeClose()): it is closed already (a second
   * writeClose() returns at once), so a guard changes its data through `SESSION_DATA`, or
   * destroys it (then nothing is stored). A rejection fails the commit before anything is
   * stored (the lock is released).
   */
  committing?(session: S, context: unknown): void | Promise<void>;
}


/** Why a read-only session cannot change. */
export const READ_ONLY_MESSAGE = 'This route only reads the session (sessionPolicy({ readOnly: true })): it cannot be changed here';
