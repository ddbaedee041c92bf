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
  /**
   * Optional. The response shows a session's data but carries no cookie (the cookie rule spared
   * it): send what must go with a session all the same (Koa: the `cacheLimiter` headers).
   */
  keepPrivate?(): void;
  /** Tell the client to forget `name`. */
  clearId(name: string): void;
  /** True once the response headers are out (a session cannot start any more). */
  headersSent(): boolean;
  /**
   * True when the transport may be spared `writeId` while the cookie the client holds is fresh
   * (the cookie rule, `lib/manager/storeCalls.ts`): a plain cookie whose headers can still be
   * sent and will reach the client. Absent or false: `writeId` after every write and touch.
   */
  readonly sparesCookie?: boolean;
  /**
   * Optional. When the cookie this transport last sent for `id` expires (ms since the epoch; 0
   * for none it knows of): read-only requests, which store nothing, then re-send a due cookie
   * once instead of on every request (Koa: a memory per process, `SentCookies`).
   */
  sentUntil?(id: string): number;
  /** Passed along in events, e.g. the Koa context. */
  readonly context?: unknown;
}
