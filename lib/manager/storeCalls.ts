import { logger } from '../log';
import { BYTES_PREFIX, type Adapter, type LockHandle } from '../adapters/Adapter';
import type { EventPayload } from './emit';
import { AdapterRuntimeError, InvalidSessionValue, SessionError, SessionTooLarge } from '../errors';
import { idTag, isValidId } from '../id';
import { decodeRecord, encodeRecord, markerTarget, type SessionRecord } from '../record';
import { absoluteLifetimeOf, maxSizeOf, serializerOf, type ManagerOptions } from './ManagerOptions';
import type { SessionTransport } from './SessionTransport';

const debug = logger('koa-session-manager:manager');

/** How many move markers a destroy follows (a session regenerated twice within a minute has two). */
const MAX_MARKER_HOPS = 4;

/** One adapter call, its failure reported (see {@link storeFailure}). */
export type StoreCall = <T>(operation: string, id: string, call: () => Promise<T>) => Promise<T>;

/**
 * The record text of `data` created at `created`, written over `previous` (the session's stored
 * text, for a serializer that keeps its unchanged bytes), with when the cookie was last sent
 * (`cookieAt`: when the client's cookie expires, ms; 0 for none); `SessionTooLarge` over `maxSize` (nothing is
 * written), `InvalidSessionValue` for a value the serializer refuses (changed in place after set()).
 *
 * @example
 * const text = encodeSession(options, Date.now(), { userId: 7 });
 */
export function encodeSession(options: ManagerOptions, created: number, data: Record<string, unknown>, previous?: string | null, cookieAt = 0): string {
  let text: string;
  try {
    text = encodeRecord(serializerOf(options), cookieAt > 0 ? { c: created, d: data, s: cookieAt } : { c: created, d: data }, previous);
  } catch (err) {
    throw new InvalidSessionValue('(session)', (err as Error)?.message ?? String(err));
  }
  const max = maxSizeOf(options);
  // What is stored already is not refused (a PHP app has no such limit); a UTF-16 unit is at most
  // 3 UTF-8 bytes: count exactly only when it may matter (bytes that are no UTF-8, one per unit).
  if (text !== previous && text.length * 3 > max) {
    const size = text.startsWith(BYTES_PREFIX) ? text.length - BYTES_PREFIX.length : Buffer.byteLength(text);
    if (size > max) throw new SessionTooLarge(size, max);
  }
  return text;
}

/**
 * What a stored text holds: the record; `{ movedTo }` when a sign-in moved the session away
 * (a move marker, or an old-style record flagged `r`: `movedTo` ''); `'invalid'` when it cannot
 * be decoded; `'expired'` past the absolute lifetime.
 *
 * @example
 * const record = judgeRecord(options, text);
 * if (typeof record === 'object' && 'd' in record) use(record.d);
 */
export function judgeRecord(options: ManagerOptions, text: string): SessionRecord | { movedTo: string } | 'invalid' | 'expired' {
  const movedTo = markerTarget(text);
  if (movedTo !== undefined) return { movedTo };
  const record = decodeRecord(serializerOf(options), text);
  if (record === null) return 'invalid';
  if (record.r === 1) return { movedTo: '' };
  const absolute = absoluteLifetimeOf(options);
  return absolute > 0 && Date.now() - record.c >= absolute * 1000 ? 'expired' : record;
}

/**
 * Seconds the cookie lives: as long as the store keeps the record, capped by what is left of
 * the absolute lifetime of a session created at `created` (ms).
 *
 * @example
 * cookieMaxAge({ absoluteLifetime: 600 }, Date.now() - 300_000, 1800); // 300
 */
export function cookieMaxAge(options: ManagerOptions, created: number, ttl: number): number {
  const absolute = absoluteLifetimeOf(options);
  if (absolute <= 0) return ttl;
  return Math.max(0, Math.min(ttl, absolute - (Date.now() - created) / 1000));
}

/**
 * A failed adapter call as the Manager reports it: a SessionError as it is, anything else
 * wrapped in an AdapterRuntimeError (code `ERR_SESSION_STORE`, the original as `cause`).
 *
 * @example
 * throw storeFailure('read', id, err);
 */
export function storeFailure(operation: string, id: string, err: unknown): SessionError {
  const error = err instanceof SessionError ? err
    : new AdapterRuntimeError(`Session store ${operation} failed: ${(err as Error)?.message ?? err}`, 'ERR_SESSION_STORE', { cause: err });
  debug('store %s failed for %s: %s', operation, idTag(id), error.message);
  return error;
}

/**
 * Release `lock`; a failure is reported as `session:storeError` (operation `unlock`), never
 * thrown: the record is already written, and an expiring lock cannot lose data.
 *
 * @example
 * await releaseReporting(lock, emit);
 */
