import test, { type ExecutionContext } from 'ava';
import { Cluster, Redis } from 'ioredis';
import { JsonSerializer } from '../../lib/serializers/JsonSerializer';
import { session } from '../../lib/koa/middleware';
import { RedisAdapter, type RedisAdapterOptions } from '../../lib/redis/RedisAdapter';
import { encoded, koaApp, sharedApps, until } from '../helpers/phpInterop';
import { useRedis } from '../helpers/redisServer';

/**
 * Sessions shared with a real PHP 8.2 app (`php -S` with phpredis' session handler, on a private
 * redis-server): the `php` mode of the RedisAdapter, both serialize handlers, both lock directions.
 * Phalcon 5's Redis adapter is not a Debian package: its protocol is replayed from its source
 * (fixtures/www/phalcon.php, PHALCON.md §5.4).
 */

const redis = useRedis(test);
const cli = async (...args: string[]) => (await redis().cli(...args)).trim();

/** phpredis sessions on the spec's Redis with locking on; PHP waits up to 4 s for a lock. */
const phpredis = (handler: string): Record<string, string | number> => ({
  'session.save_handler': 'redis',
  'session.save_path': `tcp://127.0.0.1:${redis().port}`,
  'session.serialize_handler': handler,
  'redis.session.locking_enabled': 1,
  'redis.session.lock_retries': 200,
  'redis.session.lock_wait_time': 20000,
  'redis.session.lock_expire': 30,
});

function adapter(t: ExecutionContext, php: NonNullable<RedisAdapterOptions['php']>, options: RedisAdapterOptions = {}): RedisAdapter {
  const a = new RedisAdapter({ port: redis().port, php, ...options });
  t.teardown(() => a.close());
  return a;
}

