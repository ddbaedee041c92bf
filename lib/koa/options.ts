import { EventEmitter } from 'node:events';
import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Adapter, LockOptions } from '../adapters/Adapter';
import { StreamAdapter } from '../file/StreamAdapter';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption, SavePathUnavailable } from '../errors';
import type { FlashOptions } from '../Flash';
import { checkFlashOptions } from '../flash/options';
import { isValidName } from '../id';
import { DEFAULT_MAX_SIZE, checkSerializer, checkedOptions } from '../manager/ManagerOptions';
import type { Serializer } from '../serializers/Serializer';
import { GC_HINTS, LOCKING_HINTS, SESSION_HINTS } from './hints';
import { isCarrier, type SessionCarrier } from './carrier';
import { cacheHeadersOf, resolveCookie, type CacheLimiter, type CookieOptions, type CookieSettings } from './cookie';
import type { Manager, ManagerOptions, SessionGuard } from '../Manager';
import { fingerprintGuard, type FingerprintOptions } from '../fingerprint/fingerprint';
import { ATTACH, UserSessions } from '../users/UserSessions';

/**
 * Options of the `session()` middleware; every one is checked when the middleware is made, and
 * an unknown key (here, in `cookie`, `locking` or `gc`) throws `InvalidOption` naming the option
 * to use instead.
 */
export interface SessionOptions {
  /**
   * Where sessions are stored, or a {@link SessionCarrier} that keeps them in the client (a
   * `TokenStore` of `koa-session-manager/token`).
   * @default a StreamAdapter in `<os tmpdir>/koa-session-manager-<uid>` (mode 0700)
   */
  adapter?: Adapter | SessionCarrier;
  /**
   * The cookie name (letters, digits, `_`, `-`; not digits only).
   * @default the adapter's `sharedFormat.cookieName` (`PHPSESSID` for a store shared with PHP), else 'sid'
   */
  name?: string;
  /** Cookie attributes. */
  cookie?: CookieOptions;
  /**
   * Idle lifetime in seconds: store TTL and cookie Max-Age; at most 34560000 (400 days, the
   * browsers' cap on a cookie's lifetime). @default the adapter's `lifetime`, else 3600
   */
  lifetime?: number;
  /** Absolute lifetime in seconds from creation, whatever the activity; 0 for none; at most 400 days. @default 0 */
  absoluteLifetime?: number;
  /** Replace an id the store does not know by a fresh one. @default true */
  strict?: boolean;
  /** Unchanged data costs only a timestamp update. @default true */
  lazyWrite?: boolean;
  /** Namespace for every key (`uniqueId#key`), for apps sharing one store and cookie. */
  uniqueId?: string;
  /** @default the adapter's `sharedFormat.serializer` (a store shared with PHP: PHP's format), else JSON */
  serializer?: Serializer;
  /**
   * Serialize the requests of one session (when the adapter offers `lock()`): `wait` is the
   * longest wait in seconds, `expiry` the seconds after which a dead holder's lock is taken over.
   * @default { wait: 5, expiry: 30 }
   */
  locking?: boolean | Partial<LockOptions>;
  /**
   * Garbage collection of expired records after a response: on a share of requests
   * (`probability`, PHP's gc_probability/gc_divisor) or at most every `interval` seconds.
   * @default { probability: 0.01 }
   */
  gc?: false | { probability: number } | { interval: number };
  /** Where `session:*` events go; pass the Koa app to get `app.on('session:expired', …)`. @default a new EventEmitter */
  events?: EventEmitter;
  /** Options of `ctx.flash`. */
  flash?: FlashOptions;
  /** Session key of `ctx.persistent`. @default 'persistent' */
  persistentName?: string;
  /**
   * `'eager'`: every request's session is started (and locked) before the routes run.
   * `'lazy'`: the route starts it, under its policy — `sessionPolicy()`, a routing-controllers
   * session decorator, or `await ctx.session.start()`; touching the session before that throws
   * `SessionNotStarted`, and a request that never starts it costs no store call and no cookie.
   * @default 'eager'
   */
  start?: 'eager' | 'lazy';
  /**
   * The largest serialized session record, in bytes: a commit over it throws `SessionTooLarge`
   * and writes nothing. @default 1048576 (1 MiB)
   */
  maxSize?: number;
  /**
   * Cache headers sent with every response that sets or clears the session cookie, replacing
   * the route's (PHP's `session.cache_limiter`): `'nocache'` sends `Cache-Control: no-store,
   * no-cache, must-revalidate`, `Pragma: no-cache` and an `Expires` in the past; `'private'`
   * sends `Cache-Control: private, max-age=<cacheExpire>` and an `Expires` in the past;
   * `'private_no_expire'` the `Cache-Control` only; `''` nothing (the app sees to it).
   * @default 'nocache'
   */
  cacheLimiter?: CacheLimiter;
  /**
   * The `max-age` of `cacheLimiter: 'private'` and `'private_no_expire'`, in seconds (PHP's
   * `session.cache_expire` is in minutes: 180 there is 10800 here). @default 10800
   */
  cacheExpire?: number;
  /**
   * Bind each session to its client (user agent, address prefix, or a function of the
   * request) and act on a request that brings the cookie from elsewhere: see
   * {@link FingerprintOptions} and docs/fingerprint.md. @default off
   */
  fingerprint?: FingerprintOptions;
  /**
   * Index sessions by user: bind the user at sign-in, then list or end a user's sessions, and
   * cap how many one user has (see {@link UserSessions}, docs/users.md). Not with a token store.
   * @default off
   */
  users?: UserSessions;
  /**
   * Keep each request's session in an `AsyncLocalStorage` around the middlewares and routes
   * after this one, so that `currentSession()`, `currentBag()`, `currentFlash()` and a
   * `SessionService` reach it from any function the request calls (docs/context.md). Off, the
   * middleware does no extra work. @default false
   */
  context?: boolean;
}

