import test, { type ExecutionContext } from 'ava';
import { Client, Server } from 'memjs';
import { MemcachedAdapter, type MemcachedAdapterOptions } from '../../lib/memcached/MemcachedAdapter';
import { encoded, sharedApps, until } from '../helpers/phpInterop';
import { useMemcached } from '../helpers/memcachedServer';

/**
 * Sessions shared with a real PHP 8.2 app using php-memcached's session handler (`php -S`, a
 * private memcached): the `php` mode of the MemcachedAdapter, both serialize handlers, both lock
 * directions, and PHP giving up on a lock Node holds too long.
 */

const memcached = useMemcached(test);
const command = (line: string) => memcached().command(line);

/** php-memcached sessions on the spec's memcached, locking on; PHP waits `retries` × 150 ms for a lock. */
const phpMemcached = (handler: string, retries = 30): Record<string, string | number> => ({
  'session.save_handler': 'memcached',
  'session.save_path': `127.0.0.1:${memcached().port}`,
  'session.serialize_handler': handler,
  'memcached.sess_locking': 1,
  'memcached.sess_lock_retries': retries,
  'memcached.sess_lock_wait_min': 150,
  'memcached.sess_lock_wait_max': 150,
  'memcached.sess_lock_expire': 30,
});

function adapter(t: ExecutionContext, php: NonNullable<MemcachedAdapterOptions['php']>): MemcachedAdapter {
  const a = new MemcachedAdapter({ servers: [{ host: '127.0.0.1', port: memcached().port }], php });
  t.teardown(() => a.close());
  return a;
}

/** Whether memcached holds `key` (meta get, no value). */
const exists = async (key: string) => (await command(`mg ${key}`)).startsWith('HD');

for (const handler of ['php', 'php_serialize'] as const) {
  const title = (what: string) => `php › interop › php-memcached, ${handler} handler › ${what}`;

  test.serial(title('PHP signs in → Koa sees the user; Koa changes the cart → PHP sees it; the float stays a float; TTL as PHP\'s'), async (t) => {
    const { phpJson, koaJson, browser } = await sharedApps(t, adapter(t, { handler }), phpMemcached(handler));
    const signedIn = await phpJson('/signin?user=ada');
    t.deepEqual(signedIn.errors, []);
    t.like((await koaJson('/whoami')).body, { id: signedIn.id, user: 'ada', since: 3 });
    t.deepEqual((await koaJson('/cart?item=book')).body, { cart: ['book'] });
    t.deepEqual([...browser.koa.jar], [['PHPSESSID', signedIn.id]]);
    const shown = await phpJson('/show');
    t.like(shown.session, { user: 'ada', cart: ['book'] });
    t.true(encoded(shown).includes('d:3;'), encoded(shown));
    const ttl = Number(/ t(-?\d+)/.exec(await command(`mg memc.sess.key.${signedIn.id} t`))?.[1]);
    t.true(ttl > 1430 && ttl <= 1441, `TTL ${ttl}, PHP's gc_maxlifetime 1440`);
  });

  test.serial(title('a strict round trip PHP → Node → PHP of the hard data set: only the counter changed, byte for byte'), async (t) => {
    const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler }), phpMemcached(handler));
    t.deepEqual((await phpJson('/hard')).errors, []);
    t.like((await koaJson('/inc')).body, { counter: 2 });
    const check = await phpJson('/check-hard?counter=2');
    t.true(check.same, `stored ${check.stored}\nwanted ${check.want}`);
  });

  test.serial(title('PHP holds the lock → Node waits; Node holds it → PHP waits; no update lost'), async (t) => {
    const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler }), phpMemcached(handler));
    const first = await phpJson('/bump');
    const lockKey = `memc.sess.key.lock.${first.id}`;
    const slowPhp = phpJson('/bump?sleep=1500');
    await until(() => exists(lockKey));
    let started = Date.now();
    t.deepEqual((await koaJson('/inc')).body, { counter: 3 }, 'Node read what PHP wrote');
    t.true(Date.now() - started >= 700, `Node waited ${Date.now() - started} ms`);
    t.is((await slowPhp).counter, 2);
    const slowNode = koaJson('/inc?sleep=1500');
    await until(() => exists(lockKey));
    started = Date.now();
    const php = await phpJson('/bump');
    t.deepEqual((await slowNode).body, { counter: 4 });
    t.deepEqual(php.errors, []);
    t.is(php.counter, 5, 'PHP read what Node wrote');
    t.true(php.ended - php.started >= 700, `PHP waited ${Math.round(php.ended - php.started)} ms`);
  });
}

