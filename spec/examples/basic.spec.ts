import test from 'ava';
import { StreamAdapter } from '../../lib';
import { createApp } from '../../examples/basic/app';
import { DownAdapter } from '../helpers/doubles';
import { Client, form, listen, type Listening } from '../helpers/http';
import { makeTempDir, type TempDir } from '../helpers/tmp';

let dir: TempDir;
let server: Listening;

test.before(async () => {
  dir = await makeTempDir('example-basic');
  server = await listen(createApp({ adapter: new StreamAdapter({ savePath: dir.path }) }));
});

test.after.always(async () => {
  await server?.close();
  await dir?.remove();
});

const visits = (html: string): number => Number(/Visits in this session: <b>(\d+)<\/b>/.exec(html)?.[1]);
const occurrences = (html: string, text: string): number => html.split(text).length - 1;

async function signedIn(name: string): Promise<Client> {
  const browser = new Client(server.url);
  await browser.fetch('/login', form({ username: name }));
  return browser;
}

test('home › counts visits across requests with the session cookie', async (t) => {
  const browser = new Client(server.url);
  t.is(visits(await browser.text('/')), 1);
  t.truthy(browser.jar.get('sid'));
  t.is(visits(await browser.text('/')), 2);
  t.is(visits(await browser.text('/')), 3);
  t.is(visits(await new Client(server.url).text('/')), 1);
});

test('login › gives the session a new id, keeps its data, and the old cookie is not signed in', async (t) => {
  const browser = new Client(server.url);
  await browser.text('/');
  const oldId = browser.jar.get('sid')!;
  const response = await browser.fetch('/login', form({ username: 'ann' }));
  t.is(response.status, 302);
  t.is(response.headers.get('location'), '/');
  t.truthy(browser.jar.get('sid'));
  t.not(browser.jar.get('sid'), oldId);
  const home = await browser.text('/');
  t.regex(home, /Signed in as <b>ann<\/b>/);
  t.is(visits(home), 2);

  const stale = new Client(server.url);
  stale.jar.set('sid', oldId);
  const staleHome = await stale.text('/');
  t.regex(staleHome, /Not signed in/);
  t.is(visits(staleHome), 1);
  // Within a minute of the sign-in the old id is a marker: a throwaway session, no cookie.
  t.deepEqual(stale.lastCookies, []);
});

test('login › the welcome flash shows exactly once, after the redirect', async (t) => {
  const browser = await signedIn('bob');
  t.is(occurrences(await browser.text('/'), '<div class="successMessage">Welcome, bob</div>'), 1);
  t.is(occurrences(await browser.text('/'), 'Welcome'), 0);
});

test('login › escapes the user name everywhere', async (t) => {
  const browser = await signedIn('<img src=x onerror=alert(1)>');
  const html = await browser.text('/');
  t.false(html.includes('<img'));
  t.is(occurrences(html, '&lt;img src=x onerror=alert(1)&gt;'), 3); // flash, nav, body
});

test('login › an empty name is refused with a flash on the form', async (t) => {
  const browser = new Client(server.url);
  const response = await browser.fetch('/login', form({ username: '  ' }));
  t.is(response.headers.get('location'), '/login');
  t.regex(await browser.text('/login'), /<div class="errorMessage">A username has 1 to 40 characters.<\/div>/);
  t.regex(await browser.text('/'), /Not signed in/);
});

test('cart › keeps its items across requests', async (t) => {
  const browser = new Client(server.url);
  for (const item of ['apple', 'pear', 'apple']) t.is((await browser.fetch('/cart/add', form({ item }))).status, 302);
  for (let i = 0; i < 2; i++) {
    const html = await browser.text('/cart');
    t.regex(html, /3 item\(s\), 2 kind\(s\)/);
    t.regex(html, /<li>apple × 2<\/li>\n<li>pear × 1<\/li>/);
  }
  await browser.fetch('/cart/clear', { method: 'POST' });
  const html = await browser.text('/cart');
  t.regex(html, /0 item\(s\), 0 kind\(s\)/);
  t.regex(html, /The cart is empty\./);
});

test('logout › expires the cookie, and the user and the cart are gone', async (t) => {
  const browser = await signedIn('carol');
  await browser.fetch('/cart/add', form({ item: 'tea' }));
  const id = browser.jar.get('sid')!;
  const response = await browser.fetch('/logout', { method: 'POST' });
  t.is(response.status, 302);
  const cookie = browser.lastCookies.find((c) => c.name === 'sid');
  t.is(cookie?.value, '');
  t.is(cookie?.attributes['max-age'], '0');
  t.false(browser.jar.has('sid'));

  const stale = new Client(server.url);
  stale.jar.set('sid', id);
  t.regex(await stale.text('/cart'), /0 item\(s\)/);
  t.regex(await stale.text('/'), /Not signed in/);
});

async function parallelIncrements(browser: Client): Promise<{ before: number; after: number; seen: number[] }> {
  await browser.fetch('/parallel');
  const { counter: before } = await browser.json<{ counter: number }>('/api/count');
  const responses = await Promise.all(Array.from({ length: 10 }, () => browser.fetch('/api/inc', { method: 'POST' })));
  const seen = await Promise.all(responses.map(async (r) => (await r.json() as { counter: number }).counter));
  const { counter: after } = await browser.json<{ counter: number }>('/api/count');
  return { before, after, seen: seen.sort((a, b) => a - b) };
}

test('parallel › 10 parallel increments of one session end at exactly +10', async (t) => {
  const browser = new Client(server.url);
  const { before, after, seen } = await parallelIncrements(browser);
  t.is(before, 0);
  t.is(after, 10);
  t.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.is((await parallelIncrements(browser)).after, 20);
});

test('parallel › without locking the same requests lose increments (the race the lock prevents)', async (t) => {
  const unlocked = await listen(createApp({ adapter: new StreamAdapter({ savePath: dir.path }), locking: false }));
  t.teardown(() => unlocked.close());
  const { after } = await parallelIncrements(new Client(unlocked.url));
  t.true(after < 10, `after ${after}`);
});

test('parallel › the page holds the script that runs the increments', async (t) => {
  const html = await new Client(server.url).text('/parallel');
  const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? '';
  t.true(script.includes("Array.from({ length: 10 }, () => fetch('/api/inc', { method: 'POST' }))"));
  t.true(script.includes("fetch('/api/count')"));
  t.true(script.includes('none lost'));
});

test('errors › a store failure is a 503 page without details', async (t) => {
  const app = createApp({ adapter: new DownAdapter() });
  app.silent = true;
  const failing = await listen(app);
  t.teardown(() => failing.close());
  const browser = new Client(failing.url);
  for (const sid of [undefined, 'a'.repeat(32)]) { // fails on commit, then on start
    if (sid) browser.jar.set('sid', sid);
    const response = await browser.fetch('/');
    const html = await response.text();
    t.is(response.status, 503);
    t.regex(html, /The session store is unavailable/);
    t.false(/ECONNREFUSED|127\.0\.0\.1:1|\n\s+at /.test(html));
  }
});

test('errors › an oversized form is a 413, an unknown page a 404', async (t) => {
  const browser = new Client(server.url);
  const big = await browser.fetch('/cart/add', form({ item: 'x'.repeat(11 * 1024) }));
  t.is(big.status, 413);
  t.regex(await big.text(), /The form is larger than 10 kB/);
  const missing = await browser.fetch('/nowhere');
  t.is(missing.status, 404);
  t.regex(await missing.text(), /There is no page here/);
});
