// The verified-token cache of TokenCodec: which tokens it keeps (and, last, a guard of issue()).
// The codec here signs with one secret and verifies with another, so a token answers only from
// the cache: a miss is a 'signature' refusal, a hit the session it carries.
import test from 'ava';
import { createSecretKey, randomBytes, type webcrypto } from 'node:crypto';
import { TokenCodec } from '../../lib/token/TokenCodec';
import type { RingKey } from '../../lib/token/keys';

function cacheOnly(cacheSize: number): TokenCodec {
  const other = createSecretKey(randomBytes(32));
  const key: RingKey = {
    kid: 'k1',
    secret: createSecretKey(randomBytes(32)),
    sign: () => null,
    verify: () => Promise.resolve(other as unknown as webcrypto.CryptoKey),
  };
  return new TokenCodec(new Map([['k1', key]]), { mode: 'signed', algorithm: 'HS256', issuer: undefined, audience: undefined, clockTolerance: 0, cacheSize });
}

const exp = () => Math.floor(Date.now() / 1000) + 3600;
const ID = (n: number) => `session${String(n).padStart(25, '0')}`;
async function kept(codec: TokenCodec, token: string): Promise<boolean> {
  const opened = await codec.open(token, 3600, 0);
  return 'jti' in opened;
}

test('the cache holds at most cacheSize tokens, the least recently used out first', async (t) => {
  const codec = cacheOnly(8);
  const tokens: string[] = [];
  for (let n = 0; n < 20; n++) tokens.push(await codec.issue(ID(n), `{"c":1,"d":{"n":${n}}}`, exp()));
  const keptNow = await Promise.all(tokens.map((token) => kept(codec, token)));
  t.deepEqual(keptNow, tokens.map((_, n) => n >= 12), 'the last 8 made');
  t.like(await codec.open(tokens[19]!, 3600, 0), { jti: ID(19), text: '{"c":1,"d":{"n":19}}' });
});

test('a token in use stays while new tokens come and go', async (t) => {
  const codec = cacheOnly(8);
  const hot = await codec.issue(ID(0), '{"c":1,"d":{}}', exp());
  for (let n = 1; n <= 200; n++) {
    await codec.issue(ID(n), '{"c":1,"d":{}}', exp());
    if (n % 4 === 0) t.true(await kept(codec, hot), `after ${n} new tokens`);
  }
});

test('a token not used again is dropped after cacheSize new ones', async (t) => {
  const codec = cacheOnly(8);
  const cold = await codec.issue(ID(0), '{"c":1,"d":{}}', exp());
  t.true(await kept(codec, cold));
  for (let n = 1; n <= 8; n++) await codec.issue(ID(n), '{"c":1,"d":{}}', exp());
  t.false(await kept(codec, cold));
});

test('a hit moves a token to the end: the next token out is another', async (t) => {
  const codec = cacheOnly(4);
  const first = await codec.issue(ID(0), '{"c":1,"d":{}}', exp());
  const second = await codec.issue(ID(1), '{"c":1,"d":{}}', exp());
  await codec.issue(ID(2), '{"c":1,"d":{}}', exp());
  await codec.issue(ID(3), '{"c":1,"d":{}}', exp());
  t.true(await kept(codec, first)); // now the most recently used
  await codec.issue(ID(4), '{"c":1,"d":{}}', exp());
  t.false(await kept(codec, second), 'the oldest, once first went back');
  t.true(await kept(codec, first));
});

test('an expired token is not answered from the cache, and forget() drops one', async (t) => {
  const codec = cacheOnly(8);
  const expired = await codec.issue(ID(0), '{"c":1,"d":{}}', Math.floor(Date.now() / 1000) - 1);
  t.false(await kept(codec, expired));
  const token = await codec.issue(ID(1), '{"c":1,"d":{}}', exp());
  t.true(await kept(codec, token));
  codec.forget(token);
  t.false(await kept(codec, token));
});

test('cacheSize 0 keeps nothing', async (t) => {
  const codec = cacheOnly(0);
  t.false(await kept(codec, await codec.issue(ID(0), '{"c":1,"d":{}}', exp())));
});

test('a token verified by jose is kept (under its own copy of the text) and found again, and forget() drops it', async (t) => {
  const bytes = randomBytes(32);
  const secret = createSecretKey(bytes);
  let verifyWith = createSecretKey(bytes);
  const key: RingKey = { kid: 'k1', secret, sign: () => null, verify: () => Promise.resolve(verifyWith as unknown as webcrypto.CryptoKey) };
  const options = { mode: 'signed', algorithm: 'HS256', issuer: undefined, audience: undefined, clockTolerance: 0 } as const;
  const maker = new TokenCodec(new Map([['k1', key]]), { ...options, cacheSize: 0 });
  const codec = new TokenCodec(new Map([['k1', key]]), { ...options, cacheSize: 8 });
  const made = await maker.issue(ID(1), '{"c":1,"d":{"n":7}}', exp());
  // As a cookie arrives: the token is a slice of a longer header.
  const header = `theme=dark; sid=${made}; lang=en`;
  const sent = header.slice(header.indexOf('sid=') + 4, header.indexOf('; lang'));
  t.like(await codec.open(sent, 3600, 0), { jti: ID(1), text: '{"c":1,"d":{"n":7}}' }, 'verified by jose');
  verifyWith = createSecretKey(randomBytes(32)); // from now on jose refuses it: only the cache answers
  t.like(await codec.open(header.slice(header.indexOf('sid=') + 4, header.indexOf('; lang')), 3600, 0), { jti: ID(1) }, 'found again by its text');
  t.true(await kept(codec, made));
  codec.forget(sent);
  t.like(await codec.open(made, 3600, 0), { cause: 'signature' }, 'forgotten: jose again, which refuses it now');
});

test('an encrypted codec whose key has no secret refuses to make a token (never a signed one in its place)', async (t) => {
  const key: RingKey = { kid: 'k1', sign: () => Promise.resolve(createSecretKey(randomBytes(32))), verify: () => Promise.resolve(createSecretKey(randomBytes(32))) };
  const codec = new TokenCodec(new Map([['k1', key]]), { mode: 'encrypted', algorithm: 'HS256', issuer: undefined, audience: undefined, clockTolerance: 0, cacheSize: 8 });
  await t.throwsAsync(async () => codec.issue(ID(0), '{"c":1,"d":{}}', exp()), { message: /encrypted token needs a secret/ });
});
