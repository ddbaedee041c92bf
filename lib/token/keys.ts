import type { KeyObject, webcrypto } from 'node:crypto';

/** A key as a JWK object (RFC 7517), e.g. `keyObject.export({ format: 'jwk' })`. */
export interface TokenJwk {
  kty?: string;
  [parameter: string]: unknown;
}
import { InvalidOption } from '../errors';
import { cryptoModule } from '../id';

/** The forms of token a TokenStore makes. */
export type TokenMode = 'signed' | 'encrypted';

/** The signature algorithms of signed tokens (JWS). */
export type TokenAlgorithm = 'HS256' | 'EdDSA' | 'ES256';

/**
 * One key of the ring. The first key of `keys` signs or encrypts every new token; the others
 * only verify (or decrypt) tokens made before a rotation, until they are removed.
 *
 * - `HS256` and `encrypted`: `secret`, random bytes (at least 32 for HS256, exactly 32 for
 *   A256GCM), as a `Uint8Array` or a base64url (or base64) string: `TokenStore.generateSecret()`
 *   or `openssl rand -base64 32` makes one. A passphrase is refused.
 * - `EdDSA` (Ed25519) and `ES256` (P-256): `privateKey` to sign (PEM PKCS#8, a KeyObject or a
 *   JWK), `publicKey` (PEM SPIKI, KeyObject or JWK) on a key that only verifies; the public key
 *   of a private key is derived.
 */
export interface TokenKey {
  /** Sent in each token's header (`kid`): 1 to 64 of letters, digits, `.`, `_`, `-`. */
  kid: string;
  secret?: string | Uint8Array;
  privateKey?: string | KeyObject | TokenJwk;
  publicKey?: string | KeyObject | TokenJwk;
}

