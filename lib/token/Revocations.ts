import type { Adapter } from '../adapters/Adapter';
import { AdapterRuntimeError, SessionError } from '../errors';

/**
 * The revocation list of a TokenStore, in a store adapter. Two keys per session id, each written
 * by one side only, so that a logout and a sign-in racing on one session never overwrite each
 * other's entry:
 * - `revoked-<jti>`: `'1'` once a logout ended it, or the id a sign-in moved it to;
 * - `moved-<jti>`: the id a sign-in moved it to, written before the sign-in checks for a logout.
 * Each side writes its key, then reads the other's: at least one of them sees the other.
 * A failing store is an `AdapterRuntimeError` (503): a token is never accepted without its check.
 *
 * @example
 * const list = new Revocations(new RedisAdapter({ url }), 5);
 * await list.revoke(jti, until);
 * await list.entry(jti); // '1'
 */
export class Revocations {
  constructor(readonly adapter: Adapter, private readonly clockTolerance: number) {}

  /** `revoked-<jti>`: null (valid), `'1'` (ended by a logout) or the id a sign-in moved it to. */
  entry(jti: string): Promise<string | null> {
    return this.#read(`revoked-${jti}`);
  }

  /** `moved-<jti>`: the id a sign-in moved the session to, or null. */
  movedTo(jti: string): Promise<string | null> {
    return this.#read(`moved-${jti}`);
  }

  /** A logout: list `jti` as ended until `until` (seconds since the epoch) and the clock tolerance. */
  revoke(jti: string, until: number): Promise<void> {
    return this.#write(`revoked-${jti}`, '1', until);
  }

  /** A sign-in, before it checks for a logout: `jti` moves to `to`. */
  markMoved(jti: string, to: string, until: number): Promise<void> {
    return this.#write(`moved-${jti}`, to, until);
  }

  /** A sign-in that no logout overtook: `jti` is listed, pointing to `to`. */
  revokeMoved(jti: string, to: string, until: number): Promise<void> {
    return this.#write(`revoked-${jti}`, to, until);
  }

  async #read(key: string): Promise<string | null> {
    try {
      return await this.adapter.read(key);
    } catch (err) {
      throw failure('read', err);
    }
  }

  async #write(key: string, value: string, until: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(until - Date.now() / 1000 + this.clockTolerance));
    try {
      await this.adapter.write(key, value, ttl);
    } catch (err) {
      throw failure('write', err);
    }
  }
}

function failure(operation: string, err: unknown): SessionError {
  if (err instanceof SessionError) return err;
  return new AdapterRuntimeError(`Session revocation list ${operation} failed: ${(err as Error)?.message ?? err}`, 'ERR_SESSION_STORE', { cause: err });
}
