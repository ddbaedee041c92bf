import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import * as jose from 'jose';
import { TokenStore } from '../../lib/token';
import { headerOf, serveTokens } from '../helpers/tokenApp';

const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = (key: { export(options: { type: 'pkcs8' | 'spki'; format: 'pem' }): string | Buffer }, type: 'pkcs8' | 'spki') => String(key.export({ type, format: 'pem' }));

for (const [algorithm, pair, alg] of [['EdDSA', ed, 'EdDSA'], ['ES256', ec, 'ES256']] as const) {
  test(`${algorithm}: tokens another service verifies with the public key alone (jose.jwtVerify)`, async (t) => {
    const { client } = await serveTokens(t, { algorithm, keys: [{ kid: 'pair-1', privateKey: pem(pair.privateKey, 'pkcs8') }] });
    t.like(await client.json('/login?user=jo'), { user: 'jo' });
    t.like(await client.json('/inc'), { n: 1, user: 'jo' });
    const token = client.jar.get('sid')!;
    t.like(headerOf(token), { alg, kid: 'pair-1' });
    const { payload } = await jose.jwtVerify(token, pair.publicKey, { algorithms: [alg], typ: 'session+jwt' });
    t.like(payload, { d: { user: 'jo', n: 1 } });
  });
}

test('a rotation from a key pair to a new one keeps the old public key as verify-only; keys as KeyObject or JWK', async (t) => {
  const next = generateKeyPairSync('ed25519');
  const before = await serveTokens(t, { algorithm: 'EdDSA', keys: [{ kid: 'old', privateKey: ed.privateKey }] });
  await before.client.fetch('/inc');
  const after = await serveTokens(t, {
    algorithm: 'EdDSA',
    keys: [{ kid: 'new', privateKey: next.privateKey.export({ format: 'jwk' }) }, { kid: 'old', publicKey: pem(ed.publicKey, 'spki') }],
  });
  after.client.jar.set('sid', before.client.jar.get('sid')!);
  t.like(await after.client.json('/inc'), { n: 2 });
  t.is(headerOf(after.client.jar.get('sid')!).kid, 'new');
});

test('algorithm confusion is refused by construction: an HS256 token keyed with the ES256 public key is not accepted', async (t) => {
  const { client, events } = await serveTokens(t, { algorithm: 'ES256', keys: [{ kid: 'p', privateKey: ec.privateKey }] });
  const now = Math.floor(Date.now() / 1000);
  const forged = await new jose.SignJWT({ jti: 'forgedForgedForgedForgedForged01', iat: now, exp: now + 600, c: Date.now(), d: { n: 41 } })
    .setProtectedHeader({ alg: 'HS256', kid: 'p', typ: 'session+jwt' })
    .sign(Buffer.from(pem(ec.publicKey, 'spki')));
  client.jar.set('sid', forged);
  t.like(await client.json('/inc'), { n: 1 });
  t.like(events.find((e) => e.event === 'session:invalid'), { cause: 'algorithm' });
});

test('a signed token is refused by an encrypting store and the other way round', async (t) => {
  const secret = TokenStore.generateSecret();
  const signed = await serveTokens(t, { keys: [{ kid: 'k', secret }] });
  const encrypted = await serveTokens(t, { mode: 'encrypted', keys: [{ kid: 'k', secret }] });
  await signed.client.fetch('/inc');
  await encrypted.client.fetch('/inc');
  const [signedToken, encryptedToken] = [signed.client.jar.get('sid')!, encrypted.client.jar.get('sid')!];
  encrypted.client.jar.set('sid', signedToken);
  signed.client.jar.set('sid', encryptedToken);
  t.like(await encrypted.client.json('/inc'), { n: 1 });
  t.like(await signed.client.json('/inc'), { n: 1 });
  t.like(encrypted.events.find((e) => e.event === 'session:invalid'), { cause: 'malformed' });
  t.like(signed.events.find((e) => e.event === 'session:invalid'), { cause: 'malformed' });
});

