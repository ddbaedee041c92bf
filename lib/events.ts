/**
 * What each session event tells beyond the `session` (the request's Manager) and `context`
 * (the Koa `ctx`) that every event carries: see `SessionEventMap` for the payloads listeners get.
 * Kept apart from the Manager so that the modules that emit need not import it.
 */
export interface SessionEventDetails {
  /** A session became active (`isNew`: no stored record yet). */
  'session:started': { id: string; isNew: boolean };
  /** A fresh id was issued (no cookie, or the old one was unknown, invalid or expired). */
  'session:created': { id: string };
  /**
   * The client's id has no live record (`missing`), passed the absolute lifetime (`absolute`),
   * or was moved away from by `regenerateId()` (`regenerated`: a request that was in flight then).
   */
  'session:expired': { id: string; reason: 'missing' | 'absolute' | 'regenerated' | 'idle' };
  /**
   * A cookie outside the id alphabet (`id`), stored data that could not be decoded (`data`), or
   * a session token refused (`token`, with its `cause`; `id` when the token named one).
   * Token sessions also report an expired token as `session:expired` (`idle`: past its `exp`;
   * `absolute`).
   */
  'session:invalid': { id?: string; reason: 'id' | 'data' | 'token'; cause?: TokenRejection };
  'session:regenerated': { id: string; oldId: string };
  /**
   * `id` is the session destroyed. `followed` lists the ids ended with it because a sign-in had
   * just moved the session there (a logout racing the sign-in); never sent to a client.
   */
  'session:destroyed': { id: string; followed?: string[] };
  /**
   * This request's changes (or touch) were not stored because another request destroyed the
   * session or moved it to a new id (sign-in) after this one read it: nothing is brought back,
   * and no cookie is sent for it.
   */
  'session:discarded': { id: string; reason: 'gone' };
  /** The request waited for another request of the same session. */
  'session:lockWaited': { id: string; waitedMs: number };
  /** An adapter call failed (the error is also thrown, except for `unlock` and `gc`). */
  'session:storeError': { id: string; operation: string; error: unknown };
  /**
   * A request brought the cookie (or token) of session `id` with another fingerprint than the
   * one the session is bound to (`session({ fingerprint })`): `changed` names the parts that
   * differ, `action` what was done (the `onMismatch` policy, or `hidden` on a read-only route).
   * Emitted once per such request.
   */
  'session:hijackSuspected': { id: string; changed: ('userAgent' | 'address' | 'custom')[]; action: 'destroy' | 'regenerate' | 'event' | 'hidden' };
}

/**
 * Why a session token was refused: not a token of ours (`malformed`), a signature or
 * authentication tag that does not verify (`signature`), a key id the key ring does not hold
 * (`unknownKey`), another algorithm than the one pinned (`algorithm`), claims that are missing
 * or wrong (`claims`: issuer, audience, a `jti` we did not make), an `iat`/`nbf` in the future
 * (`notYetValid`), longer than the transport allows (`tooLarge`), or revoked by a logout or
 * sign-in (`revoked`).
 */
export type TokenRejection = 'malformed' | 'signature' | 'unknownKey' | 'algorithm' | 'claims' | 'notYetValid' | 'tooLarge' | 'revoked';

export type SessionEventName = keyof SessionEventDetails;