/** Everything the per-request path needs, computed once. */
export interface ResolvedOptions {
  adapter: Adapter | SessionCarrier;
  name: string;
  manager: ManagerOptions;
  cookie: CookieSettings;
  lifetime: number;
  gc: false | { probability: number } | { interval: number };
  events: EventEmitter;
  flash: FlashOptions | undefined;
  persistentName: string;
  start: 'eager' | 'lazy';
  /** The guards every request's Manager gets (fingerprint binding, per-user sessions). */
  guards: SessionGuard<Manager>[];
  /** Run the rest of the app inside the request's async context (`currentSession()`). */
  context: boolean;
}

/** 400 days: browsers cap a cookie's lifetime there (RFC 6265bis), so no session outlives it. */
const MAX_LIFETIME = 400 * 86400;

function seconds(option: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new InvalidOption(option, `must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds`);
  }
  return value;
}

/** `seconds()` of a session lifetime, which a cookie must be able to carry. */
function lifetimeSeconds(option: string, value: unknown, fallback: number, allowZero = false): number {
  const result = seconds(option, value, fallback, allowZero);
  if (result > MAX_LIFETIME) {
    const asMs = Math.round(result / 1000);
    const guess = asMs >= 1 && asMs <= MAX_LIFETIME ? `: did you mean ${asMs}?` : '';
    const from = value === undefined ? " (taken from the adapter's lifetime)" : '';
    throw new InvalidOption(option, `is in seconds, not milliseconds, and at most ${MAX_LIFETIME} (400 days, the longest browsers keep a cookie); ${result}${from} is ${Math.round(result / 86400)} days${guess}`);
  }
  return result;
}

function flag(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOption(option, 'must be true or false');
  return value;
}

/**
 * A StreamAdapter in `<tmpdir>/koa-session-manager-<uid>`, a directory only this user can
 * write: another local user who created it first, or made it a symlink, could plant sessions.
 */
