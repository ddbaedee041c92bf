import test from 'ava';
import { resolve } from 'node:path';
import { createApp, sharedStore } from '../../examples/php/app';
import { listen } from '../helpers/http';
import { sharedJar, startPhp } from '../helpers/phpServer';
import { useRedis } from '../helpers/redisServer';

// examples/php as its README runs it: PHP's Redis session handler in php -S, the Koa half on the same Redis.
const redis = useRedis(test);
const PUBLIC = resolve(__dirname, '..', '..', '..', 'examples', 'php', 'public');

test('examples › php › PHP signs in, Koa sees the user and fills the basket, PHP shows it; PHP signs out, Koa sees nobody', async (t) => {
  const php = await startPhp(t, {
    'session.save_handler': 'redis',
    'session.save_path': `tcp://127.0.0.1:${redis().port}`,
    'redis.session.locking_enabled': 1,
  }, {}, { root: PUBLIC, router: 'index.php' });
  const store = sharedStore(redis().url);
  t.teardown(() => store.close());
  const app = createApp(store);
  const koa = await listen(app);
  t.teardown(koa.close);
  const browser = sharedJar(php.url, koa.url);
  t.regex(await browser.php.text('/?login=ada'), /<b id="user">ada<\/b>/);
  t.deepEqual(await browser.koa.json('/api/me'), { user: 'ada', basket: [] });
  t.deepEqual(await browser.koa.json('/api/basket?item=book', { method: 'POST' }), { user: 'ada', basket: ['book'] });
  const page = await browser.php.text('/');
  t.regex(page, /<span id="basket">book<\/span>/);
  const stored = (await redis().cli('GET', `PHPREDIS_SESSION:${browser.php.jar.get('PHPSESSID')}`)).trim();
  t.regex(stored, /since\|d:3;/, 'PHP\'s float is still a float after Koa wrote the session');
  await browser.php.text('/?logout=1');
  t.deepEqual(await browser.koa.json('/api/me'), { user: null, basket: [] });
});