for (const handler of ['php', 'php_serialize'] as const) {
  const title = (what: string) => `php › interop › phpredis, ${handler} handler › ${what}`;

  test.serial(title('PHP signs in → Koa sees the user; Koa changes the cart → PHP sees it; PHP\'s float stays a float; TTL and cookie as PHP\'s'), async (t) => {
    const { phpJson, koaJson, browser } = await sharedApps(t, adapter(t, { handler }), phpredis(handler));
    const signedIn = await phpJson('/signin?user=ada');
    t.deepEqual(signedIn.errors, []);
    t.deepEqual([...browser.php.jar.keys()], ['PHPSESSID']);
    const seen = await koaJson('/whoami');
    t.deepEqual(seen.body, { id: signedIn.id, user: 'ada', since: 3, counter: null });
    t.deepEqual((await koaJson('/cart?item=book')).body, { cart: ['book'] });
    t.deepEqual([...browser.koa.jar], [['PHPSESSID', signedIn.id]], 'Koa keeps the id under PHP\'s cookie name, unsigned');
    const shown = await phpJson('/show');
    t.deepEqual(shown.errors, []);
    t.is(shown.id, signedIn.id);
    t.like(shown.session, { user: 'ada', cart: ['book'] });
    t.true(encoded(shown).includes('d:3;'), `since is still the float 3.0: ${encoded(shown)}`);
    const ttl = Number(await cli('TTL', `PHPREDIS_SESSION:${signedIn.id}`));
    t.true(ttl > 1430 && ttl <= 1440, `TTL ${ttl}, PHP's gc_maxlifetime 1440`);
  });

  test.serial(title('a strict round trip PHP → Node → PHP of the hard data set: only the counter changed, byte for byte; an unchanged read refreshes the TTL and writes nothing'), async (t) => {
    const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler }), phpredis(handler));
    const stored = await phpJson('/hard');
    t.deepEqual(stored.errors, []);
    const key = `PHPREDIS_SESSION:${stored.id}`;
    t.like((await koaJson('/inc')).body, { counter: 2 });
    const check = await phpJson('/check-hard?counter=2');
    t.true(check.same, `stored ${check.stored}\nwanted ${check.want}`);
    await cli('EXPIRE', key, '100');
    const before = await cli('GET', key);
    t.like((await koaJson('/whoami')).body, { counter: 2 });
    t.is(await cli('GET', key), before, 'an unchanged session keeps its bytes (that nothing is written: spec/php/PhpSerializer.spec.ts)');
    t.true(Number(await cli('TTL', key)) > 1430, 'an unchanged session is refreshed by EXPIRE, as PHP does');
  });

  test.serial(title('PHP holds the lock → Node waits for it and no update is lost'), async (t) => {
    const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler }), phpredis(handler));
    const first = await phpJson('/bump');
    const lockKey = `PHPREDIS_SESSION:${first.id}_LOCK`;
    const slow = phpJson('/bump?sleep=1500');
    await until(async () => (await cli('EXISTS', lockKey)) === '1');
    const started = Date.now();
    const node = await koaJson('/inc');
    const php = await slow;
    t.deepEqual(php.errors, []);
    t.is(php.counter, 2);
    t.deepEqual(node.body, { counter: 3 }, 'Node read what PHP wrote');
    t.true(Date.now() - started >= 700, `Node waited ${Date.now() - started} ms for PHP's lock`);
    t.true(node.status === 200 && Date.now() - started < 5000);
    t.like((await phpJson('/show')).session, { counter: 3 });
  });

  test.serial(title('Node holds the lock → PHP waits for it and reads what Node wrote'), async (t) => {
    const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler }), phpredis(handler));
    const first = await phpJson('/bump');
    const slow = koaJson('/inc?sleep=1500');
    await until(async () => (await cli('EXISTS', `PHPREDIS_SESSION:${first.id}_LOCK`)) === '1');
    const php = await phpJson('/bump');
    t.deepEqual((await slow).body, { counter: 2 });
    t.deepEqual(php.errors, []);
    t.is(php.counter, 3, 'PHP read what Node wrote');
    t.true(php.ended - php.started >= 700, `PHP waited ${Math.round(php.ended - php.started)} ms for Node's lock`);
  });

  test.serial(title('the same overlap with Node\'s locking off loses PHP\'s update: the lock specs above can fail'), async (t) => {
    const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler }, { lockingEnabled: false }), phpredis(handler));
    const first = await phpJson('/bump');
    const slow = phpJson('/bump?sleep=800');
    await until(async () => (await cli('EXISTS', `PHPREDIS_SESSION:${first.id}_LOCK`)) === '1');
    t.deepEqual((await koaJson('/inc')).body, { counter: 2 }, 'Node did not wait');
    t.is((await slow).counter, 2);
    t.like((await phpJson('/show')).session, { counter: 2 }, 'one of the two increments is lost');
  });

  test.serial(title('a Node write whose lock PHP took over is refused, and PHP\'s data stays'), async (t) => {
    const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler }), phpredis(handler));
    const first = await phpJson('/bump');
    const lockKey = `PHPREDIS_SESSION:${first.id}_LOCK`;
    const slow = koaJson('/inc?sleep=600');
    await until(async () => (await cli('EXISTS', lockKey)) === '1');
    await cli('SET', lockKey, 'php-host|4242'); // as if Node's lock expired and PHP took it
    const refused = await slow;
    t.is(refused.status, 503);
    t.is(refused.body.code, 'ERR_SESSION_LOCK_LOST');
    t.is(await cli('GET', lockKey), 'php-host|4242', 'Node left PHP\'s lock alone');
    await cli('DEL', lockKey);
    t.like((await phpJson('/show')).session, { counter: 1 });
  });

  test.serial(title('keys and values PHP cannot store are refused at set(), with a code; nothing is written'), async (t) => {
    const { phpJson, koaJson } = await sharedApps(t, adapter(t, { handler }), phpredis(handler));
    await phpJson('/signin?user=ada');
    const pipe = await koaJson(`/set?key=${encodeURIComponent('a|b')}&value=1`);
    const numeric = await koaJson('/set?key=5&value=1');
    const date = await koaJson('/set-date');
    t.is(date.status, 500);
    t.is(date.body.code, 'ERR_SESSION_INVALID_VALUE');
    t.regex(String(date.body.message), /Date/);
    if (handler === 'php') {
      for (const refused of [pipe, numeric]) {
        t.is(refused.status, 500);
        t.is(refused.body.code, 'ERR_SESSION_INVALID_VALUE');
      }
      t.regex(String(pipe.body.message), /"\|"/);
      t.regex(String(numeric.body.message), /numeric/);
      t.deepEqual(Object.keys((await phpJson('/show')).session!).sort(), ['since', 'user']);
    } else {
      // php_serialize stores both, as PHP does ($_SESSION[5], $_SESSION['a|b']).
      t.is(pipe.status, 200);
      t.is(numeric.status, 200);
      t.like((await phpJson('/show')).session, { 5: 1, 'a|b': 1, user: 'ada' });
    }
  });

  test.serial(title('Node signs in (new id): PHP reads the user with the new cookie; the old id is no session for PHP; PHP\'s logout ends it for Node'), async (t) => {
    const { phpJson, koaJson, browser } = await sharedApps(t, adapter(t, { handler }), phpredis(handler));
    const before = await phpJson('/bump');
    const signedIn = await koaJson('/signin?user=grace');
    t.not(signedIn.body.id, before.id);
    const shown = await phpJson('/show');
    t.is(shown.id, signedIn.body.id as string);
    t.like(shown.session, { user: 'grace', counter: 1 });
    // A tab still holding the old cookie, within the minute Node's move marker lives: PHP cannot
    // decode it, says so once, and removes it; the old id never carries the signed-in user.
    browser.php.jar.set('PHPSESSID', before.id);
    const old = await phpJson('/show');
    t.is(old.sessionStarted, false);
    t.deepEqual(old.errors, ['session_start(): Failed to decode session object. Session has been destroyed']);
    t.is(await cli('EXISTS', `PHPREDIS_SESSION:${before.id}`), '0');
    const fresh = await phpJson('/show');
    t.deepEqual([fresh.errors, fresh.session], [[], []], 'a fresh, empty session (an empty PHP array)');
    browser.php.jar.set('PHPSESSID', signedIn.body.id as string);
    t.deepEqual((await phpJson('/logout')).errors, []);
    t.like((await koaJson('/whoami')).body, { user: null });
  });
}

