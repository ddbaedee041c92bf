import type { KeyObject } from 'node:crypto';
import { cryptoModule } from '../id';

/**
 * The two token forms made from a secret, in JOSE's compact serialization, with node:crypto's
 * HMAC and AES-GCM (OpenSSL). Only the making is here: jose verifies or decrypts every token
 * TokenCodec.open has not kept in its cache (a token this process made is kept, as it was when
 * jose made it), so another instance or service refuses a token made wrong here; what holds the
 * making to jose is the spec.
 *
 * Why not jose's `CompactSign` / `CompactEncrypt`: jose 6 runs each of them as a WebCrypto job on
 * libuv's thread pool, a round trip that took 22 % of a signed `/inc` (docs/benchmarks.md, the
 * token A/B). The form is fixed by RFC 7515 §7.1 and RFC 7516 §7.1; the spec
 * (spec/token/compact.spec.ts) holds it to jose: an HS256 token is the very text jose makes, an
 * encrypted one is opened by jose, and a changed byte or header is refused.
 */

/** BASE64URL(UTF8(JSON of a protected header)): made once per key, sent in every token. */
export function headerB64(header: Readonly<Record<string, string | undefined>>): string {
  return Buffer.from(JSON.stringify(header)).toString('base64url');
}

/**
 * JWS compact, HS256 (RFC 7515 §7.1, RFC 7518 §3.2): `header.payload.HMAC-SHA-256(header.payload)`.
 *
 * @example
 * signHs256(secret, headerB64({ alg: 'HS256', kid: 'k1', typ: 'session+jwt' }), Buffer.from('{"jti":"…"}'));
 */
export function signHs256(secret: KeyObject, header: string, payload: Buffer): string {
  const input = `${header}.${payload.toString('base64url')}`;
  const mac = cryptoModule().createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${mac}`;
}

const IV_LENGTH = 12;
/**
 * CSPRNG bytes for IVs, drawn 256 IVs at a time: a randomBytes(12) per token cost 3 µs alone and
 * about 7 % of an encrypted `/inc` under load, a slice of this pool next to nothing (the trade
 * generateId() and Node's randomUUID() make). Each IV is used once: the offset only moves on, and
 * the pool is refilled when it is spent. Buffer.alloc: its own memory, not Node's shared pool.
 */
const ivPool = Buffer.alloc(IV_LENGTH * 256);
let ivOffset = ivPool.length;

/** The last header's bytes (the additional authenticated data): one key makes every new token. */
let aadOf = '';
let aad = Buffer.alloc(0);

/**
 * JWE compact, `dir` + A256GCM (RFC 7516 §7.1, RFC 7518 §4.5 and §5.3): no encrypted key, a
 * random 96-bit IV per token, the header's base64url text as the additional authenticated data,
 * a 128-bit tag.
 */
export function encryptDirA256Gcm(secret: KeyObject, header: string, payload: Buffer): string {
  const crypto = cryptoModule();
  if (ivOffset === ivPool.length) {
    crypto.randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, (ivOffset += IV_LENGTH));
  if (header !== aadOf) {
    aad = Buffer.from(header, 'ascii');
    aadOf = header;
  }
  const cipher = crypto.createCipheriv('aes-256-gcm', secret, iv, { authTagLength: 16 });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
  return `${header}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}
