import { createHash } from 'node:crypto';

/** A Lua script run with EVALSHA (EVAL once after a NOSCRIPT), so each call is one round trip. */
export interface Script {
  readonly lua: string;
  readonly sha: string;
  /** How many of the keys (data, lock, claim, moved) it uses: only those are sent. */
  readonly keys: 1 | 2 | 3 | 4;
}

function script(keys: Script['keys'], lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex'), keys };
}

// The scripts take KEYS[1] = data key, KEYS[2] = lock key, KEYS[3] = claim key, KEYS[4] = the
// move marker's key (one Cluster slot through the hash tag), the first `keys` of them. A lock's
// value is the holder's token; releasing publishes on the lock key so waiters in other processes wake at once instead of
// sleeping out lockWaitTime.
// A waiter that was refused claims the next turn (KEYS[3], short-lived, renewed on each try):
// without it, a process with a queue of its own requests would take the lock back from under
// another process's waiter after every release, since its next request is already at hand.

// A move marker (a value beginning with "\0moved:", see MOVE_MARKER_PREFIX) lives the time it was
// written with: no read or touch extends it, and an update (ARGV flag '1') never replaces it.
// The adapter's own keys keep it under KEYS[4] (`<data key>.moved`, WRITE_MOVED), the data key
// removed, so that a read can refresh the data key's TTL with a plain GETEX, which would extend a
// marker kept there; with `php` (PHP's keys) it stays under the data key, as before, and reads
// run READ. A marker found under the data key of the adapter's own keys (written by a version
// before 2026-12-07) is moved by MOVE_MARKER.
const SESSION = `local function session(value) return value and string.sub(value, 1, 7) ~= '\\0moved:' end
`;

/** GET the data and, when ARGV[1] > 0 and it is a session (no marker), refresh its TTL (ms) in the same round trip. */
export const READ = script(1, `${SESSION}
local value = redis.call('GET', KEYS[1])
if tonumber(ARGV[1]) > 0 and session(value) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return value`);

/** Extend a session's TTL to ARGV[1] ms: 1, or 0 when there is no session (missing, or a marker). */
export const TOUCH = script(1, `${SESSION}
if not session(redis.call('GET', KEYS[1])) then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[1])`);

/**
 * SET data ARGV[1] with TTL ARGV[2] ms; with ARGV[3] == '1' only over a stored session (an
 * update never brings back a destroyed record nor replaces a move marker). 1 when written, 0 not.
 */
export const WRITE = script(1, `${SESSION}
if ARGV[3] == '1' and not session(redis.call('GET', KEYS[1])) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`);

/** DEL the data and its move marker; return what it held, or the marker (GETDEL, also on Redis before 6.2). */
export const DESTROY = script(4, `
local value = redis.call('GET', KEYS[1])
if value then redis.call('DEL', KEYS[1]) end
local moved = redis.call('GET', KEYS[4])
if moved then redis.call('DEL', KEYS[4]) end
return value or moved`);

/**
 * Store move marker ARGV[1] for ARGV[2] ms under KEYS[4] and remove the data key: fenced by lock
 * token ARGV[3] when not '' (then the lock is released as WRITE_UNLOCK releases it), an update
 * with ARGV[4] == '1'. As WRITE_UNLOCK: 1 written, 0 lock lost, 2 update refused (no session).
 */
export const WRITE_MOVED = script(4, `${SESSION}
local fenced = ARGV[3] ~= ''
if fenced and redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
local result = 1
if ARGV[4] == '1' and not session(redis.call('GET', KEYS[1])) then result = 2
else
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[2])
end
if fenced then
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', KEYS[2], '1')
end
return result`);

/**
 * A marker found under the data key (an earlier version wrote it there, and the GETEX that found
 * it extended its TTL): moved to KEYS[4] with at most ARGV[1] ms left, so no later read extends it.
 */
export const MOVE_MARKER = script(4, `${SESSION}
local value = redis.call('GET', KEYS[1])
if value and not session(value) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[4], value, 'PX', ARGV[1])
end
return 1`);

/**
 * Take the lock (token ARGV[1], expiry ARGV[2] ms) unless another waiter claimed the turn, and
 * read the data, else the move marker: {1, data|marker|false}. Refused: claim the turn for
 * ARGV[3] ms if nobody has, and return {0, ms worth waiting}.
 */
export const LOCK_READ = script(4, `
local claim = redis.call('GET', KEYS[3])
if (not claim or claim == ARGV[1]) and redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if claim then redis.call('DEL', KEYS[3]) end
  return {1, redis.call('GET', KEYS[1]) or redis.call('GET', KEYS[4])}
end
if not claim or claim == ARGV[1] then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3]) end
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then ttl = redis.call('PTTL', KEYS[3]) end
return {0, ttl}`);

/** Give up a claimed turn (a waiter that timed out). */
export const UNCLAIM = script(3, `
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1`);

/**
 * Fenced write and unlock: only while KEYS[2] still holds token ARGV[3], SET data ARGV[1] with TTL
 * ARGV[2] ms, then release the lock. With ARGV[4] == '1' (an update) only over a stored session.
 * 1 when written, 0 when the lock was lost (nothing changed), 2 when the update found no session
 * (nothing written, the lock released).
 */
export const WRITE_UNLOCK = script(2, `${SESSION}
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
local result = 1
if ARGV[4] == '1' and not session(redis.call('GET', KEYS[1])) then result = 2
else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', KEYS[2], '1')
return result`);

/** Release the lock if token ARGV[1] still holds it; refresh a session's TTL to ARGV[2] ms when > 0. */
export const UNLOCK = script(2, `${SESSION}
if tonumber(ARGV[2]) > 0 and session(redis.call('GET', KEYS[1])) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', KEYS[2], '1')
return 1`);

/** Extend the lock to ARGV[2] ms if token ARGV[1] still holds it. */
export const RENEW = script(2, `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[2], ARGV[2])`);