/** A key ready for jose: what signs or encrypts (absent on a verify-only key), what verifies or decrypts. */
export interface RingKey {
  readonly kid: string;
  /** A secret's bytes for node:crypto, which makes HS256 and encrypted tokens (compact.ts); absent on key pairs. */
  readonly secret?: KeyObject;
  /** CryptoKey (secrets, imported once) or KeyObject (asymmetric, jose converts and caches). */
  sign(): Promise<webcrypto.CryptoKey | KeyObject> | null;
  verify(): Promise<webcrypto.CryptoKey | KeyObject>;
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * The key ring of `keys` for `mode` and `algorithm`, checked now (a bad key throws
 * InvalidOption when the app starts, not at the first request). Secrets are kept as KeyObjects
 * (node:crypto makes the tokens) and imported as CryptoKeys for jose on first use, once.
 */
export function keyRing(keys: unknown, mode: TokenMode, algorithm: TokenAlgorithm): Map<string, RingKey> {
  if (!Array.isArray(keys) || keys.length === 0) throw new InvalidOption('keys', 'must be a non-empty array of { kid, ... } (the first one signs, the others verify)');
  const ring = new Map<string, RingKey>();
  keys.forEach((key: TokenKey, at) => {
    const where = `keys[${at}]`;
    if (typeof key !== 'object' || key === null) throw new InvalidOption(where, 'must be an object { kid, ... }');
    const allowed = mode === 'encrypted' || algorithm === 'HS256' ? ['kid', 'secret'] : ['kid', 'privateKey', 'publicKey'];
    for (const name of Object.keys(key)) {
      if (!allowed.includes(name)) throw new InvalidOption(`${where}.${name}`, `is not a key option of ${describe(mode, algorithm)} (expected ${allowed.join(', ')})`);
    }
    if (typeof key.kid !== 'string' || !KID.test(key.kid)) throw new InvalidOption(`${where}.kid`, 'must be 1 to 64 of letters, digits, ".", "_", "-"');
    if (ring.has(key.kid)) throw new InvalidOption(`${where}.kid`, `"${key.kid}" appears twice`);
    const ringKey = allowed.includes('secret') ? secretKey(where, key, mode) : keyPair(where, key, algorithm);
    if (at === 0 && ringKey.sign() === null) throw new InvalidOption(where, 'is the newest key, which signs every new token: it needs its privateKey');
    ring.set(key.kid, ringKey);
  });
  return ring;
}

function describe(mode: TokenMode, algorithm: TokenAlgorithm): string {
  return mode === 'encrypted' ? 'encrypted tokens (dir + A256GCM)' : `${algorithm} tokens`;
}

function secretKey(where: string, key: TokenKey, mode: TokenMode): RingKey {
  const bytes = secretBytes(`${where}.secret`, key.secret);
  if (mode === 'encrypted' ? bytes.length !== 32 : bytes.length < 32) {
    throw new InvalidOption(`${where}.secret`, `must be ${mode === 'encrypted' ? 'exactly' : 'at least'} 32 random bytes (it has ${bytes.length}): TokenStore.generateSecret() or \`openssl rand -base64 32\` makes one`);
  }
  let imported: Promise<webcrypto.CryptoKey> | undefined;
  const load = (): Promise<webcrypto.CryptoKey> => (imported ??= cryptoModule().webcrypto.subtle.importKey(
    'raw', bytes,
    mode === 'encrypted' ? { name: 'AES-GCM' } : { name: 'HMAC', hash: 'SHA-256' },
    false,
    mode === 'encrypted' ? ['encrypt', 'decrypt'] : ['sign', 'verify'],
  ));
  return { kid: key.kid, secret: cryptoModule().createSecretKey(bytes), sign: load, verify: load };
}

function secretBytes(option: string, secret: unknown): Uint8Array {
  if (secret instanceof Uint8Array) return new Uint8Array(secret); // a copy: the caller may reuse its buffer
  if (typeof secret === 'string' && BASE64.test(secret)) return new Uint8Array(Buffer.from(secret, secret.includes('+') || secret.includes('/') ? 'base64' : 'base64url'));
  if (typeof secret === 'string') throw new InvalidOption(option, 'must be base64url or base64 (random bytes, not a passphrase): TokenStore.generateSecret() or `openssl rand -base64 32` makes one');
  throw new InvalidOption(option, 'is required: a Uint8Array or a base64url string of random bytes');
}

function keyPair(where: string, key: TokenKey, algorithm: TokenAlgorithm): RingKey {
  const crypto = cryptoModule();
  let privateKey: KeyObject | null = null;
  let publicKey: KeyObject;
  try {
    if (isKeyObject(key.privateKey)) {
      if (key.privateKey.type !== 'private') throw new InvalidOption(`${where}.privateKey`, `is a ${key.privateKey.type} key, not a private one`);
      privateKey = key.privateKey;
    } else if (key.privateKey !== undefined) {
      privateKey = crypto.createPrivateKey(asKeyInput(key.privateKey) as string);
    }
    if (isKeyObject(key.publicKey)) {
      if (key.publicKey.type !== 'public') throw new InvalidOption(`${where}.publicKey`, `is a ${key.publicKey.type} key, not a public one`);
      publicKey = key.publicKey;
    } else {
      publicKey = key.publicKey !== undefined ? crypto.createPublicKey(asKeyInput(key.publicKey)) : crypto.createPublicKey(privateKey ?? missing());
    }
  } catch (err) {
    if (err instanceof InvalidOption) throw err;
    throw new InvalidOption(where, `holds a key Node cannot read: ${(err as Error).message}`);
  }
  for (const k of privateKey ? [privateKey, publicKey] : [publicKey]) {
    const fits = algorithm === 'EdDSA' ? k.asymmetricKeyType === 'ed25519' : k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    if (!fits) throw new InvalidOption(where, `must be ${algorithm === 'EdDSA' ? 'an Ed25519' : 'a P-256 (prime256v1) EC'} key for ${algorithm}, not ${k.asymmetricKeyType}`);
  }
  if (privateKey && !crypto.createPublicKey(privateKey).equals(publicKey)) throw new InvalidOption(where, 'publicKey is not the public key of privateKey');
  const signing = privateKey === null ? null : Promise.resolve(privateKey);
  const verifying = Promise.resolve(publicKey);
  return { kid: key.kid, sign: () => signing, verify: () => verifying };

  function missing(): never {
    throw new InvalidOption(where, 'needs privateKey (to sign) or publicKey (to verify only)');
  }
}

function asKeyInput(value: string | KeyObject | TokenJwk): Parameters<typeof import('node:crypto').createPublicKey>[0] {
  if (typeof value === 'string' || isKeyObject(value)) return value;
  return { key: value as import('node:crypto').JsonWebKey, format: 'jwk' };
}

function isKeyObject(value: unknown): value is KeyObject {
  return value instanceof cryptoModule().KeyObject;
}

/** 32 random bytes as base64url: a secret for HS256 or for encrypted tokens. */
export function generateSecret(): string {
  return cryptoModule().randomBytes(32).toString('base64url');
}
