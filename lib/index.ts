/**
 * `koa-session-manager`: Phalcon's Session component for Koa. The Manager, Bag and Flash, the
 * `session()` middleware and its per-route policy, the adapter contract, and the stores that
 * need no client library (files, memory, none). Redis, memcached, PostgreSQL, MySQL and the
 * routing-controllers decorators have entry points of their own, so that this one loads none of
 * their packages.
 *
 * @example
 * import Koa from 'koa';
 * import { session } from 'koa-session-manager';
 * const app = new Koa();
 * app.use(session());
 *
 * @module koa-session-manager
 */
export { Manager } from './Manager';
export type { ManagerOptions, SessionData, SessionGet, SessionKey, SessionValue, SessionProperties, SessionTyping, UntypedSession, SessionTransport, SessionRoutePolicy, ResolvedPolicy } from './Manager';
export { Bag } from './Bag';
export { Flash } from './Flash';
export type { FlashClasses, FlashMessages, FlashOptions, FlashSession } from './Flash';
export {
  SessionError, InvalidSessionAdapter, InvalidSessionId, InvalidSessionName, SessionAlreadyStarted,
  SessionModificationDenied, AdapterRuntimeError, SessionLockTimeout, SessionLockLost, InvalidSavePath,
  SavePathUnavailable, InvalidOption, FlashMessageNotStringOrArray, SessionNotStarted, SessionPolicyConflict,
  SessionNotMounted, SessionTooLarge, InvalidSessionValue, PeerDependencyMissing, SessionContextMissing,
} from './errors';
export { generateId, isValidId, isValidName, idTag } from './id';
export type { SessionEventDetails, SessionEventName } from './events';
export type { SessionEventMap, SessionEvents } from './SessionEvents';
export type { Serializer } from './serializers/Serializer';
export { JsonSerializer } from './serializers/JsonSerializer';
export type { Adapter, LockHandle, LockOptions, SharedFormat, WriteOptions } from './adapters/Adapter';
export { MOVE_MARKER_PREFIX, isMoveMarker } from './adapters/Adapter';
export { AbstractAdapter } from './adapters/AbstractAdapter';
export { NoopAdapter } from './adapters/NoopAdapter';
export { MemoryAdapter } from './adapters/MemoryAdapter';
export { EncryptedAdapter } from './adapters/EncryptedAdapter';
export { MigratingAdapter } from './adapters/MigratingAdapter';
export type { MigratingAdapterOptions, MigrationPhase } from './adapters/MigratingAdapter';
export type { EncryptedAdapterOptions, EncryptionKey } from './adapters/EncryptedAdapter';
export type { MemoryAdapterOptions } from './adapters/MemoryAdapter';
// The file store needs no client library; the stores that do have their own entry points
// (koa-session-manager/redis, /memcached, /postgres, /mysql) so that this one loads none.
export { StreamAdapter } from './file/StreamAdapter';
export type { StreamAdapterOptions } from './file/StreamAdapter';
// From the modules themselves, not lib/csrf/index.ts: one module less to load (spec/package).
export { csrf, csrfToken, checkCsrfToken } from './csrf/csrf';
export { InvalidCsrfToken, type CsrfRejection } from './csrf/errors';
export { CSRF_FIELD, CSRF_HEADER, type CsrfOptions } from './csrf/options';
export { CSRF_SESSION_KEY } from './csrf/token';
export { FINGERPRINT_SESSION_KEY } from './fingerprint/fingerprint';
export type { FingerprintOptions, FingerprintPart, HijackAction } from './fingerprint/fingerprint';
export { UserSessions, SessionLimitReached } from './users/UserSessions';
export { USER_SESSION_KEY } from './users/UserIndex';
export type { UserSessionsOptions, UserSession } from './users/UserSessions';
export { session } from './koa/middleware';
export { sessionPolicy } from './koa/policy';
export { sessionBag } from './koa/state';
export { currentSession, currentBag, currentFlash } from './context/current';
export { SessionService, runInSession } from './context/current';

export type { RunInSessionOptions } from './context/current';
export type { SessionMiddleware } from './koa/middleware';
export type { SessionOptions } from './koa/options';
export type { SessionCarrier, CarrierRequest, SessionOptionsSeen } from './koa/carrier';
export type { TokenRejection } from './events';
export type { CookieOptions, CacheLimiter } from './koa/cookie';
export { checkOptionKeys } from './closedOptions';
