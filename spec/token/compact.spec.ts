// The tokens made from a secret with node:crypto (lib/token/compact.ts) held to jose, which verifies
// every token a process has not made or verified before (the cache, cache.spec.ts); this spec is
// what holds the making to jose: an HS256 token is the very text jose's CompactSign makes; an
// encrypted token is opened by jose's compactDecrypt, and a token changed anywhere (ciphertext,
// tag, IV, header) is refused by it. jose5.spec.ts runs these again on jose 5.
import test from 'ava';
import { createSecretKey, randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { encryptDirA256Gcm, headerB64, signHs256 } from '../../lib/token/compact';
import { TokenStore } from '../../lib/token';
import { serveTokens } from '../helpers/tokenApp';

const bytes = randomBytes(32);
const secret = createSecretKey(bytes);
const payload = Buffer.from('{"jti":"abc","iat":1765000000,"exp":1765003600,"c":1765000000000,"d":{"n":1,"name":"Zoë ✓"}}');

test('HS256: the token is byte for byte the one jose CompactSign makes from the same header and payload', async (t) => {
  for (const header of [{ alg: 'HS256', kid: 'k1', typ: 'session+jwt' }, { alg: 'HS256', kid: 'key.2025-06_b', typ: 'session+jwt' }]) {
    const ours = signHs256(secret, headerB64(header), payload);
    const theirs = await new jose.CompactSign(payload).setProtectedHeader(header).sign(new Uint8Array(bytes));
    t.is(ours, theirs);
    const { payload: verified, protectedHeader } = await jose.compactVerify(ours, new Uint8Array(bytes), { algorithms: ['HS256'] });
    t.deepEqual(Buffer.from(verified), payload);
    t.deepEqual(protectedHeader, header);
  }
});

test('HS256: a token signed with another secret, or with its payload changed, is refused by jose', async (t) => {
  const header = headerB64({ alg: 'HS256', kid: 'k1', typ: 'session+jwt' });
  const other = signHs256(createSecretKey(randomBytes(32)), header, payload);
  await t.throwsAsync(jose.compactVerify(other, new Uint8Array(bytes)), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  const [h, , s] = signHs256(secret, header, payload).split('.');
  const changed = `${h}.${Buffer.from(payload.toString().replace('"n":1', '"n":2')).toString('base64url')}.${s}`;
  await t.throwsAsync(jose.compactVerify(changed, new Uint8Array(bytes)), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
});

const encHeader = { alg: 'dir', enc: 'A256GCM', kid: 'k1', typ: 'session+jwt' };

test('dir + A256GCM: jose compactDecrypt opens the token: the payload and the protected header come back', async (t) => {
  const token = encryptDirA256Gcm(secret, headerB64(encHeader), payload);
  const parts = token.split('.');
  t.is(parts.length, 5);
  t.is(parts[1], '', 'dir: no encrypted key');
  t.is(Buffer.from(parts[2]!, 'base64url').length, 12, 'a 96-bit IV');
  t.is(Buffer.from(parts[4]!, 'base64url').length, 16, 'a 128-bit tag');
  const { plaintext, protectedHeader } = await jose.compactDecrypt(token, new Uint8Array(bytes), { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
  t.deepEqual(Buffer.from(plaintext), payload);
  t.deepEqual(protectedHeader, encHeader);
});

test('dir + A256GCM: each token has its own IV, so the same payload never gives the same ciphertext (across refills of the IV pool)', async (t) => {
  const header = headerB64(encHeader);
  const count = 700; // the pool holds 256 IVs: 700 cross at least two refills, wherever earlier tests left it
  const tokens = Array.from({ length: count }, () => encryptDirA256Gcm(secret, header, payload));
  t.is(new Set(tokens.map((token) => token.split('.')[2])).size, count);
  t.is(new Set(tokens.map((token) => token.split('.')[3])).size, count);
  for (const token of tokens.filter((_, n) => n % 50 === 0)) {
    t.deepEqual(Buffer.from((await jose.compactDecrypt(token, new Uint8Array(bytes))).plaintext), payload);
  }
});

test('dir + A256GCM: a changed ciphertext, tag or IV byte, or another header over the same ciphertext, is refused by jose', async (t) => {
  const token = encryptDirA256Gcm(secret, headerB64(encHeader), payload);
  const parts = token.split('.');
  const flip = (part: number): string => {
    const raw = Buffer.from(parts[part]!, 'base64url');
    raw[raw.length >> 1] ^= 1;
    return parts.map((p, i) => (i === part ? raw.toString('base64url') : p)).join('.');
  };
  for (const changed of [flip(2), flip(3), flip(4), [headerB64({ ...encHeader, kid: 'k2' }), ...parts.slice(1)].join('.')]) {
    await t.throwsAsync(jose.compactDecrypt(changed, new Uint8Array(bytes)), { code: 'ERR_JWE_DECRYPTION_FAILED' });
  }
  await t.throwsAsync(jose.compactDecrypt(token, new Uint8Array(randomBytes(32))), { code: 'ERR_JWE_DECRYPTION_FAILED' });
});

for (const mode of ['signed', 'encrypted'] as const) {
  test(`${mode}: a TokenStore's cookie is a token jose opens with the app's secret, with the claims and the session`, async (t) => {
    const key = TokenStore.generateSecret();
    const { client } = await serveTokens(t, { mode, keys: [{ kid: 'k1', secret: key }] });
    await client.fetch('/inc');
    await client.fetch('/inc');
    const token = client.jar.get('sid')!;
    const raw = new Uint8Array(Buffer.from(key, 'base64url'));
    const { payload: claims, protectedHeader } = mode === 'signed'
      ? await jose.jwtVerify(token, raw, { algorithms: ['HS256'], typ: 'session+jwt' })
      : await jose.jwtDecrypt(token, raw, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'], typ: 'session+jwt' });
    t.like(protectedHeader, { kid: 'k1', typ: 'session+jwt' });
    t.like(claims, { d: { n: 2 } });
    t.true(typeof claims.jti === 'string' && typeof claims.iat === 'number' && typeof claims.exp === 'number' && claims.exp > claims.iat!);
  });
}
