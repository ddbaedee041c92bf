/**
 * How the Manager turns a session record into the bytes an adapter stores, and back.
 * `parse` must never execute code and must throw (or return a non-object) for data it cannot
 * decode; the Manager then starts a fresh session and emits `session:invalid`.
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
   * `InvalidSessionValue`, so nothing changes type or vanishes silently.
   */
  check?(value: unknown): string | undefined;
}
