import type { Manager } from './Manager';

interface Base {
  /** The Manager of the request. */
  session: Manager;
  /** The request's context (the Koa `ctx` under the middleware). */
  context: unknown;
}

/**
 * The events a Manager emits on `options.events` (the middleware's `events`, or the Koa app
 * when passed as `events: app`). Without a listener nothing is emitted and no event object (with `session` and `context`) is made.
 *
 * @example
 * const mw = session();
 * mw.events.on('session:storeError', ({ operation, error }) => log.warn(operation, error));
 */
export interface SessionEventMap {
  /** A session became active (`isNew`: no stored record yet). */
  'session:started': Base & { id: string; isNew: boolean };
  /** A fresh id was issued (no cookie, or the old one was unknown, invalid or expired). */
  'session:created': Base & { id: string };
  /**
   * The client's id has no live record (`missing`), passed the absolute lifetime (`absolute`),
   * or was moved away from by `regenerateId()` (`regenerated`: a request that was in flight then).
   */
  'session:expired': Base & { id: string; reason: 'missing' | 'absolute' | 'regenerated' };
  /** A cookie outside the id alphabet (`id`), or stored data that could not be decoded (`data`). */
  'session:invalid': Base & { id?: string; reason: 'id' | 'data' };
  'session:regenerated': Base & { id: string; oldId: string };
  /**
   * `id` is the session destroyed. `followed` lists the ids ended with it because a sign-in had
   * just moved the session there (a logout racing the sign-in); never sent to a client.
   */
  'session:destroyed': Base & { id: string; followed?: string[] };
  /**
   * This request's changes (or touch) were not stored because another request destroyed the
   * session or moved it to a new id (sign-in) after this one read it: nothing is brought back,
   * and no cookie is sent for it.
   */
  'session:discarded': Base & { id: string; reason: 'gone' };
  /** The request waited for another request of the same session. */
  'session:lockWaited': Base & { id: string; waitedMs: number };
  /** An adapter call failed (the error is also thrown, except for `unlock` and `gc`). */
  'session:storeError': Base & { id: string; operation: string; error: unknown };
}

export type SessionEventName = keyof SessionEventMap;