test.serial('php › interop › php-memcached › PHP gives up on a lock Node holds past its retries (its session_start fails); Node\'s write stands', async (t) => {
  const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler: 'php' }), phpMemcached('php', 3));
  const first = await phpJson('/bump');
  const slowNode = koaJson('/inc?sleep=1500');
  await until(() => exists(`memc.sess.key.lock.${first.id}`));
  const php = await phpJson('/bump');
  t.is(php.sessionStarted, false);
  t.true(php.errors.some((e) => /lock|session/i.test(e)), php.errors.join('\n'));
  t.deepEqual((await slowNode).body, { counter: 2 });
  t.like((await phpJson('/show')).session, { counter: 2 });
});

test.serial('php › interop › php-memcached › a Node write whose lock PHP took over is refused; PHP\'s data stays', async (t) => {
  const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler: 'php' }), phpMemcached('php'));
  const first = await phpJson('/bump');
  const lockKey = `memc.sess.key.lock.${first.id}`;
  const slow = koaJson('/inc?sleep=600');
  await until(() => exists(lockKey));
  await command(`delete ${lockKey}`);
  await command(`add ${lockKey} 0 30 1\r\n1`); // php-memcached's lock value
  const refused = await slow;
  t.is(refused.status, 503);
  t.is(refused.body.code, 'ERR_SESSION_LOCK_LOST');
  await command(`delete ${lockKey}`);
  t.like((await phpJson('/show')).session, { counter: 1 });
});

test('php › interop › php-memcached › options: PHP\'s prefix, TTL and cookie; one server only', (t) => {
  const a = adapter(t, {});
  t.deepEqual([a.prefix, a.lifetime, a.sharedFormat?.cookieName], ['memc.sess.key.', 1440, 'PHPSESSID']);
  t.throws(() => new MemcachedAdapter({ servers: [{ host: '127.0.0.1', port: 1 }, { host: '127.0.0.1', port: 2 }], php: {} }), { code: 'ERR_SESSION_INVALID_OPTION', message: /one memcached server/ });
  t.throws(() => new MemcachedAdapter({ php: { flavor: 'phalcon' } as never }), { code: 'ERR_SESSION_INVALID_OPTION', message: /php\.flavor/ });
  t.throws(() => new MemcachedAdapter({ php: {}, prefix: '' }), { code: 'ERR_SESSION_INVALID_OPTION', message: /prefix.*cannot be empty/ });
  const several = new Client([new Server('127.0.0.1', 1), new Server('127.0.0.1', 2)], {});
  t.throws(() => new MemcachedAdapter({ memjsClient: several, php: {} }), { code: 'ERR_SESSION_INVALID_OPTION', message: /one memcached server/ });
});

test.serial('php › interop › php-memcached › the library\'s own records (a user\'s session index) live under a key PHP cannot name', async (t) => {
  const a = adapter(t, { handler: 'php' });
  const { phpJson, browser } = await sharedApps(t, a, phpMemcached('php'));
  await a.write('ksm-user-abc123', '\u0000users:{"s":[]}', 60);
  t.true(await exists('memc.sess.key.ksm:user-abc123'));
  t.false(await exists('memc.sess.key.ksm-user-abc123'));
  browser.php.jar.set('PHPSESSID', 'ksm-user-abc123');
  const shown = await phpJson('/show');
  t.deepEqual([shown.errors, shown.session], [[], []]);
  t.is(await a.read('ksm-user-abc123'), '\u0000users:{"s":[]}');
});
