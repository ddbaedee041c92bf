import type { EventEmitter } from 'node:events';
import type { KeyObject } from 'node:crypto';
import type { Context } from 'koa';
import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';
import { cryptoModule } from '../id';
import type { Manager } from '../Manager';
import { RESTART, SESSION_DATA, type SessionGuard } from '../manager/internal';
import { uniquePrefixOf } from '../manager/ManagerOptions';
import { untyped } from '../manager/data';
import { emit } from '../manager/emit';
import type { SessionTransport } from '../manager/SessionTransport';
import { addressPrefix } from './address';

/**
 * The session key of the fingerprint (keyed hashes of what the session is bound to); the
 * Manager's `uniqueId` prefix applies to it as to every key.
 */
export const FINGERPRINT_SESSION_KEY = '$koa-session-manager/fingerprint$';

/** What a session can be bound to. */
export type FingerprintPart = 'userAgent' | 'address' | 'custom';

/**
 * What was done about a request whose fingerprint did not match its session: the policy
 * (`onMismatch`), or `'hidden'` on a read-only route, which cannot destroy or move a session:
 * that request sees an empty session, and the policy applies on the client's next writable one.
 */
export type HijackAction = 'destroy' | 'regenerate' | 'event' | 'hidden';

/**
 * `session({ fingerprint })`: bind each session to what its client sends, and act when a request
 * brings the session's cookie with another fingerprint (a copied cookie, most likely).
 */
export interface FingerprintOptions {
  /**
   * Key of the hashes (HMAC-SHA256): at least 32 bytes, kept like any secret. The raw values
   * (user agent, address) are never stored. An array rotates keys: the first binds, every one
   * is accepted, and a session bound under an older key is bound again under the first at its
   * next write.
   */
  secret: string | Buffer | readonly (string | Buffer)[];
  /** Bind to the `User-Agent` header. @default true */
  userAgent?: boolean;
  /**
   * Bind to the client's network: `ctx.ip` (which follows Koa's `app.proxy` and
   * `X-Forwarded-For` rules) cut to a prefix, so that a client moving within its network keeps
   * its session. `true` is `{ ipv4: 24, ipv6: 64 }`; prefix lengths 0–32 and 0–128.
   * @default false (mobile clients and dual-stack browsers change addresses, see docs/fingerprint.md)
   */
  address?: boolean | { ipv4?: number; ipv6?: number };
  /** Bind to what this function returns for the request (a device id of your own, a TLS client certificate…). */
  custom?: (ctx: Context) => string;
  /**
   * What a mismatch does: `'destroy'` ends the stored session (every client using it is signed
   * out) and the request goes on with a new empty one; `'regenerate'` moves the data to a new id
   * bound to this request's fingerprint (the old cookie stops working: the lenient choice, for
   * bindings that can change legitimately); `'event'` only reports it. `session:hijackSuspected`
   * is emitted in every case.
   * @default 'destroy'
   */
  onMismatch?: 'destroy' | 'regenerate' | 'event';
}

/** The stored fingerprint: one keyed hash per part (22 base64url characters, 132 bits). */
type StoredFingerprint = Partial<Record<FingerprintPart, string>>;

const KEYS: readonly (keyof FingerprintOptions)[] = ['secret', 'userAgent', 'address', 'custom', 'onMismatch'];
const ADDRESS_KEYS = ['ipv4', 'ipv6'];
const POLICIES: readonly unknown[] = ['destroy', 'regenerate', 'event'];
const MIN_SECRET_BYTES = 32;

/** One request's fingerprint, computed once (at start) and reused at commit. */
interface Computed {
  /** Hash of each bound part under each key, newest key first (computed on demand). */
  readonly values: Map<FingerprintPart, string>;
  readonly hashes: Map<FingerprintPart, string[]>;
}

