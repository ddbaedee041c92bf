import { InvalidOption } from '../errors';

/**
 * How one request uses its session, declared by its route (`sessionPolicy()`, or the
 * `@SessionPolicy()` decorator) before the session starts.
 *
 * @example
 * router.get('/api/cart', sessionPolicy({ readOnly: true }), (ctx) => { ctx.body = ctx.session.cart; });
 */
export interface SessionRoutePolicy {
  /**
   * The route only reads: no lock is taken, nothing is written or touched at the end and no
   * cookie is sent; `set`, `remove`, `regenerateId`, `destroy` (and so Bag changes and Flash
   * reads that remove messages) throw `SessionModificationDenied`. Read-only requests of one
   * session run in parallel with each other and with a writer. @default false
   */
  readOnly?: boolean;
  /**
   * Take the session lock (when locking is on). `false` lets the route write without waiting:
   * its write lands at its commit, last writer wins (koa-session's behaviour). @default true
   */
  lock?: boolean;
}

/** A policy with every field decided. */
export interface ResolvedPolicy {
  readonly readOnly: boolean;
  readonly lock: boolean;
}

export const DEFAULT_POLICY: ResolvedPolicy = Object.freeze({ readOnly: false, lock: true });
const READ_ONLY: ResolvedPolicy = Object.freeze({ readOnly: true, lock: false });
const UNLOCKED: ResolvedPolicy = Object.freeze({ readOnly: false, lock: false });

/** Check a policy and fill in the defaults; throws InvalidOption naming the bad field. */
export function resolvePolicy(policy: SessionRoutePolicy = {}): ResolvedPolicy {
  if (typeof policy !== 'object' || policy === null) throw new InvalidOption('policy', 'must be an object');
  const { readOnly = false, lock = !readOnly } = policy;
  if (typeof readOnly !== 'boolean') throw new InvalidOption('policy.readOnly', 'must be true or false');
  if (typeof lock !== 'boolean') throw new InvalidOption('policy.lock', 'must be true or false');
  if (readOnly && lock) throw new InvalidOption('policy.lock', 'a read-only route takes no lock');
  return readOnly ? READ_ONLY : lock ? DEFAULT_POLICY : UNLOCKED;
}

/** How a policy reads in a message. */
export function describePolicy(policy: ResolvedPolicy): string {
  return policy.readOnly ? '{ readOnly: true }' : policy.lock ? 'the default (locked, writable)' : '{ lock: false }';
}