test('TokenStore options and keys are checked when it is made, each with a message that names the fix', (t) => {
  const secret = TokenStore.generateSecret();
  t.is(Buffer.from(secret, 'base64url').length, 32);
  const bad: Array<[unknown, RegExp]> = [
    [{ keys: [] }, /keys.*non-empty/],
    [{ keys: [{ kid: 'k', secret }], algorithm: 'none' }, /algorithm.*'none'.*refused|refused/],
    [{ keys: [{ kid: 'k', secret }], algorithm: 'RS256' }, /algorithm/],
    [{ keys: [{ kid: 'k', secret }], mode: 'encrypted', algorithm: 'HS256' }, /algorithm.*applies to signed/],
    [{ keys: [{ kid: 'k', secret }], mode: 'sealed' }, /mode/],
    [{ keys: [{ kid: 'k', secret }], secret }, /Unknown|unknown|not an option|secret/],
    [{ keys: [{ kid: 'k', secret: 'correct horse battery staple, long enough to pass' }] }, /base64url.*not a passphrase/],
    [{ keys: [{ kid: 'k', secret: Buffer.alloc(16).toString('base64url') }] }, /at least 32/],
    [{ mode: 'encrypted', keys: [{ kid: 'k', secret: Buffer.alloc(48).toString('base64url') }] }, /exactly 32/],
    [{ keys: [{ kid: 'k', secret }, { kid: 'k', secret }] }, /appears twice/],
    [{ keys: [{ kid: 'has space', secret }] }, /kid/],
    [{ keys: [{ kid: 'k' }] }, /secret.*required/],
    [{ keys: [{ kid: 'k', secret, privateKey: 'x' }] }, /privateKey.*not a key option/],
    [{ algorithm: 'EdDSA', keys: [{ kid: 'k', publicKey: ed.publicKey }] }, /newest key.*privateKey/],
    [{ algorithm: 'EdDSA', keys: [{ kid: 'k', privateKey: ec.privateKey }] }, /Ed25519/],
    [{ algorithm: 'ES256', keys: [{ kid: 'k', privateKey: ed.privateKey }] }, /P-256/],
    [{ algorithm: 'EdDSA', keys: [{ kid: 'k', privateKey: ed.privateKey, publicKey: generateKeyPairSync('ed25519').publicKey }] }, /not the public key/],
    [{ algorithm: 'EdDSA', keys: [{ kid: 'k', privateKey: ed.publicKey }] }, /not a private one/],
    [{ algorithm: 'EdDSA', keys: [{ kid: 'k', privateKey: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----' }] }, /cannot read/],
    [{ keys: [{ kid: 'k', secret }], header: 'X-Token' }, /header.*bearer/],
    [{ keys: [{ kid: 'k', secret }], transport: 'bearer', header: 'bad header' }, /header/],
    [{ keys: [{ kid: 'k', secret }], maxTokenSize: 8000 }, /maxTokenSize.*bearer/],
    [{ keys: [{ kid: 'k', secret }], transport: 'bearer', maxTokenSize: 10 }, /maxTokenSize/],
    [{ keys: [{ kid: 'k', secret }], transport: 'header' }, /transport/],
    [{ keys: [{ kid: 'k', secret }], issuer: '' }, /issuer/],
    [{ keys: [{ kid: 'k', secret }], revocation: {} }, /revocation.*adapter/],
    [{ keys: [{ kid: 'k', secret }], touchSlack: -1 }, /touchSlack/],
    [{ keys: [{ kid: 'k', secret }], clockTolerance: Number.NaN }, /clockTolerance/],
    [{ keys: [{ kid: 'k', secret }], cacheSize: 1.5 }, /cacheSize/],
    [{ keys: [{ kid: 'k', secret }], clockTolerance: 5000 }, /clockTolerance.*seconds.*at most 300/],
    [{ keys: [{ kid: 'k', secret }], lifetime: 60 }, /lifetime/],
  ];
  for (const [options, message] of bad) {
    t.throws(() => new TokenStore(options as never), { code: 'ERR_SESSION_INVALID_OPTION', message }, JSON.stringify(options, (_k, v) => (typeof v === 'object' && v?.constructor?.name === 'KeyObject' ? 'KeyObject' : v)));
  }
});
