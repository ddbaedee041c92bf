import { cryptoModule } from '../id';
import { isMoveMarker } from '../adapters/Adapter';

/**
 * The file formats of the StreamAdapter, in one place: what it writes is exactly what gc()
 * recognises as its own, and nothing else is ever removed.
 *
 * - session file `<prefix><id>`: `<ttl>\n<data>`, alive until its mtime plus that TTL;
 * - lock file `<prefix><id>.lock`: `<token>\n<expiry>`;
 * - claim file `<prefix><id>.claim`: `<token>`;
 * - temp file: one of the above plus `.<12 hex>.tmp` (a write in flight, or a file taken by
 *   destroy or a lock takeover just before its removal).
 */

/** A number as `String()` writes a positive finite one: `30`, `0.3`, `1e+21`, `1e-7`. */
const NUMBER = '\\d+(?:\\.\\d+)?(?:e[+-]\\d+)?';
/** A lock token: `randomUUID()` (see LocalLock). */
const TOKEN = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const TTL_LINE = new RegExp(`^(${NUMBER})\\n`);
const LOCK_CONTENT = new RegExp(`^${TOKEN}\\n${NUMBER}$`);
const CLAIM_CONTENT = new RegExp(`^${TOKEN}$`);

/**
 * What follows the prefix in the names of the adapter's files: an id, `.lock` or `.claim` for
 * its lock files, `.<12 hex>.tmp` for a temp file. (`.` is not in the id alphabet.)
 */
export const OWN_NAME = /^([a-zA-Z0-9,-]{1,128})(\.lock|\.claim)?(\.[0-9a-f]{12}\.tmp)?$/;

/** Bytes that hold a TTL line and the start of a move marker, a whole lock file, a claim. */
export const HEAD_BYTES = 64;

/** The text of a session file. */
export function sessionContent(ttl: number, data: string): string {
  return `${ttl}\n${data}`;
}

/** The TTL in the first line of a session file's text, or undefined when it is not in that format. */
export function storedTtl(text: string): number | undefined {
  const match = TTL_LINE.exec(text);
  const ttl = match === null ? NaN : Number(match[1]);
  return ttl > 0 && Number.isFinite(ttl) ? ttl : undefined;
}

/**
 * What `read()` serves of a session file's text: its data, null once mtime + TTL has passed,
 * the whole text when it is not in the format (the Manager reports it as invalid data).
 */
export function dataOf(text: string, mtimeMs: number, now = Date.now()): string | null {
  const ttl = storedTtl(text);
  if (ttl === undefined) return text;
  return mtimeMs + ttl * 1000 <= now ? null : text.slice(text.indexOf('\n') + 1);
}

/**
 * True when a session file whose first bytes are `head` is a live session record: not expired
 * and not a move marker. A file not in the format counts as live, as `read()` serves it.
 */
export function isLiveSession(head: string, mtimeMs: number, now = Date.now()): boolean {
  const ttl = storedTtl(head);
  if (ttl === undefined) return true;
  return mtimeMs + ttl * 1000 > now && !isMoveMarker(head.slice(head.indexOf('\n') + 1));
}

/** The text of a lock file. */
export function lockContent(token: string, expiry: number): string {
  return `${token}\n${expiry}`;
}

export function isLockContent(text: string): boolean {
  return LOCK_CONTENT.test(text);
}

export function isClaimContent(text: string): boolean {
  return CLAIM_CONTENT.test(text);
}

/** A fresh temp name beside `path`, in the temp file format. */
export function tempName(path: string): string {
  return `${path}.${cryptoModule().randomBytes(6).toString('hex')}.tmp`;
}
