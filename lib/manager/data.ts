import { InvalidSessionValue } from '../errors';
import type { Serializer } from '../serializers/Serializer';

/**
 * The app's session data, for typed property access and `get`/`set`. Augment it once, program
 * wide; from then on an unknown key or a value of the wrong type is a compile error:
 *
 * @example
 * declare module 'koa-session-manager' {
 *   interface SessionData { userId: number; role: 'admin' | 'user' }
 * }
 * ctx.session.userId;            // number | null | undefined
 * ctx.session.set('role', 'x');  // error: not 'admin' | 'user'
 * ctx.session.get('usrId');      // error: not a key of SessionData
 *
 * Until it is augmented, keys are any string and values `unknown`. To keep the declared keys
 * typed and still accept others, augment {@link SessionTyping} too.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionData {}

/**
 * How keys are checked. Augmented with `anyKey: true`, `get`/`set`/`has`/`remove` keep the
 * declared keys of {@link SessionData} typed and accept any other key too (its value `unknown`,
 * or `get<T>(key)`): for code that builds keys at run time.
 *
 * @example
 * declare module 'koa-session-manager' {
 *   interface SessionTyping { anyKey: true }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionTyping {}

/**
 * The keys `get`/`set`/`has`/`remove` take: SessionData's once augmented, any string before
 * (or with {@link SessionTyping} `anyKey`).
 */
export type SessionKey = [keyof SessionData] extends [never] ? string
  : SessionTyping extends { anyKey: true } ? string : Extract<keyof SessionData, string>;

/** The value type of a key: SessionData's, or `unknown` for a key it does not declare. */
export type SessionValue<K extends string> = K extends keyof SessionData ? SessionData[K] : unknown;

/**
 * What `get` returns: an explicit type argument (`get<number>('n')`, for undeclared keys),
 * else the declared type of the key.
 */
export type SessionGet<T, K extends string> = [T] extends [never] ? SessionValue<K> : T;

/** The Manager's typed property view of {@link SessionData}. */
export type SessionProperties = { [K in keyof SessionData]?: SessionData[K] | null };

/**
 * The untyped view of a session the library's own modules use (a Bag's or the flash's key is
 * chosen at run time, whatever the app declared).
 */
export interface UntypedSession {
  get(key: string, defaultValue?: unknown, remove?: boolean): unknown;
  set(key: string, value: unknown): void;
  has(key: string): boolean;
  remove(key: string): void;
}

/** A session seen through {@link UntypedSession} (a cast: the same object). */
export const untyped = (session: object): UntypedSession => session as UntypedSession;

/**
 * Refuses what `set(key, value)` must not store: a key that reading the session back would
 * drop (prototype pollution guard), a value (or a key, stored as `storedKey`) the serializer
 * cannot keep as it is.
 *
 * @example
 * checkValue('when', new Date(), new JsonSerializer()); // throws InvalidSessionValue
 */
export function checkValue(key: string, value: unknown, serializer: Serializer, storedKey = key): void {
  if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
    throw new InvalidSessionValue(key, 'this key name is dropped when the session is read back (prototype pollution guard)');
  }
  const refused = serializer.check?.(value, storedKey);
  if (refused !== undefined) throw new InvalidSessionValue(key, refused);
}
