import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual, webcrypto } from 'node:crypto';
import * as jose from 'jose';

// What one jose operation costs this Node in CPU (issue #14): HS256 sign and verify, JWE
// dir + A256GCM encrypt and decrypt, the four a TokenStore session does (a verify or decrypt per
// request whose token is not in the cache, a sign or encrypt per write). Each is run with
// `--in-flight` operations at a time (32: wrk's 32 connections, each with a request in its
// server), for `--ops` operations per round, `--rounds` rounds, operations interleaved by round;
// the table gives the median of the rounds' CPU per operation (process.cpuUsage(), user + system,
// over the round / operations) and wall-clock operations per second. No server, no HTTP: this
// bounds what any jose-based session can reach; it is not part of `npm run bench`. Beside them,
// for scale, node:crypto's synchronous HMAC-SHA256 and AES-256-GCM of the same bytes (what a
// session layer that calls node:crypto directly, as koa-session's keygrip does, pays).
// Run after compiling the bench (`npx tsc -p .`, or `npx tsc -p . --outDir build-bench`):
//   node build/bench/extras/jose.js [--rounds 7] [--ops 20000] [--in-flight 32]

function flag(name: string, fallback: number, min: number, max: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at < 0 ? fallback : Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return value;
}

const rounds = flag('rounds', 7, 1, 101);
const ops = flag('ops', 20_000, 100, 10_000_000);
const inFlight = flag('in-flight', 32, 1, 1024);

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** `count` calls of `op`, `inFlight` at a time (each lane awaits its call before the next). */
async function inLanes(op: () => Promise<unknown> | unknown, count: number): Promise<void> {
  let left = count;
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, async () => {
    while (left > 0) {
      left--;
      await op();
    }
  }));
}

interface Round { cpuUs: number; perSecond: number }

async function measure(op: () => Promise<unknown> | unknown): Promise<Round> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await inLanes(op, ops);
  const elapsed = performance.now() - started;
  const { user, system } = process.cpuUsage(cpu);
  return { cpuUs: (user + system) / ops, perSecond: (ops * 1000) / elapsed };
}

async function main(): Promise<void> {
  const secret = randomBytes(32);
  // As a TokenStore imports a secret: a WebCrypto key, once.
  const hmacKey = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const aesKey = await webcrypto.subtle.importKey('raw', secret, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  // A TokenStore's payload for the bench's session ({ n: 1 }): its claims spliced before the record.
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(`{"jti":"${randomBytes(16).toString('hex')}","iat":${now},"exp":${now + 3600},"c":${Date.now()},"d":{"n":1}}`);
  const typ = 'session+jwt';
  const signed = await new jose.CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: 'k1', typ }).sign(hmacKey);
  const encrypted = await new jose.CompactEncrypt(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: 'k1', typ }).encrypt(aesKey);
  const claims = { typ, requiredClaims: ['jti', 'iat', 'exp'], clockTolerance: 5, maxTokenAge: 3600 };
  // The key lookup a TokenStore passes (by kid), so the verify is the one it runs.
  const hmacOf = () => hmacKey;
  const aesOf = () => aesKey;
  const signingInput = signed.slice(0, signed.lastIndexOf('.'));
  const mac = createHmac('sha256', secret).update(signingInput).digest();

  const OPS: [string, () => Promise<unknown> | unknown][] = [
    ['jose HS256 sign (CompactSign)', () => new jose.CompactSign(payload).setProtectedHeader({ alg: 'HS256', kid: 'k1', typ }).sign(hmacKey)],
    ['jose HS256 verify (jwtVerify + claims)', () => jose.jwtVerify(signed, hmacOf, { ...claims, algorithms: ['HS256'] })],
    ['jose dir + A256GCM encrypt (CompactEncrypt)', () => new jose.CompactEncrypt(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: 'k1', typ }).encrypt(aesKey)],
    ['jose dir + A256GCM decrypt (jwtDecrypt + claims)', () => jose.jwtDecrypt(encrypted, aesOf, { ...claims, keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] })],
    ['node:crypto HMAC-SHA256 of the same signing input (sync, for scale)', () => timingSafeEqual(createHmac('sha256', secret).update(signingInput).digest(), mac)],
    ['node:crypto AES-256-GCM encrypt of the same payload (sync, for scale)', () => {
      const cipher = createCipheriv('aes-256-gcm', secret, randomBytes(12));
      return [cipher.update(payload), cipher.final(), cipher.getAuthTag()];
    }],
    ['node:crypto AES-256-GCM decrypt of it (sync, for scale)', (() => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', secret, iv);
      const sealed = Buffer.concat([cipher.update(payload), cipher.final()]);
      const tag = cipher.getAuthTag();
      return () => {
        const decipher = createDecipheriv('aes-256-gcm', secret, iv).setAuthTag(tag);
        return Buffer.concat([decipher.update(sealed), decipher.final()]);
      };
    })()],
  ];

  // Warm-up: the JIT and WebCrypto's thread pool.
  for (const [, op] of OPS) await inLanes(op, Math.min(ops, 2000));
  const results = new Map<string, Round[]>(OPS.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, op] of OPS) results.get(name)!.push(await measure(op));
  }

  console.log(`jose ${(require('jose/package.json') as { version: string }).version} · Node ${process.version} · ${rounds} rounds × ${ops} operations, ` +
    `${inFlight} in flight · token ${signed.length} bytes signed, ${encrypted.length} encrypted (payload ${payload.length} bytes)`);
  console.log('');
  console.log('| operation | CPU µs/op, median | min–max | ops/s (wall), median |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, rs] of results) {
    const cpu = rs.map((r) => r.cpuUs);
    console.log(`| ${name} | ${median(cpu).toFixed(1)} | ${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)} | ${Math.round(median(rs.map((r) => r.perSecond)))} |`);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
