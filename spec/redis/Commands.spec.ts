import test from 'ava';
import type { Redis } from 'ioredis';
import { Commands } from '../../lib/redis/Commands';
import { READ } from '../../lib/redis/scripts';

// A small failing double for paths a real Redis cannot produce (the real-server paths are in
// RedisAdapter.spec.ts): a client whose command call throws before it returns a promise.

function throwingClient(): Redis {
  return {
    status: 'ready',
    options: {},
    stream: undefined,
    evalsha() { throw new Error('synchronous failure'); },
  } as unknown as Redis;
}

test('eval › a send that throws before its promise exists rejects instead of throwing (callers chain .catch on it)', async (t) => {
  const commands = new Commands(throwingClient(), 1000);
  let result: Promise<unknown> | undefined;
  t.notThrows(() => { result = commands.eval(READ, 'sess-reds-{abc}', [0]); });
  await t.throwsAsync(result!, { message: 'synchronous failure' });
  t.is(await commands.eval(READ, 'sess-reds-{abc}', [0]).catch(() => 'caught'), 'caught');
});
