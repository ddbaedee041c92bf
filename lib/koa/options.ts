import { EventEmitter } from 'node:events';
import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Adapter, LockOptions } from '../adapters/Adapter';
import { StreamAdapter } from '../adapters/StreamAdapter';
import { InvalidOption, SavePathUnavailable } from '../errors';
import type { FlashOptions } from '../Flash';
import { isValidName } from '../id';
import type { ManagerOptions } from '../Manager';
import type { Serializer } from '../serializers/Serializer';
import { cookieSuffix, type CookieOptions } from './cookie';

/** Options of the `session()` middleware; every one is checked when the middleware is made. */
export interface SessionOptions {
  /** Where sessions are stored. @default a StreamAdapter in `<os tmpdir>/koa-session-manager-<uid>` (mode 0700) */
  adapter?: Adapter;
  /** The cookie name (letters, digits, `_`, `-`; not digits only). @default 'sid' */
  name?: string;
  /** Cookie attributes. */
  cookie?: CookieOptions;
  /** Idle lifetime in seconds: store TTL and cookie Max-Age. @default 3600 */
  lifetime?: number;
  /** Absolute lifetime in seconds from creation, whatever the activity; 0 for none. @default 0 */
  absoluteLifetime?: number;
  /** Replace an id the store does not know by a fresh one. @default true */
  strict?: boolean;
  /** Unchanged data costs only a timestamp update. @default true */
  lazyWrite?: boolean;
  /** Namespace for every key (`uniqueId#key`), for apps sharing one store and cookie. */
  uniqueId?: string;
  /** @default JSON */
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
}

/** Everything the per-request path needs, computed once. */
export interface ResolvedOptions {
  adapter: Adapter;
  name: string;
  manager: ManagerOptions;
  cookieSuffix: string;
  secure: boolean | 'auto';
  lifetime: number;
  gc: false | { probability: number } | { interval: number };
  events: EventEmitter;
  flash: FlashOptions | undefined;
  persistentName: string;
  start: 'eager' | 'lazy';
}

function seconds(option: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new InvalidOption(option, `must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds`);
  }
  return value;
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

/** Check every option and fill in the defaults; throws InvalidOption naming the first bad one. */
export function resolveOptions(options: SessionOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOption('options', 'must be an object');
  if (options.adapter !== undefined && !isAdapter(options.adapter)) {
    throw new InvalidOption('adapter', 'must implement read, write, destroy and gc');
  }
  const name = options.name ?? 'sid';
  // Cookie names are RFC 6265 tokens: narrower than Phalcon's Unicode session names.
  if (!isValidName(name) || !/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new InvalidOption('name', 'may hold only ASCII letters, digits, "_" and "-", and not only digits');
  }
  const cookie = options.cookie ?? {};
  const path = cookie.path ?? '/';
  if (typeof path !== 'string' || !/^\/[\x20-\x3a\x3c-\x7e]*$/.test(path)) throw new InvalidOption('cookie.path', 'must start with "/" and hold no ";" or control characters');
  if (cookie.domain !== undefined && !/^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(cookie.domain)) {
    throw new InvalidOption('cookie.domain', 'must be a domain name');
  }
  const sameSite = cookie.sameSite ?? 'lax';
  if (!['lax', 'strict', 'none', false].includes(sameSite)) throw new InvalidOption('cookie.sameSite', "must be 'lax', 'strict', 'none' or false");
  const secure = cookie.secure ?? 'auto';
  if (secure !== 'auto' && typeof secure !== 'boolean') throw new InvalidOption('cookie.secure', "must be true, false or 'auto'");
  if (sameSite === 'none' && secure === false) throw new InvalidOption('cookie.sameSite', "'none' needs a Secure cookie (cookie.secure true or 'auto')");
  const httpOnly = flag('cookie.httpOnly', cookie.httpOnly, true);

  const adapter = options.adapter ?? defaultAdapter();
  // One lifetime: the middleware's, else the one the adapter was configured with (Phalcon's
  // adapter `lifetime` option), else an hour.
  const lifetime = seconds('lifetime', options.lifetime, adapter.lifetime ?? 3600);
  const absoluteLifetime = seconds('absoluteLifetime', options.absoluteLifetime, 0, true);
  const locking = options.locking ?? true;
  if (typeof locking === 'object' && locking !== null) {
    seconds('locking.wait', locking.wait, 5, true);
    seconds('locking.expiry', locking.expiry, 30);
  } else if (typeof locking !== 'boolean') {
    throw new InvalidOption('locking', 'must be a boolean or { wait, expiry }');
  }
  const gc = options.gc ?? { probability: 0.01 };
  if (gc !== false) {
    const ok = typeof gc === 'object' && gc !== null
      && ('probability' in gc ? typeof gc.probability === 'number' && gc.probability >= 0 && gc.probability <= 1
        : 'interval' in gc && typeof gc.interval === 'number' && gc.interval > 0);
    if (!ok) throw new InvalidOption('gc', 'must be false, { probability: 0..1 } or { interval: seconds > 0 }');
  }
  if (options.uniqueId !== undefined && typeof options.uniqueId !== 'string') throw new InvalidOption('uniqueId', 'must be a string');
  const serializer = options.serializer;
  if (serializer !== undefined && (typeof serializer?.parse !== 'function' || typeof serializer?.stringify !== 'function')) {
    throw new InvalidOption('serializer', 'must have parse() and stringify()');
  }
  const events = options.events ?? new EventEmitter();
  if (typeof events?.emit !== 'function' || typeof events?.listenerCount !== 'function') throw new InvalidOption('events', 'must be an EventEmitter');
  const persistentName = options.persistentName ?? 'persistent';
  if (typeof persistentName !== 'string' || persistentName === '') throw new InvalidOption('persistentName', 'must be a non-empty string');

  const start = options.start ?? 'eager';
  if (start !== 'eager' && start !== 'lazy') throw new InvalidOption('start', "must be 'eager' or 'lazy'");

  return {
    start,
    adapter,
    name,
    manager: {
      uniqueId: options.uniqueId,
      lifetime,
      absoluteLifetime,
      strict: flag('strict', options.strict, true),
      lazyWrite: flag('lazyWrite', options.lazyWrite, true),
      serializer,
      locking,
      events,
    },
    cookieSuffix: cookieSuffix({ path, domain: cookie.domain, sameSite, httpOnly }),
    secure,
    lifetime,
    gc,
    events,
    flash: options.flash,
    persistentName,
  };
}