export async function releaseReporting(lock: LockHandle, emit: (event: 'session:storeError', payload: EventPayload<'session:storeError'>) => void): Promise<void> {
  try {
    await lock.release();
  } catch (err) {
    emit('session:storeError', { id: lock.id, operation: 'unlock', error: err });
  }
}

/**
 * Destroy `id`, then follow the move markers: the one destroy returned (a sign-in committed
 * after this request read), else `movedTo` (the marker found at read). Resolves the ids ended
 * after `id`, at most {@link MAX_MARKER_HOPS}.
 *
 * @example
 * const followed = await destroyFollowing(adapter, id, undefined, store);
 */
export async function destroyFollowing(adapter: Adapter, id: string, movedTo: string | undefined, store: StoreCall): Promise<string[]> {
  const followed: string[] = [];
  let removed = await store('destroy', id, () => adapter.destroy(id));
  let next = markerTarget(typeof removed === 'string' ? removed : '') || movedTo;
  for (let hop = 0; next && hop < MAX_MARKER_HOPS && isValidId(next); hop++) {
    const target = next;
    followed.push(target);
    removed = await store('destroy', target, () => adapter.destroy(target));
    next = markerTarget(typeof removed === 'string' ? removed : '');
  }
  return followed;
}

/** Browsers cap a cookie's lifetime at 400 days (RFC 6265bis): a longer Max-Age counts as this. */
const COOKIE_CAP_S = 34_560_000;

/**
 * When the session cookie is sent again (issue #17: re-sending it after every write cost a few
 * µs of every request).
 *
 * The rule: the cookie goes out with `Max-Age = lifetime + slack` (slack = a tenth of the
 * lifetime, at least a second), and the record keeps when that cookie expires (`s`, ms). A
 * request sends it again when the id changed, or when the cookie the browser holds would expire
 * less than `lifetime + slack / 2` from now — before the store's new expiry (`now + lifetime`)
 * plus half a slack for clocks of app servers that disagree — or implausibly late (a clock that
 * ran ahead wrote it). So no idle lifetime is shortened (also after a deploy that raises the
 * lifetime), the cookie outlives the session by at most the slack, and it is re-sent about every
 * twentieth of the lifetime; a re-send on an unchanged session writes the record once (the new
 * `s`). Read-only requests on a store whose reads refresh the TTL re-send it when due, without
 * storing anything; the transport remembers that send ({@link cookieDueOnRead}; Koa: per process),
 * so the next read-only requests do not find it due again.
 *
 * Only for a transport that says it can (`sparesCookie`: Koa's cookie while its headers can
 * still be sent and will survive the response); formats that keep no metadata (PHP's), tokens
 * and other transports send it every time, with `Max-Age = lifetime`.
 */
export function cookieSlack(ttl: number): number {
  return Math.max(1, Math.ceil(ttl / 10));
}

/** The Max-Age (s) the rule sends for `ttl`: `ttl` plus the slack, within the browsers' cap. */
export function ruledMaxAge(ttl: number): number {
  return Math.min(ttl + cookieSlack(ttl), COOKIE_CAP_S);
}

/**
 * Whether the cookie naming `id` is due at `now` (ms), given what the client sent and when the
 * cookie the record knows of expires (`expires`, ms; 0 unknown). `ruled` false: always.
 *
 * @example
 * cookieDue(true, 'abc', 'abc', Date.now() + 3_900_000, 3600, Date.now()); // false: it outlives the session
 */
export function cookieDue(ruled: boolean, sentCookie: string | undefined, id: string, expires: number, ttl: number, now: number): boolean {
  if (!ruled || sentCookie !== id) return true;
  const left = expires - now;
  const slack = cookieSlack(ttl) * 1000;
  return left < ttl * 1000 + slack / 2 || left > ruledMaxAge(ttl) * 1000 + slack;
}

/**
 * Whether a read-only request re-sends the cookie naming `id`: due by the expiry the record
 * knows (`stored`, ms), and still due after a later send the transport remembers (a read-only
 * re-send, which stored nothing). Writes go by the record alone: what they send, they store.
 * The record is asked first: the transport's memory (a lookup that hashes the id) only when it
 * finds the cookie due. (A send remembered under the same lifetime is never later than the rule's
 * longest cookie, so it can only make a due cookie not due.)
 */
export function cookieDueOnRead(transport: SessionTransport, sentCookie: string | undefined, id: string, stored: number, ttl: number, now: number): boolean {
  if (!cookieDue(true, sentCookie, id, stored, ttl, now)) return false;
  const sent = transport.sentUntil === undefined ? 0 : transport.sentUntil(id);
  return sent <= stored || cookieDue(true, sentCookie, id, sent, ttl, now);
}

/** Whether the rule applies to this request: a transport that can spare the cookie, a format with metadata. */
export function cookieRuled(transport: SessionTransport | null, options: ManagerOptions): boolean {
  return transport !== null && transport.sparesCookie === true && serializerOf(options).storesCreationTime !== false;
}
