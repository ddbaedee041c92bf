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
  for (const [key, hint] of [['password', /auth/], ['db', /index/], ['rejectUnauthorized', /verification cannot be turned off/], ['masterName', /`name`/], ['sentinelPassword', /sentinelAuth/], ['lockingEnable', /lockingEnabled/]] as const) {
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

test('RedisAdapter › options › tls: closed, checked, and certificate verification cannot be turned off', (t) => {
  const refused = (options: unknown, option: string, message: RegExp) => {
    const err = t.throws(() => new RedisAdapter(options as RedisAdapterOptions), INVALID, option);
    t.is((err as Error & { option: string }).option, option);
    t.regex(err!.message, message, option);
  };
  const url = 'rediss://127.0.0.1:6380';
  refused({ url, tls: { rejectUnauthorized: false } }, 'tls.rejectUnauthorized', /cannot be turned off.*tls\.ca.*own ioredis `client`/);
  refused({ url, tls: { checkServerIdentity: () => undefined } }, 'tls.checkServerIdentity', /cannot be turned off/);
  refused({ url, tls: { cas: 'x' } }, 'tls.cas', /ca/);
  refused({ url, tls: true }, 'tls', /must be an object/);
  refused({ url, tls: { ca: 42 } }, 'tls.ca', /PEM/);
  refused({ url, tls: { ca: [] } }, 'tls.ca', /non-empty/);
  refused({ url, tls: { cert: 'PEM' } }, 'tls.cert', /both `cert` and `key`/);
  refused({ url, tls: { key: 'PEM' } }, 'tls.key', /both `cert` and `key`/);
  refused({ url, tls: { passphrase: 'x' } }, 'tls.passphrase', /with `key`/);
  refused({ url, tls: { servername: '' } }, 'tls.servername', /host name/);
  refused({ url: 'redis://127.0.0.1:6380', tls: {} }, 'tls', /rediss:\/\//);
  refused({ socket: '/run/redis.sock', tls: {} }, 'tls', /Unix `socket`/);
  refused({ client: {}, tls: {} }, 'tls', /combined with client/);
  refused({ rejectUnauthorized: false }, 'RedisAdapter.rejectUnauthorized', /cannot be turned off/);
});

test('RedisAdapter › options › sentinels and name: checked, refused with what they cannot be combined with', (t) => {
  const refused = (options: unknown, option: string, message: RegExp) => {
    const err = t.throws(() => new RedisAdapter(options as RedisAdapterOptions), INVALID, option);
    t.is((err as Error & { option: string }).option, option);
    t.regex(err!.message, message, option);
  };
  const sentinels = [{ host: '127.0.0.1', port: 26379 }];
  refused({ sentinels: [], name: 'm' }, 'sentinels', /non-empty array/);
  refused({ sentinels: [{ host: '127.0.0.1', port: 0 }], name: 'm' }, 'sentinels[0].port', /positive integer/);
  refused({ sentinels: [{ host: '' }], name: 'm' }, 'sentinels[0].host', /host/);
  refused({ sentinels: [{ host: 'a', prot: 1 }], name: 'm' }, 'sentinels[0].prot', /port/);
  refused({ sentinels }, 'name', /master name/);
  refused({ name: 'mymaster' }, 'name', /give `sentinels` too/);
  refused({ sentinelAuth: 'x' }, 'sentinelAuth', /give `sentinels` too/);
  refused({ sentinels, name: 'm', host: '10.0.0.1' }, 'host', /sentinels tell where the master is/);
  refused({ sentinels, name: 'm', url: 'redis://x' }, 'url', /sentinels tell/);
  refused({ client: {}, sentinels, name: 'm' }, 'sentinels', /combined with client/);
});

test('RedisAdapter › options › tls with sentinels: sentinelTls closed and checked as tls, only with sentinels and tls, verification never off', (t) => {
  const refused = (options: unknown, option: string, message: RegExp) => {
    const err = t.throws(() => new RedisAdapter(options as RedisAdapterOptions), INVALID, option);
    t.is((err as Error & { option: string }).option, option);
    t.regex(err!.message, message, option);
  };
  const base = { sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'm' };
  const tls = { ca: 'PEM' };
  refused({ url: 'rediss://127.0.0.1:6380', tls, sentinelTls: tls }, 'sentinelTls', /give `sentinels` too/);
  refused({ ...base, sentinelTls: tls }, 'sentinelTls', /needs `tls`.*master.*`tls` alone applies to both/);
  refused({ ...base, tls: { rejectUnauthorized: false } }, 'tls.rejectUnauthorized', /cannot be turned off.*`tls\.ca`/);
  refused({ ...base, tls, sentinelTls: { rejectUnauthorized: false } }, 'sentinelTls.rejectUnauthorized', /cannot be turned off.*`sentinelTls\.ca`.*`sentinelTls\.servername`.*own ioredis `client`/);
  refused({ ...base, tls, sentinelTls: { checkServerIdentity: () => undefined } }, 'sentinelTls.checkServerIdentity', /cannot be turned off/);
  refused({ ...base, tls, sentinelTls: true }, 'sentinelTls', /must be an object/);
  refused({ ...base, tls, sentinelTls: { ca: [] } }, 'sentinelTls.ca', /non-empty/);
  refused({ ...base, tls, sentinelTls: { cert: 'PEM' } }, 'sentinelTls.cert', /both `cert` and `key`/);
  refused({ ...base, tls, sentinelTls: { key: 'PEM' } }, 'sentinelTls.key', /both `cert` and `key`/);
  refused({ ...base, tls, sentinelTls: { servername: '' } }, 'sentinelTls.servername', /host name/);
  refused({ ...base, tls, sentinelTls: { port: 26380 } }, 'sentinelTls.port', /`sentinels`/);
  refused({ ...base, tls, sentinelTls: { cas: 'x' } }, 'sentinelTls.cas', /did you mean "ca"/);
  refused({ client: {}, sentinelTls: tls }, 'sentinelTls', /combined with client/);
  // ioredis' own names are refused at the top level with ours.
  refused({ ...base, tls, sentinelTLS: tls }, 'RedisAdapter.sentinelTLS', /use `sentinelTls`/);
  refused({ ...base, tls, enableTLSForSentinelMode: true }, 'RedisAdapter.enableTLSForSentinelMode', /`tls` with `sentinels` turns TLS on for the master and the sentinels/);
});

test('RedisAdapter › options › tls with sentinels: ioredis gets TLS to the master and to the sentinels, verification left on', (t) => {
  const base = { sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster' };
  const tls = { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM', servername: 'redis.internal' };
  const one = adapter(t, { ...base, tls });
  const options = one.client.options as Record<string, unknown>;
  t.deepEqual(options.tls, tls);
  t.deepEqual(options.sentinelTLS, tls, 'the same settings for the sentinels');
  t.not(options.sentinelTLS, options.tls, 'a copy: ioredis assigns into neither of ours');
  t.is(options.enableTLSForSentinelMode, true);
  const other = { ca: 'SENTINEL CA PEM' };
  const two = adapter(t, { ...base, tls, sentinelTls: other });
  const twoOptions = two.client.options as Record<string, unknown>;
  t.deepEqual(twoOptions.tls, tls);
  t.deepEqual(twoOptions.sentinelTLS, other, 'sentinelTls replaces tls for the sentinels, whole (no servername, cert or key of tls)');
  for (const o of [options, twoOptions]) {
    for (const value of [o.tls, o.sentinelTLS] as Array<Record<string, unknown>>) {
      t.false('rejectUnauthorized' in value || 'checkServerIdentity' in value, 'Node\'s verification, never overridden');
    }
  }
  // Without tls, no TLS at all.
  const plain = adapter(t, base).client.options as Record<string, unknown>;
  t.false(Boolean(plain.tls) || Boolean(plain.sentinelTLS) || Boolean(plain.enableTLSForSentinelMode));
});

test('RedisAdapter › options › sentinels: ioredis gets bounded sentinel timeouts, the failover detector and the credentials', async (t) => {
  // Nothing listens on these ports: the options are read, no sentinel is reached.
  const a = adapter(t, {
    sentinels: [{ host: '127.0.0.1', port: 1 }, { host: '127.0.0.1' }], name: 'mymaster', index: 2,
    auth: ['app', 'secret'], sentinelAuth: 'sentinel-secret', readTimeout: 0.5, timeout: 0.25,
  });
  const options = a.client.options as Record<string, unknown> & { sentinelRetryStrategy(times: number): number };
  t.deepEqual(options.sentinels, [{ host: '127.0.0.1', port: 1 }, { host: '127.0.0.1', port: 26379 }]);
  t.like(options, {
    name: 'mymaster', role: 'master', db: 2, username: 'app', password: 'secret', sentinelPassword: 'sentinel-secret',
    sentinelCommandTimeout: 500, connectTimeout: 250, failoverDetector: true, enableOfflineQueue: false,
  });
  t.is(options.sentinelRetryStrategy(10), 1000, 'all sentinels down: retried at most every second');
  const err = await t.throwsAsync(() => a.read('a'.repeat(32)), { code: 'ERR_SESSION_STORE' });
  t.regex(err!.message, /not reachable/);
  // The sentinels' own connection error is named (ioredis says only "Connection is closed.").
  t.regex(err!.message, /All sentinels are unreachable.*Cause: 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
});