test.serial('php › interop › options › session() takes PHPSESSID and PHP\'s format from the adapter; another serializer and the absolute lifetime are refused', async (t) => {
  const a = adapter(t, { handler: 'php' });
  t.is(a.sharedFormat?.cookieName, 'PHPSESSID');
  t.is(a.prefix, 'PHPREDIS_SESSION:');
  t.is(a.lifetime, 1440);
  t.throws(() => session({ adapter: a, serializer: new JsonSerializer() }), { code: 'ERR_SESSION_INVALID_OPTION', message: /serializer.*PHP app/ });
  t.throws(() => session({ adapter: a, absoluteLifetime: 600 }), { code: 'ERR_SESSION_INVALID_OPTION', message: /absoluteLifetime.*creation time/ });
  t.throws(() => new RedisAdapter({ php: { handler: 'igbinary' as 'php' } }), { code: 'ERR_SESSION_INVALID_OPTION', message: /handler/ });
  t.throws(() => new RedisAdapter({ php: { flavor: 'predis' as 'phpredis' } }), { code: 'ERR_SESSION_INVALID_OPTION', message: /php\.flavor/ });
  t.throws(() => new RedisAdapter({ php: { serializeHandler: 'php' } as never }), { code: 'ERR_SESSION_INVALID_OPTION', message: /use `handler`/ });
  const phalcon = adapter(t, { flavor: 'phalcon', name: 'PHALCONSESS' });
  t.deepEqual([phalcon.prefix, phalcon.lifetime, phalcon.sharedFormat?.cookieName], ['sess-reds-', 3600, 'PHALCONSESS']);
  t.is(adapter(t, { handler: 'php' }, { prefix: 'myapp_sess:', index: 3, lifetime: 600 }).prefix, 'myapp_sess:');
  t.throws(() => new RedisAdapter({ php: {}, prefix: '' }), { code: 'ERR_SESSION_INVALID_OPTION', message: /prefix.*cannot be empty/ });
  const prefixed = new Redis({ port: redis().port, keyPrefix: 'app:', lazyConnect: true });
  t.teardown(() => prefixed.disconnect());
  t.throws(() => new RedisAdapter({ client: prefixed, php: {} }), { code: 'ERR_SESSION_INVALID_OPTION', message: /keyPrefix/ });
});

// Phalcon 5's Session\Adapter\Redis, replayed from its source (fixtures/www/phalcon.php).
const phalcon = (locking: boolean) => [{ 'session.serialize_handler': 'php' }, { KSM_PHALCON: `${redis().port}:${locking ? 1 : 0}` }] as const;

test.serial('php › interop › Phalcon › Phalcon signs in → Koa sees the user; Koa changes the cart → Phalcon sees it; the envelope and TTL are Phalcon\'s', async (t) => {
  const { phpJson, koaJson } = await sharedApps(t, adapter(t, { flavor: 'phalcon' }), ...phalcon(false));
  const signedIn = await phpJson('/signin?user=ada');
  t.deepEqual(signedIn.errors, []);
  t.like((await koaJson('/whoami')).body, { user: 'ada', since: 3 });
  t.deepEqual((await koaJson('/cart?item=book')).body, { cart: ['book'] });
  t.like((await phpJson('/show')).session, { user: 'ada', cart: ['book'] });
  const stored = await cli('GET', `sess-reds-${signedIn.id}`);
  t.regex(stored, /^s:\d+:"user\|s:3:"ada";since\|d:3;cart\|a:1:\{i:0;s:4:"book";\}";$/);
  const ttl = Number(await cli('TTL', `sess-reds-${signedIn.id}`));
  t.true(ttl > 3590 && ttl <= 3600, `TTL ${ttl}`);
});

