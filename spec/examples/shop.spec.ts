import test from 'ava';
import { StreamAdapter } from '../../lib';
import { createShop } from '../../examples/shop/app';
import { DownAdapter } from '../helpers/doubles';
import { CsrfClient } from '../helpers/csrfClient';
import { Client, form, listen, type Listening } from '../helpers/http';
import { makeTempDir, type TempDir } from '../helpers/tmp';

// The parallel API's specs are in shop.parallel.spec.ts, the pages' and error pages' in shop.pages.spec.ts.

let dir: TempDir;
let server: Listening;

test.before(async () => {
  dir = await makeTempDir('example-shop');
  server = await listen(createShop({ adapter: new StreamAdapter({ savePath: dir.path }) }));
});

test.after.always(async () => {
  await server?.close();
  await dir?.remove();
});

const POST: RequestInit = { method: 'POST' };
const occurrences = (html: string, text: string): number => html.split(text).length - 1;
const inputValue = (html: string, name: string): string | undefined =>
  new RegExp(`<input id="wizard-${name}" name="${name}" value="([^"]*)"`).exec(html)?.[1];

async function signedIn(username: string, password: string): Promise<Client> {
  const browser = new CsrfClient(server.url);
  const response = await browser.fetch('/account/signin', form({ username, password }));
  if (response.headers.get('location') !== '/account/profile') throw new Error(`sign-in as ${username} failed`);
  return browser;
}

test('a visitor who only looks at pages without a form gets no session cookie', async (t) => {
  const browser = new Client(server.url);
  for (const path of ['/', '/api/parallel/count']) {
    t.is((await browser.fetch(path)).status, 200, path);
    t.deepEqual(browser.lastCookies, [], path);
  }
});

test('csrf › a page with a form gives a session holding only its CSRF token, stored once', async (t) => {
  for (const path of ['/cart', '/preferences', '/account/signin', '/wizard/step/1']) {
    const browser = new Client(server.url);
    const html = await browser.text(path);
    t.deepEqual(browser.lastCookies.map((c) => c.name), ['sid'], path);
    const fields = [...html.matchAll(/<form method="post"[^>]*>(<input type="hidden" name="_csrf" value="([A-Za-z0-9_-]{86})">)?/g)];
    t.true(fields.length > 0, path);
    t.true(fields.every((f) => f[2] !== undefined), `${path}: every POST form carries the token`);
    const again = await browser.text(path);
    t.deepEqual(browser.lastCookies.filter((c) => c.attributes['max-age'] !== undefined && c.value !== browser.jar.get('sid')), [], path);
    t.not(/name="_csrf" value="([^"]+)"/.exec(again)?.[1], fields[0]![2], `${path}: masked afresh`);
  }
});

test('csrf › a POST without the token, or with another session\'s, is a 403 page and changes nothing', async (t) => {
  const victim = new CsrfClient(server.url);
  await victim.fetch('/cart/add', form({ product: 'tea' }));
  const stranger = new CsrfClient(server.url);
  const foreign = await stranger.token();
  for (const init of [form({ product: 'mug' }), form({ product: 'mug', _csrf: foreign }), form({ product: 'mug', _csrf: 'x' })]) {
    const response = await new Client(server.url).fetch('/cart/add', init); // no session: nothing to compare with
    t.is(response.status, 403);
    const own = new Client(server.url);
    own.jar.set('sid', victim.jar.get('sid')!);
    const refused = await own.fetch('/cart/add', init);
    t.is(refused.status, 403);
    t.regex(await refused.text(), /<p id="error">This form has expired or was not sent from this shop\./);
  }
  const cart = await victim.text('/cart');
  t.regex(cart, /1 × Green tea/);
  t.notRegex(cart, /× Mug/);
  for (const [path, init] of [['/preferences', form({ theme: 'dark', language: 'en' })], ['/api/parallel/inc', { method: 'POST' }],
    ['/account/signout', { method: 'POST' }], ['/wizard/reset', { method: 'POST' }], ['/account/signin', form({ username: 'bob', password: 'builder' })]] as const) {
    const own = new Client(server.url);
    own.jar.set('sid', victim.jar.get('sid')!);
    t.is((await own.fetch(path, init)).status, 403, path);
  }
  t.regex(await victim.text('/cart'), /1 × Green tea/, 'the session is still there, unchanged');
});