function secretKeys(secret: unknown): KeyObject[] {
  const list = Array.isArray(secret) ? secret : [secret];
  if (list.length === 0) throw new InvalidOption('fingerprint.secret', 'must be at least one key');
  return list.map((one: unknown, i) => {
    const where = Array.isArray(secret) ? `fingerprint.secret[${i}]` : 'fingerprint.secret';
    if (typeof one !== 'string' && !Buffer.isBuffer(one)) throw new InvalidOption(where, 'must be a string or a Buffer');
    const bytes = typeof one === 'string' ? Buffer.from(one, 'utf8') : one;
    if (bytes.length < MIN_SECRET_BYTES) {
      throw new InvalidOption(where, `must be at least ${MIN_SECRET_BYTES} bytes (e.g. crypto.randomBytes(32).toString('base64url'), kept out of the code)`);
    }
    return cryptoModule().createSecretKey(bytes);
  });
}

function prefixBits(where: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max) throw new InvalidOption(where, `must be a whole number of bits from 0 to ${max}`);
  return value as number;
}

/**
 * The `fingerprint` option, checked, as the guard the middleware gives each request; throws
 * `InvalidOption` naming what is wrong.
 */
export function fingerprintGuard(options: unknown, events: EventEmitter): SessionGuard<Manager> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOption('fingerprint', 'must be an object: { secret, userAgent, address, custom, onMismatch }');
  }
  checkOptionKeys('fingerprint', options, KEYS);
  const { secret, userAgent = true, address = false, custom, onMismatch = 'destroy' } = options as FingerprintOptions;
  if (secret === undefined) throw new InvalidOption('fingerprint.secret', 'is required: the hashes are keyed, so that a leaked store does not tell user agents or addresses');
  const keys = secretKeys(secret);
  if (typeof userAgent !== 'boolean') throw new InvalidOption('fingerprint.userAgent', 'must be true or false');
  let bits: { ipv4: number; ipv6: number } | null = null;
  if (address === true) bits = { ipv4: 24, ipv6: 64 };
  else if (typeof address === 'object' && address !== null && !Array.isArray(address)) {
    checkOptionKeys('fingerprint.address', address, ADDRESS_KEYS);
    bits = { ipv4: prefixBits('fingerprint.address.ipv4', address.ipv4, 24, 32), ipv6: prefixBits('fingerprint.address.ipv6', address.ipv6, 64, 128) };
  } else if (address !== false) throw new InvalidOption('fingerprint.address', 'must be true, false or { ipv4, ipv6 } (prefix lengths in bits)');
  if (custom !== undefined && typeof custom !== 'function') throw new InvalidOption('fingerprint.custom', 'must be a function of the Koa context returning a string');
  if (!POLICIES.includes(onMismatch)) throw new InvalidOption('fingerprint.onMismatch', "must be 'destroy', 'regenerate' or 'event'");

  const parts: { part: FingerprintPart; value: (ctx: Context) => string }[] = [];
  if (userAgent) parts.push({ part: 'userAgent', value: (ctx) => ctx.get('user-agent') });
  if (bits !== null) {
    const { ipv4, ipv6 } = bits;
    parts.push({ part: 'address', value: (ctx) => addressPrefix(ctx.ip ?? '', ipv4, ipv6) });
  }
  if (custom !== undefined) {
    parts.push({
      part: 'custom',
      value: (ctx) => {
        const result = custom(ctx);
        if (typeof result !== 'string') throw new InvalidOption('fingerprint.custom', `must return a string (returned ${typeof result})`);
        return result;
      },
    });
  }
  if (parts.length === 0) throw new InvalidOption('fingerprint', 'binds nothing: keep `userAgent`, or set `address` or `custom`');

  const computed = new WeakMap<object, Computed>();
  const crypto = cryptoModule();
  const hash = (key: KeyObject, part: FingerprintPart, value: string): string =>
    crypto.createHmac('sha256', key).update(`${part}\n${value}`).digest('base64url').slice(0, 22);

  /** This request's value of each part (once per request). */
  const of = (ctx: Context): Computed => {
    let found = computed.get(ctx);
    if (found === undefined) {
      const values = new Map<FingerprintPart, string>();
      for (const { part, value } of parts) values.set(part, value(ctx));
      found = { values, hashes: new Map() };
      computed.set(ctx, found);
    }
    return found;
  };
  /** The hash of `part` for this request under key `i` (newest first). */
  const hashOf = (request: Computed, part: FingerprintPart, i: number): string => {
    let list = request.hashes.get(part);
    if (list === undefined) request.hashes.set(part, (list = []));
    return (list[i] ??= hash(keys[i]!, part, request.values.get(part)!));
  };
  /** How the stored fingerprint compares with this request's, part by part. */
  const compare = (stored: StoredFingerprint, request: Computed): { changed: FingerprintPart[]; stale: boolean } => {
    const changed: FingerprintPart[] = [];
    let stale = false;
    for (const { part } of parts) {
      const kept = stored[part];
      if (typeof kept !== 'string') { stale = true; continue; } // bound before this part was: added at the next write
      if (kept === hashOf(request, part, 0)) continue;
      let older = false;
      for (let i = 1; i < keys.length && !older; i++) older = kept === hashOf(request, part, i);
      if (older) stale = true;
      else changed.push(part);
    }
    return { changed, stale };
  };
  const fresh = (request: Computed): StoredFingerprint => {
    const result: StoredFingerprint = {};
    for (const { part } of parts) result[part] = hashOf(request, part, 0);
    return result;
  };
  /** True when the session holds a key besides its fingerprint (`own`, prefixed). */
  const holdsData = (data: Record<string, unknown>, own: string): boolean => {
    for (const key in data) if (key !== own) return true;
    return false;
  };
  const storedOf = (session: Manager): StoredFingerprint | undefined => {
    const stored = untyped(session).get(FINGERPRINT_SESSION_KEY);
    return typeof stored === 'object' && stored !== null && !Array.isArray(stored) ? stored as StoredFingerprint : undefined;
  };

  return {
    async started(session, context) {
      const stored = storedOf(session);
      if (stored === undefined) return;
      const ctx = context as Context;
      const request = of(ctx);
      const { changed } = compare(stored, request);
      if (changed.length === 0) return;
      const id = session.getId();
      let action: HijackAction = onMismatch;
      if (onMismatch !== 'event' && session.getPolicy().readOnly) action = 'hidden';
      if (action === 'hidden') {
        const data = session[SESSION_DATA]();
        for (const key in data) delete data[key];
      }
      else if (action === 'destroy') {
        await session.destroy();
        await session[RESTART]();
      } else if (action === 'regenerate') {
        await session.regenerateId();
        untyped(session).set(FINGERPRINT_SESSION_KEY, fresh(request));
      }
      emit(events, 'session:hijackSuspected', { id, changed, action }, session, { context: ctx } as SessionTransport);
    },
    committing(session, context) {
      // Bound only once the session holds something: a visitor who stores nothing gets no record.
      // The session is closed for the app by now: the guard writes the data directly.
      const own = uniquePrefixOf(session.getOptions()) + FINGERPRINT_SESSION_KEY;
      const data = session[SESSION_DATA]();
      if (!holdsData(data, own)) return;
      const request = of(context as Context);
      const stored = storedOf(session);
      if (stored === undefined) {
        data[own] = fresh(request);
        return;
      }
      const { changed, stale } = compare(stored, request);
      if (!stale) return;
      // Parts bound under an older key or not bound yet are bound now; a changed part is not
      // (under `onMismatch: 'event'` the session stays bound to its first client).
      const next: StoredFingerprint = {};
      for (const { part } of parts) next[part] = changed.includes(part) ? stored[part] : hashOf(request, part, 0);
      data[own] = next;
    },
  };
}
