import type { Context } from 'koa';
import type { Adapter } from '../adapters/Adapter';
import type { SessionEventDetails, SessionEventName } from '../events';
import type { SessionTransport } from '../manager/SessionTransport';

/** The method by which `session()` recognises a {@link SessionCarrier}. */
export const FOR_REQUEST = Symbol.for('koa-session-manager.forRequest');

/** What `session()` hands a carrier for one request. */
export interface CarrierRequest {
  readonly context: Context;
  /** The session() option `name` (the cookie's name). */
  readonly name: string;
  /** The cookie transport session() would use: the session cookie's flags and cache headers. */
  readonly cookie: { readId(name: string): string | undefined } & SessionTransport;
  /** Headers to send with a response that carries the session (the cache limiter's), flat: name, value… */
  readonly cacheHeaders: readonly string[];
  /** The session() option `lifetime` (seconds): the idle lifetime. */
  readonly lifetime: number;
  /** The session() option `absoluteLifetime` (seconds, 0 for none). */
  readonly absoluteLifetime: number;
  /** Emit a session event for this request (with the request's Manager and context). */
  report<E extends SessionEventName>(event: E, details: SessionEventDetails[E]): void;
}

/**
 * A backend that keeps no session on the server: the client carries it (a signed or encrypted
 * token, `koa-session-manager/token`). Passed to `session({ adapter })` like a store; per
 * request it gives the Manager an adapter (the token's contents) and a transport (where the
 * token travels). It does not implement the storage contract: no lock, last writer wins.
 */
export interface SessionCarrier {
  [FOR_REQUEST](request: CarrierRequest): { adapter: Adapter; transport: SessionTransport };
  /** The session() middleware checks its options against the carrier's (throws InvalidOption). */
  checkSessionOptions(options: SessionOptionsSeen): void;
  /**
   * A response header the carrier sets instead of a cookie (a bearer token's), if any: when the
   * handler throws, Koa's error response drops every header, so the middleware carries this one
   * (with the cache headers) over, as it does the session cookie.
   */
  readonly responseHeader?: string | undefined;
  /** Remove what the carrier keeps on the server that has expired (a revocation list); resolves how many. */
  gc(maxLifetime: number): Promise<number>;
  close?(): Promise<void>;
  readonly lifetime?: number;
}

/** The session() options a carrier checks: resolved (`name`, `lifetime`) or as given (the others). */
export interface SessionOptionsSeen {
  readonly name: string;
  readonly lifetime: number;
  readonly locking: unknown;
  readonly serializer: unknown;
  readonly cookie: unknown;
  readonly fingerprint: unknown;
}

/** True for a {@link SessionCarrier}. */
export function isCarrier(value: unknown): value is SessionCarrier {
  return typeof value === 'object' && value !== null && typeof (value as SessionCarrier)[FOR_REQUEST] === 'function';
}