test('guards › an anonymous visitor is sent to the sign-in form, and back after signing in', async (t) => {
  const browser = new CsrfClient(server.url);
  for (const path of ['/account/profile', '/account/admin']) {
    const response = await browser.fetch(path);
    t.is(response.status, 302);
    t.is(response.headers.get('location'), `/account/signin?next=${encodeURIComponent(path)}`);
  }
  t.regex(await browser.text('/account/signin?next=%2Faccount%2Fadmin'), /name="next" value="\/account\/admin"/);
  const response = await browser.fetch('/account/signin', form({ username: 'alice', password: 'wonderland', next: '/account/admin' }));
  t.is(response.headers.get('location'), '/account/admin');
  t.regex(await browser.text('/account/admin'), /<p id="admin">Only the role <code>admin<\/code>/);
});

test('guards › a customer sees the profile, and the admin page is a 403', async (t) => {
  const bob = await signedIn('bob', 'builder');
  const profile = await bob.text('/account/profile');
  t.regex(profile, /<dd id="profile-name">bob<\/dd>/);
  t.regex(profile, /<dd id="profile-role">customer<\/dd>/);
  t.is(occurrences(profile, 'Welcome, bob!'), 1); // the sign-in flash, once
  const admin = await bob.fetch('/account/admin');
  t.is(admin.status, 403);
  const html = await admin.text();
  t.regex(html, /<p id="error">Your account does not have the role this page needs.<\/p>/);
  t.false(/AccessDenied|\n\s+at /.test(html));
});

test('sign-in › a wrong password or an unknown user is refused with a flash, and no account', async (t) => {
  const browser = new CsrfClient(server.url);
  for (const fields of [{ username: 'alice', password: 'builder' }, { username: 'mallory', password: '' }, {}] as Array<Record<string, string>>) {
    const response = await browser.fetch('/account/signin', form(fields));
    t.is(response.headers.get('location'), '/account/signin');
    t.is(occurrences(await browser.text('/account/signin'), 'Unknown user name or wrong password.'), 1);
  }
  t.is((await browser.fetch('/account/profile')).status, 302);
});

test('sign-in › `next` is only followed to a path of this site', async (t) => {
  for (const next of ['//evil.example/', '/\\evil.example', 'https://evil.example/']) {
    const browser = new CsrfClient(server.url);
    const response = await browser.fetch('/account/signin', form({ username: 'bob', password: 'builder', next }));
    t.is(response.headers.get('location'), '/account/profile', next);
  }
});

