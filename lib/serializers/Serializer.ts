/**
 * How the Manager turns a session record into the bytes an adapter stores, and back.
 * `parse` must never execute code and must throw (or return a non-object) for data it cannot
 * decode; the Manager then starts a fresh session and emits `session:invalid`. What `parse`
 * returns is the Manager's from then on (it keeps the record's data object and changes it), as
 * `JSON.parse`'s result is: a fresh value per call, never one kept or shared.
 *
 * @example
 * const v8Base64: Serializer = {
 *   stringify: (v) => v8.serialize(v).toString('base64'),
 *   parse: (s) => v8.deserialize(Buffer.from(s, 'base64')),
 * };
 */
export interface Serializer {
  stringify(value: unknown): string;
  parse(text: string): unknown;
  /**
   * Optional: why `value` would not come back as it is after `stringify` and `parse` (a
   * sentence), or undefined when it would. `set()` refuses such a value with
   * `InvalidSessionValue`, so nothing changes type or vanishes silently. `key` is the top-level
   * key the value is stored under (with the `uniqueId` prefix), for a format that cannot store
   * every key.
   */
  check?(value: unknown, key?: string): string | undefined;
  /**
   * Optional: `stringify(value)` written where `previous` (this session's stored text, as last
   * read or written) was: a format shared with another program keeps the bytes of what did not
   * change (PHP's `3.0`, objects of classes Node does not know). Called instead of `stringify`
   * when the session has stored text.
   */
  stringifyOver?(value: unknown, previous: string): string;
  /**
   * `false` when the format has no room for the session's creation time (PHP's): the absolute
   * lifetime, which needs it, is refused with such a serializer. @default true
   */
  readonly storesCreationTime?: boolean;
}