function defaultAdapter(): Adapter {
  const uid = process.getuid?.() ?? 0;
  const savePath = join(tmpdir(), `koa-session-manager-${uid}`);
  mkdirSync(savePath, { recursive: true, mode: 0o700 });
  const info = lstatSync(savePath);
  if (!info.isDirectory() || (process.getuid && info.uid !== uid) || (info.mode & 0o022) !== 0) {
    throw new SavePathUnavailable(savePath);
  }
  return new StreamAdapter({ savePath });
}

function isAdapter(value: unknown): value is Adapter {
  const a = value as Adapter;
  return typeof a === 'object' && a !== null && ['read', 'write', 'destroy', 'gc'].every((m) => typeof a[m as keyof Adapter] === 'function');
}

const SESSION_KEYS: readonly (keyof SessionOptions)[] = [
  'adapter', 'name', 'cookie', 'lifetime', 'absoluteLifetime', 'strict', 'lazyWrite', 'uniqueId', 'serializer',
  'locking', 'gc', 'events', 'flash', 'persistentName', 'start', 'maxSize', 'cacheLimiter', 'cacheExpire',
  'fingerprint', 'users', 'context',
];


const LOCKING_KEYS: readonly (keyof LockOptions)[] = ['wait', 'expiry', 'renew'];

const GC_KEYS: readonly string[] = ['probability', 'interval'];

const CACHE_LIMITERS: readonly unknown[] = ['nocache', 'private', 'private_no_expire', ''];

