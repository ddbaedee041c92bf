/** How the Manager reaches the request: the framework-specific part (cookies, headers). */
export interface SessionTransport {
  /**
   * The id the client sent under `name`, if any (raw, unvalidated). A transport that carries the
   * session itself (a token that must be verified first) may resolve it later, and resolves
   * `null` when the client sent something it rejected and has already reported: the Manager then
   * starts a new session and clears what the client holds, without an event of its own.
   */
  readId(name: string): string | undefined | null | Promise<string | undefined | null>;
  /** Send `id` to the client under `name`, valid for `maxAge` seconds. */
  writeId(name: string, id: string, maxAge: number): void;
  /** Tell the client to forget `name`. */
  clearId(name: string): void;
  /** True once the response headers are out (a session cannot start any more). */
  headersSent(): boolean;
  /**
   * True when `writeId` must follow every write and touch (a token that carries the session and
   * its expiry): the cookie is then not spared when unchanged (the cookie rule, `lib/manager/storeCalls.ts`).
   */
  readonly everyWrite?: boolean;
  /** Passed along in events, e.g. the Koa context. */
  readonly context?: unknown;
}