test('wizard › inputs survive a validation error and the way back and forth between steps', async (t) => {
  const browser = new CsrfClient(server.url);
  t.is((await browser.fetch('/wizard')).headers.get('location'), '/wizard/step/1');
  t.is((await browser.fetch('/wizard/step/2')).headers.get('location'), '/wizard/step/1'); // not reached yet

  let response = await browser.fetch('/wizard/step/1', form({ name: '<b>Ann</b> "O\'Neil"', email: 'not-an-email' }));
  t.is(response.headers.get('location'), '/wizard/step/1');
  let html = await browser.text('/wizard/step/1');
  t.is(inputValue(html, 'name'), '&lt;b&gt;Ann&lt;/b&gt; &quot;O&#39;Neil&quot;');
  t.is(inputValue(html, 'email'), 'not-an-email');
  t.is(occurrences(html, 'Enter an email address like ann@example.com.'), 1);
  t.false(html.includes('<b>Ann'));
  t.is((await browser.fetch('/wizard/step/2')).headers.get('location'), '/wizard/step/1');

  response = await browser.fetch('/wizard/step/1', form({ name: 'Ann', email: 'ann@example.com' }));
  t.is(response.headers.get('location'), '/wizard/step/2');
  response = await browser.fetch('/wizard/step/2', form({ street: '1 Main St', city: 'Springfield', postcode: '!' }));
  t.is(response.headers.get('location'), '/wizard/step/2');
  html = await browser.text('/wizard/step/2');
  t.is(inputValue(html, 'street'), '1 Main St');
  t.is(inputValue(html, 'city'), 'Springfield');
  t.is(inputValue(html, 'postcode'), '!');
  t.regex(html, /A postcode has 3 to 10 letters/);

  html = await browser.text('/wizard/step/1'); // back: step 1 as accepted
  t.is(inputValue(html, 'name'), 'Ann');
  t.is(inputValue(html, 'email'), 'ann@example.com');
  t.is(inputValue(await browser.text('/wizard/step/2'), 'postcode'), '!'); // forward again: as typed

  t.is((await browser.fetch('/wizard/step/2', form({ street: '1 Main St', city: 'Springfield', postcode: 'AB1 2CD' }))).headers.get('location'), '/wizard/step/3');
  t.is((await browser.fetch('/wizard/step/3', form({ delivery: 'express', notes: 'Ring twice' }))).headers.get('location'), '/wizard/step/3');
  html = await browser.text('/wizard/step/3');
  t.regex(html, /Tick the box to confirm the order\./);
  t.regex(html, /<option selected>express<\/option>/);
  t.regex(html, /value="Ring twice"/);
  t.is((await browser.fetch('/wizard/step/3', form({ delivery: 'express', notes: 'Ring twice', confirm: 'yes' }))).headers.get('location'), '/wizard/done');
  html = await browser.text('/wizard/done');
  t.regex(html, /Thank you, Ann: your order is placed\./);
  for (const [name, value] of [['name', 'Ann'], ['city', 'Springfield'], ['postcode', 'AB1 2CD'], ['delivery', 'express']]) {
    t.regex(html, new RegExp(`<td id="summary-${name}">${value}</td>`));
  }
  t.is((await browser.fetch('/wizard')).headers.get('location'), '/wizard/done');
  await browser.fetch('/wizard/reset', POST);
  t.is((await browser.fetch('/wizard')).headers.get('location'), '/wizard/step/1');
  t.is(inputValue(await browser.text('/wizard/step/1'), 'name'), '');
});

test('wizard › an unknown step is a 404, a step that is not a number a 400, neither with details', async (t) => {
  const browser = new CsrfClient(server.url);
  for (const [path, status] of [['/wizard/step/4', 404], ['/wizard/step/0', 404], ['/wizard/step/x', 400]] as const) {
    const response = await browser.fetch(path);
    t.is(response.status, status, path);
    t.false(/Error:|\n\s+at |ParamNormalization/.test(await response.text()), path);
  }
});

test('preferences › are stored in the session and applied to every page', async (t) => {
  const browser = new CsrfClient(server.url);
  t.is((await browser.fetch('/preferences', form({ theme: 'dark', language: 'fr' }))).headers.get('location'), '/preferences');
  const html = await browser.text('/preferences');
  t.regex(html, /<b id="theme">dark<\/b>, language <b id="language">fr<\/b>/);
  t.regex(html, /Your preferences are saved\./);
  const cart = await browser.text('/cart');
  t.regex(cart, /<html lang="fr">/);
  t.regex(cart, /<body class="dark">/);
  t.regex(cart, /<a href="\/">Bienvenue<\/a>/);

  await browser.fetch('/preferences', form({ theme: 'neon', language: 'fr' }));
  const refused = await browser.text('/preferences');
  t.regex(refused, /Choose a theme and a language from the lists\./);
  t.regex(refused, /<b id="theme">dark<\/b>/);
});

