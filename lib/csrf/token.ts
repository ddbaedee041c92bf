import { SessionModificationDenied } from '../errors';
import { cryptoModule } from '../id';
import type { Manager } from '../Manager';
import { untyped } from '../manager/data';
import type { CsrfRejection } from './errors';

/**
 * The session key of the CSRF token (Phalcon keeps its own under `$PHALCON/CSRF$`): a name no
 * app picks by chance; the Manager's `uniqueId` prefix applies to it as to every key.
 */
export const CSRF_SESSION_KEY = '$koa-session-manager/csrf$';

/** Bytes of the token: 256 bits from the CSPRNG. */
const TOKEN_BYTES = 32;
/** A stored token: 32 bytes in base64url. */
const STORED = /^[A-Za-z0-9_-]{43}$/;
/** A masked token, pad ‖ (token XOR pad): 64 bytes in base64url, without padding. */
const MASKED = /^[A-Za-z0-9_-]{86}$/;

/** What the session holds: the token, and the tag of the session id it was made for. */
interface StoredToken {
  token: string;
  for: string;
}

/**
 * The tag binding a token to a session id (22 base64url characters of its SHA-256, 132 bits):
 * after `regenerateId()` the tag no longer matches and the token counts as absent. A tag
 * rather than the id itself, so that the session data never holds its own key.
 */
function tagOf(id: string): string {
  return cryptoModule().createHash('sha256').update(id).digest('base64url').slice(0, 22);
}

function isStored(value: unknown): value is StoredToken {
  if (typeof value !== 'object' || value === null) return false;
  const { token, for: tag } = value as Partial<StoredToken>;
  return typeof token === 'string' && STORED.test(token) && typeof tag === 'string';
}

/** The session's token, when it holds one made for its current id; reads only. */
function storedToken(session: Manager): Buffer | undefined {
  const stored = untyped(session).get(CSRF_SESSION_KEY);
  if (!isStored(stored) || stored.for !== tagOf(session.getId())) return undefined;
  return Buffer.from(stored.token, 'base64url');
}

/**
 * The session's token, made and stored on first use and again after the id changed
 * (`regenerateId()` at sign-in): one write per session and id, none on later requests.
 * A read-only session that must make one throws `SessionModificationDenied`.
 */
export function tokenOf(session: Manager): Buffer {
  const known = storedToken(session);
  if (known !== undefined) return known;
  if (session.getPolicy().readOnly) {
    throw new SessionModificationDenied('This session has no CSRF token yet and the route only reads it (sessionPolicy({ readOnly: true })): render forms on a writable route');
  }
  const token = cryptoModule().randomBytes(TOKEN_BYTES);
  const stored: StoredToken = { token: token.toString('base64url'), for: tagOf(session.getId()) };
  untyped(session).set(CSRF_SESSION_KEY, stored);
  return token;
}

/**
 * `token` masked for one response (against BREACH: compressed HTML must not repeat the secret):
 * a fresh random pad, then pad ‖ (token XOR pad), in base64url (86 characters).
 */
export function maskToken(token: Buffer): string {
  const out = Buffer.alloc(TOKEN_BYTES * 2);
  cryptoModule().randomFillSync(out, 0, TOKEN_BYTES);
  for (let i = 0; i < TOKEN_BYTES; i++) out[TOKEN_BYTES + i] = token[i]! ^ out[i]!;
  return out.toString('base64url');
}

/** The token inside a masked value, or undefined when `value` is not one (never throws). */
export function unmaskToken(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || !MASKED.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  if (bytes.length !== TOKEN_BYTES * 2) return undefined;
  const token = Buffer.alloc(TOKEN_BYTES);
  for (let i = 0; i < TOKEN_BYTES; i++) token[i] = bytes[i]! ^ bytes[TOKEN_BYTES + i]!;
  return token;
}

/**
 * Why `submitted` is not this session's token, or null when it is. Reads the session, never
 * writes it (a session without a token stays without one); compares in constant time.
 */
export function rejectionOf(session: Manager, submitted: unknown): CsrfRejection | null {
  if (submitted === undefined || submitted === null || submitted === '') return 'missing';
  const token = unmaskToken(submitted);
  if (token === undefined) return 'malformed';
  const known = storedToken(session);
  if (known === undefined) return 'no-token';
  return cryptoModule().timingSafeEqual(token, known) ? null : 'mismatch';
}
