import type { Adapter } from '../adapters/Adapter';
import { AdapterRuntimeError, SessionError } from '../errors';

/**
 * The revocation list of a TokenStore: a store adapter holding `revoked-<jti>` until the
 * token's `exp`. A failing store is an `AdapterRuntimeError` (503): a token is never accepted
 * without its check.
 *
 * @example
 * const list = new Revocations(new RedisAdapter({ url }), 5);
 * await list.revoke(jti, exp);
 * await list.has(jti); // true
 */
export class Revocations {
  constructor(readonly adapter: Adapter, private readonly clockTolerance: number) {}

  /**
   * The list's entry of `jti`, or null when it is not listed: `'1'` when it was ended (logout),
   * the session id it moved to when a sign-in (`regenerateId()`) ended it.
   */
  async entry(jti: string): Promise<string | null> {
    try {
      return await this.adapter.read(keyOf(jti));
    } catch (err) {
      throw failure('read', err);
    }
  }

  /** True when `jti` is listed. */
  async has(jti: string): Promise<boolean> {
    return (await this.entry(jti)) !== null;
  }

  /**
   * List `jti` until `exp` (seconds) and the clock tolerance have passed: as long as the token
   * could be used. `movedTo`: the session id a sign-in moved it to, for a logout that read the
   * session before the sign-in to follow.
   */
  async revoke(jti: string, exp: number, movedTo?: string): Promise<void> {
    const ttl = Math.max(1, Math.ceil(exp - Date.now() / 1000 + this.clockTolerance));
    try {
      await this.adapter.write(keyOf(jti), movedTo ?? '1', ttl);
    } catch (err) {
      throw failure('write', err);
    }
  }
}

/** The list's key of `jti`, apart from session ids when the list shares a store with sessions. */
function keyOf(jti: string): string {
  return `revoked-${jti}`;
}

function failure(operation: string, err: unknown): SessionError {
  if (err instanceof SessionError) return err;
  return new AdapterRuntimeError(`Session revocation list ${operation} failed: ${(err as Error)?.message ?? err}`, 'ERR_SESSION_STORE', { cause: err });
}