test.serial('php › interop › Phalcon › locks both ways on sess-reds-<id>-lock: each side waits for the other, no update lost', async (t) => {
  const { phpJson, koaJson } = await sharedApps(t, adapter(t, { flavor: 'phalcon' }), ...phalcon(true));
  const first = await phpJson('/bump');
  const lockKey = `sess-reds-${first.id}-lock`;
  const slowPhp = phpJson('/bump?sleep=1500');
  await until(async () => (await cli('EXISTS', lockKey)) === '1');
  let started = Date.now();
  t.deepEqual((await koaJson('/inc')).body, { counter: 3 });
  t.true(Date.now() - started >= 700, `Node waited ${Date.now() - started} ms`);
  t.is((await slowPhp).counter, 2);
  const slowNode = koaJson('/inc?sleep=1500');
  await until(async () => (await cli('EXISTS', lockKey)) === '1');
  started = Date.now();
  const php = await phpJson('/bump');
  t.deepEqual((await slowNode).body, { counter: 4 });
  t.is(php.counter, 5, 'Phalcon read what Node wrote');
  t.true(php.ended - php.started >= 700, `Phalcon waited ${Math.round(php.ended - php.started)} ms`);
});

test.serial('php › interop › Phalcon › a cookie naming a lock key (<id>-lock) gets a fresh session and leaves the lock alone', async (t) => {
  const url = await koaApp(t, adapter(t, { flavor: 'phalcon' }));
  const victim = 'a'.repeat(26);
  await cli('SET', `sess-reds-${victim}-lock`, 'token-of-a-php-request', 'EX', '30');
  const response = await fetch(`${url}/cart?item=x`, { headers: { cookie: `PHPSESSID=${victim}-lock` } });
  t.is(response.status, 200);
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('PHPSESSID='));
  t.truthy(cookie);
  t.false(cookie!.includes(`${victim}-lock`), 'a new id');
  t.is(await cli('GET', `sess-reds-${victim}-lock`), 'token-of-a-php-request');
  t.true(Number(await cli('TTL', `sess-reds-${victim}-lock`)) <= 30, 'Phalcon\'s lock keeps its expiry: Node never read it as a session (a read refreshes the TTL)');
  t.is(await cli('EXISTS', `sess-reds-${victim}-lock-lock`), '0');
});

test.serial('php › interop › the library\'s own records (a user\'s session index) live under a key PHP cannot name, so PHP never reads or destroys them', async (t) => {
  const a = adapter(t, { handler: 'php' });
  const { phpJson, browser } = await sharedApps(t, a, phpredis('php'));
  await a.write('ksm-user-abc123', '\u0000users:{"s":[]}', 60);
  t.is(await cli('EXISTS', 'PHPREDIS_SESSION:ksm:user-abc123'), '1');
  t.is(await cli('EXISTS', 'PHPREDIS_SESSION:ksm-user-abc123'), '0');
  browser.php.jar.set('PHPSESSID', 'ksm-user-abc123');
  const shown = await phpJson('/show');
  t.deepEqual([shown.errors, shown.session], [[], []], 'PHP found no session under that id');
  t.is(await a.read('ksm-user-abc123'), '\u0000users:{"s":[]}');
});

test.serial('php › interop › phpredis save_path with ?database=3&prefix=…: the adapter\'s index and prefix meet PHP there', async (t) => {
  const a = adapter(t, { handler: 'php' }, { index: 3, prefix: 'myapp_sess:' });
  const ini = { ...phpredis('php'), 'session.save_path': `"tcp://127.0.0.1:${redis().port}?database=3&prefix=myapp_sess:"` }; // quoted for the ini parser
  const { phpJson, koaJson } = await sharedApps(t, a, ini);
  const signedIn = await phpJson('/signin?user=ada');
  t.like((await koaJson('/whoami')).body, { user: 'ada' });
  await koaJson('/cart?item=pen');
  t.like((await phpJson('/show')).session, { cart: ['pen'] });
  t.is(await cli('-n', '3', 'EXISTS', `myapp_sess:${signedIn.id}`), '1');
  t.is(await cli('EXISTS', `myapp_sess:${signedIn.id}`), '0', 'not in database 0');
});

test('php › interop › options › a Redis Cluster is refused in the php mode (PHP\'s keys carry no hash tag)', (t) => {
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
  t.teardown(() => cluster.disconnect());
  t.throws(() => new RedisAdapter({ client: cluster, php: {} }), { code: 'ERR_SESSION_INVALID_OPTION', message: /Cluster/ });
});
