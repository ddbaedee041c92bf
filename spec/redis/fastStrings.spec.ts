import test from 'ava';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

// ioredis 6 leaves String.prototype in V8's dictionary mode when it loads (lib/redis/fastStrings.ts):
// every string method read in optimized code is then a generic lookup. The Redis entry point puts
// it back. Each case in a fresh Node with V8's natives syntax, which can ask for the object's mode.

const LIB = resolve(__dirname, '../../lib');

function fastAfter(load: string): boolean {
  const script = `${load}; process.stdout.write(String(%HasFastProperties(String.prototype)));`;
  return execFileSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8', cwd: resolve(LIB, '..') }) === 'true';
}

test('fastStrings › the control: ioredis alone leaves String.prototype in dictionary mode (what the entry point undoes)', (t) => {
  t.true(fastAfter('0'), 'a fresh process: fast');
  t.false(fastAfter("require('ioredis')"));
});

test('fastStrings › after the Redis entry point loads ioredis, String.prototype is fast again', (t) => {
  t.true(fastAfter(`require(${JSON.stringify(resolve(LIB, 'redis'))})`));
});

test('fastStrings › also when the app loaded ioredis first, and when it makes its client after', (t) => {
  t.true(fastAfter(`require('ioredis'); require(${JSON.stringify(resolve(LIB, 'redis'))})`));
  t.true(fastAfter(`const { RedisAdapter } = require(${JSON.stringify(resolve(LIB, 'redis'))}); const { Redis } = require('ioredis'); new Redis({ lazyConnect: true })`));
});

test('fastStrings › the probe itself: restoreFastStringPrototype() after ioredis', (t) => {
  t.true(fastAfter(`require('ioredis'); require(${JSON.stringify(resolve(LIB, 'redis/fastStrings'))}).restoreFastStringPrototype()`));
});