/** Check every option and fill in the defaults; throws InvalidOption naming the first bad one. */
export function resolveOptions(options: SessionOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOption('options', 'must be an object');
  checkOptionKeys('', options, SESSION_KEYS, SESSION_HINTS);
  if (options.adapter !== undefined && !isAdapter(options.adapter) && !isCarrier(options.adapter)) {
    throw new InvalidOption('adapter', 'must implement read, write, destroy and gc');
  }
  const shared = (options.adapter as Partial<Adapter> | undefined)?.sharedFormat;
  const name = options.name ?? shared?.cookieName ?? 'sid';
  // Cookie names are RFC 6265 tokens: narrower than Phalcon's Unicode session names.
  if (!isValidName(name) || !/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new InvalidOption('name', 'may hold only ASCII letters, digits, "_" and "-", and not only digits');
  }
  const cookie = resolveCookie(options.cookie ?? {}, name);

  const adapter = options.adapter ?? defaultAdapter();
  // One lifetime: the middleware's, else the one the adapter was configured with (Phalcon's
  // adapter `lifetime` option), else an hour.
  const lifetime = lifetimeSeconds('lifetime', options.lifetime, adapter.lifetime ?? 3600);
  const absoluteLifetime = lifetimeSeconds('absoluteLifetime', options.absoluteLifetime, 0, true);
  const carrier = isCarrier(adapter);
  if (carrier) adapter.checkSessionOptions({ name, lifetime, locking: options.locking, serializer: options.serializer, cookie: options.cookie, fingerprint: options.fingerprint });
  // A carrier has no lock (it keeps nothing on the server); it refused an explicit `locking`.
  const locking = carrier ? false : options.locking ?? true;
  if (typeof locking === 'object' && locking !== null) {
    checkOptionKeys('locking', locking, LOCKING_KEYS, LOCKING_HINTS);
    seconds('locking.wait', locking.wait, 5, true);
    seconds('locking.expiry', locking.expiry, 30);
    flag('locking.renew', locking.renew, true);
  } else if (typeof locking !== 'boolean') {
    throw new InvalidOption('locking', 'must be a boolean or { wait, expiry, renew }');
  }
  const gc = options.gc ?? { probability: 0.01 };
  if (gc !== false) {
    if (typeof gc !== 'object' || gc === null) throw new InvalidOption('gc', 'must be false, { probability: 0..1 } or { interval: seconds > 0 }');
    checkOptionKeys('gc', gc, GC_KEYS, GC_HINTS);
    const ok = 'probability' in gc
      ? !('interval' in gc) && typeof gc.probability === 'number' && gc.probability >= 0 && gc.probability <= 1
      : 'interval' in gc && typeof gc.interval === 'number' && gc.interval > 0;
    if (!ok) throw new InvalidOption('gc', 'must be false, { probability: 0..1 } or { interval: seconds > 0 } (one of the two)');
  }
  if (options.uniqueId !== undefined && typeof options.uniqueId !== 'string') throw new InvalidOption('uniqueId', 'must be a string');
  // A store another program reads (PHP) brings its format along; checkSerializer refuses another.
  const serializer = options.serializer ?? shared?.serializer;
  if (serializer !== undefined && (typeof serializer?.parse !== 'function' || typeof serializer?.stringify !== 'function')) {
    throw new InvalidOption('serializer', 'must have parse() and stringify()');
  }
  const events = options.events ?? new EventEmitter();
  if (typeof events?.emit !== 'function' || typeof events?.listenerCount !== 'function') throw new InvalidOption('events', 'must be an EventEmitter');
  const persistentName = options.persistentName ?? 'persistent';
  if (typeof persistentName !== 'string' || persistentName === '') throw new InvalidOption('persistentName', 'must be a non-empty string');

  const start = options.start ?? 'eager';
  if (start !== 'eager' && start !== 'lazy') throw new InvalidOption('start', "must be 'eager' or 'lazy'");
  const maxSize = options.maxSize ?? DEFAULT_MAX_SIZE;
  if (!Number.isSafeInteger(maxSize) || maxSize <= 0) throw new InvalidOption('maxSize', 'must be a positive whole number of bytes');
  const cacheLimiter = options.cacheLimiter ?? 'nocache';
  if ((cacheLimiter as string) === 'public') {
    throw new InvalidOption('cacheLimiter', "'public' is refused: a shared cache could keep a response that sets a session cookie and hand that cookie to other visitors; use 'private', or '' to set the cache headers yourself");
  }
  if (!CACHE_LIMITERS.includes(cacheLimiter)) throw new InvalidOption('cacheLimiter', "must be 'nocache', 'private', 'private_no_expire' or ''");
  const cacheExpire = options.cacheExpire ?? 10800;
  if (!Number.isSafeInteger(cacheExpire) || cacheExpire < 0) throw new InvalidOption('cacheExpire', 'must be a whole number of seconds, 0 or more');

  // Frozen and checked once: each request's Manager keeps it as it is.
  const manager = checkedOptions({
    uniqueId: options.uniqueId,
    lifetime,
    absoluteLifetime,
    strict: flag('strict', options.strict, true),
    lazyWrite: flag('lazyWrite', options.lazyWrite, true),
    serializer,
    locking,
    events,
    maxSize,
  });
  if (!carrier) checkSerializer(adapter, manager);
  const guards: SessionGuard<Manager>[] = [];
  if (options.fingerprint !== undefined) guards.push(fingerprintGuard(options.fingerprint, events));
  if (options.users !== undefined) {
    if (!(options.users instanceof UserSessions)) throw new InvalidOption('users', 'must be a UserSessions: session({ users: new UserSessions({ max }) })');
    if (carrier) throw new InvalidOption('users', 'needs a session store: a token session cannot be listed or ended from the server (use the token store\'s revocation list for logout)');
    guards.push(options.users[ATTACH]({ adapter: adapter as Adapter, manager, lifetime, events }));
  }

  return {
    start,
    guards,
    context: flag('context', options.context, false),
    adapter,
    name,
    manager,
    cookie: { ...cookie, cacheHeaders: cacheHeadersOf(cacheLimiter, cacheExpire) },
    lifetime,
    gc,
    events,
    flash: options.flash === undefined ? undefined : (checkFlashOptions(options.flash), options.flash),
    persistentName,
  };
}