test('cart › adds, removes and empties, with a flash once after each redirect', async (t) => {
  const browser = new CsrfClient(server.url);
  t.is((await browser.fetch('/cart/add', form({ product: 'tea', quantity: '2' }))).headers.get('location'), '/cart');
  await browser.fetch('/cart/add', form({ product: 'mug' }));
  let html = await browser.text('/cart');
  t.regex(html, /2 × Green tea/);
  t.regex(html, /<th id="cart-total">€18.90<\/th>/);
  t.is(occurrences(html, 'Added 1 × Mug to your cart.'), 1);
  t.is(occurrences(await browser.text('/cart'), 'Added'), 0);
  await browser.fetch('/cart/add', form({ product: 'caviar' }));
  t.regex(await browser.text('/cart'), /There is no such product\./);
  await browser.fetch('/cart/remove', form({ product: 'tea' }));
  html = await browser.text('/cart');
  t.notRegex(html, /\d+ × Green tea/);
  t.regex(html, /Removed Green tea from your cart\./);
  await browser.fetch('/cart/clear', POST);
  t.regex(await browser.text('/cart'), /<p id="cart-empty">Your cart is empty.<\/p>/);
});

test('errors › a store failure is a 503 page without details; unknown pages and big forms too', async (t) => {
  const failing = createShop({ adapter: new DownAdapter() });
  failing.silent = true;
  const down = await listen(failing);
  t.teardown(() => down.close());
  const browser = new Client(down.url);
  // A well-formed CSRF token (no session can be read to compare it with): the check reads the session.
  const token = 'A'.repeat(86);
  const fails: Array<[string, RequestInit?]> = [
    ['/cart/add', form({ product: 'tea', _csrf: token })], ['/preferences', form({ theme: 'dark', language: 'en', _csrf: token })], // at start: @CsrfProtected(), sessionPolicy()
    ['/cart'], ['/'], ['/account/profile'], // at start: a decorator, sessionPolicy(), the authorization check
  ];
  for (const [path, init] of fails) {
    browser.jar.set('sid', 'a'.repeat(32));
    const response = await browser.fetch(path, init);
    t.is(response.status, 503, path);
    const html = await response.text();
    t.regex(html, /The session store is unavailable/);
    t.false(/ECONNREFUSED|127\.0\.0\.1:1|\n\s+at /.test(html));
  }
  const shop = new Client(server.url);
  t.is((await shop.fetch('/', POST)).status, 405);
  const missing = await shop.fetch('/nowhere');
  t.is(missing.status, 404);
  t.regex(await missing.text(), /There is no page here\./);
  const big = await shop.fetch('/cart/add', form({ product: 'x'.repeat(11 * 1024) }));
  t.is(big.status, 413);
  t.regex(await big.text(), /The form is too large\./);
});

test('devices › the profile lists where the account is signed in; "sign out other devices" and "sign out everywhere" end them', async (t) => {
  // A shop of its own: the other specs sign in as bob too.
  const own = await makeTempDir('example-shop-devices');
  const shop = await listen(createShop({ adapter: new StreamAdapter({ savePath: own.path }) }));
  t.teardown(async () => { await shop.close(); await own.remove(); });
  const signedIn = async (username: string, password: string) => {
    const browser = new CsrfClient(shop.url);
    const response = await browser.fetch('/account/signin', form({ username, password }));
    if (response.headers.get('location') !== '/account/profile') throw new Error(`sign-in as ${username} failed`);
    return browser;
  };
  const laptop = await signedIn('bob', 'builder');
  const phone = await signedIn('bob', 'builder');
  const profile = await laptop.text('/account/profile');
  t.is(occurrences(/<table id="devices">[\s\S]*?<\/table>/.exec(profile)![0], '<tr><td>'), 2, 'two devices listed');
  t.is(occurrences(profile, 'this one'), 1);
  for (const browser of [laptop, phone]) t.false(profile.includes(browser.jar.get('sid')!), 'no session id on the page');

  const others = await phone.fetch('/account/signout-others', POST);
  t.is(others.headers.get('location'), '/account/profile');
  t.regex(await phone.text('/account/profile'), /Signed out of 1 other device\./);
  t.is((await laptop.fetch('/account/profile')).status, 302, 'the laptop is signed out');

  const tablet = await signedIn('bob', 'builder');
  t.is((await tablet.fetch('/account/signout-everywhere', POST)).headers.get('location'), '/');
  for (const browser of [phone, tablet]) t.is((await browser.fetch('/account/profile')).status, 302);
});
