import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisAdapter, type RedisAdapterOptions } from '../../lib/redis/RedisAdapter';
import { newId } from '../helpers/adapterContract';
import { useRedis } from '../helpers/redisServer';

const redis = useRedis(test);
const INVALID = { code: 'ERR_SESSION_INVALID_OPTION' };

function adapter(t: { teardown(fn: () => unknown): void }, options: RedisAdapterOptions): RedisAdapter {
  const a = new RedisAdapter(options);
  t.teardown(() => a.close());
  return a;
}

test('RedisAdapter › options › url: connects where it says, database included', async (t) => {
  const a = adapter(t, { url: `redis://127.0.0.1:${redis().port}/3` });
  const id = newId();
  await a.write(id, 'in db 3', 60);
  t.is((await redis().cli('-n', '3', 'GET', `sess-reds-{${id}}`)).trim(), 'in db 3');
  t.is((await redis().cli('-n', '0', 'EXISTS', `sess-reds-{${id}}`)).trim(), '0');
});

test('RedisAdapter › options › a bare URL string, a non-redis URL or url with host is refused with the fix', (t) => {
  const bare = t.throws(() => new RedisAdapter('redis://127.0.0.1:6379' as unknown as RedisAdapterOptions), INVALID);
  t.regex(bare!.message, /\{ url: 'redis:\/\/…' \}/);
  t.throws(() => new RedisAdapter({ url: 'http://127.0.0.1' }), INVALID);
  t.throws(() => new RedisAdapter({ url: 'redis://127.0.0.1', port: 6380 }), { ...INVALID, message: /"port".*url/ });
});

test('RedisAdapter › options › unknown keys are refused, with the name Phalcon or ioredis users reach for', (t) => {
  for (const [key, hint] of [['password', /auth/], ['db', /index/], ['tls', /rediss/], ['lockingEnable', /lockingEnabled/]] as const) {
    const err = t.throws(() => new RedisAdapter({ [key]: 1 } as unknown as RedisAdapterOptions), INVALID);
    t.regex(err!.message, hint, key);
  }
  t.throws(() => new RedisAdapter({ lockingEnabled: 'yes' } as never), INVALID, 'lockingEnabled must be a boolean');
});

test('RedisAdapter › write and updateTimestamp refuse a TTL that is not a positive number', async (t) => {
  const a = adapter(t, { port: redis().port });
  const id = newId();
  await a.write(id, 'x', 60);
  for (const ttl of [0, -1, Number.NaN]) {
    await t.throwsAsync(() => a.write(id, 'y', ttl), INVALID, `write ${ttl}`);
    await t.throwsAsync(() => a.updateTimestamp(id, 'x', ttl), INVALID, `touch ${ttl}`);
  }
  t.is(await a.read(id), 'x');
  t.true(Number((await redis().cli('PTTL', `sess-reds-{${id}}`)).trim()) > 50_000);
});

test('RedisAdapter › locking › a lock is renewed to the expiry it was taken with, not the adapter default', async (t) => {
  const a = adapter(t, { port: redis().port, lockExpiry: 30 });
  const [short, long] = [newId(), newId()];
  const s = await a.lock!(short, { wait: 1, expiry: 1.5 }); // renewed every 0.5 s
  const l = await a.lock!(long, { wait: 1, expiry: 120 });
  t.teardown(() => Promise.all([s.release(), l.release()]));
  await sleep(1200); // past two renewals of the short lock
  const pttl = async (id: string) => Number((await redis().cli('PTTL', `sess-reds-{${id}}.lock`)).trim());
  const shortTtl = await pttl(short);
  t.true(shortTtl > 0 && shortTtl <= 1500, `short lock PTTL ${shortTtl} (the adapter default would make it 30000)`);
  t.true((await pttl(long)) > 100_000, 'a 120 s lock is not cut to the 30 s default');
});
