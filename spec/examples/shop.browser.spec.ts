import test from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import { StreamAdapter } from '../../lib';
import { createShop } from '../../examples/shop/app';
import { WRITES } from '../../examples/shop/routes/parallel';
import { HeadlessBrowser } from '../helpers/browser';
import { listen, parseSetCookie, type Listening } from '../helpers/http';
import { makeTempDir, type TempDir } from '../helpers/tmp';

// The page's globals used in page.evaluate() callbacks (the project compiles without the DOM lib).
declare const document: { cookie: string; getElementById(id: string): { dataset: Record<string, string | undefined> } | null };

let dir: TempDir;
let server: Listening;
let browser: HeadlessBrowser;

test.before(async () => {
  dir = await makeTempDir('example-shop-browser');
  server = await listen(createShop({ adapter: new StreamAdapter({ savePath: dir.path }), locking: true }));
  browser = await HeadlessBrowser.launch();
});

test.after.always(async () => {
  await browser?.close();
  await server?.close();
  await dir?.remove();
});

async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
  return (await context.cookies(server.url)).find((c) => c.name === 'sid')?.value;
}

/** Add `quantity` of a product on the cart page and wait for the page after the redirect. */
async function addToCart(page: Page, product: string, quantity = 1): Promise<void> {
  await page.goto('/cart');
  const row = page.locator('form', { has: page.locator(`#add-${product}`) });
  await row.locator('input[name="quantity"]').fill(String(quantity));
  await row.locator('button').click();
  await page.locator('#flash .successMessage', { hasText: 'to your cart' }).waitFor(); // on the page after the redirect
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/account/signin');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL('**/account/profile'), page.click('form[action="/account/signin"] button')]);
  await page.locator('#profile-name', { hasText: username }).waitFor();
}

test('sign-in changes the session cookie, and the old value signs nobody in', async (t) => {
  const context = await browser.context(t, server.url);
  const page = await context.newPage();
  await addToCart(page, 'tea');
  const before = await sessionCookie(context);
  t.truthy(before);

  await signIn(page, 'alice', 'wonderland');
  const after = await sessionCookie(context);
  t.truthy(after);
  t.not(after, before);
  t.is(await page.locator('#cart-count').textContent(), '1'); // the data moved to the new id

  const stale = await browser.context(t, server.url);
  await stale.addCookies([{ name: 'sid', value: before!, url: server.url }]);
  const stalePage = await stale.newPage();
  await stalePage.goto('/account/profile');
  t.is(new URL(stalePage.url()).pathname, '/account/signin');
  await stalePage.locator('form[action="/account/signin"]').waitFor();
  t.is(await stalePage.locator('#profile-name').count(), 0);
  t.is(await stalePage.locator('#cart-count').textContent(), '0');

  // The same check with the new value does sign in: the test can tell the two apart.
  const current = await browser.context(t, server.url);
  await current.addCookies([{ name: 'sid', value: after!, url: server.url }]);
  const currentPage = await current.newPage();
  await currentPage.goto('/account/profile');
  t.is(await currentPage.locator('#profile-name').textContent(), 'alice');
});

test('the session cookie is HttpOnly, SameSite=Lax, Path=/, and page JavaScript cannot read it', async (t) => {
  const context = await browser.context(t, server.url);
  const page = await context.newPage();
  const shown = await page.goto('/cart');
  const response = page.waitForResponse((r) => r.url().endsWith('/cart/add') && r.request().method() === 'POST');
  await page.locator('form', { has: page.locator('#add-mug') }).locator('button').click();
  t.is((await response).status(), 302);
  // The cookie is sent once, by the first response that stores the session (the form's CSRF
  // token on the cart page, else the add), then spared while it is fresh (the cookie rule).
  const header = (await shown?.headerValue('set-cookie')) ?? await (await response).headerValue('set-cookie');
  const cookie = parseSetCookie(header ?? '');
  t.is(cookie.name, 'sid');
  t.regex(cookie.value, /^[a-zA-Z0-9,-]{32}$/);
  t.is(cookie.attributes.httponly, true);
  t.is(cookie.attributes.samesite, 'Lax');
  t.is(cookie.attributes.path, '/');
  t.like((await context.cookies(server.url)).find((c) => c.name === 'sid'), { httpOnly: true, sameSite: 'Lax', path: '/' });

  await page.locator('#flash .successMessage').waitFor();
  // A cookie the page may read shows up; the session cookie does not.
  const visible = await page.evaluate(() => {
    document.cookie = 'probe=1; path=/';
    return document.cookie;
  });
  t.true(visible.includes('probe=1'));
  t.false(visible.includes('sid='));
  t.false(visible.includes(cookie.value));
});

test('a flash message appears exactly once, after the redirect that follows it', async (t) => {
  const context = await browser.context(t, server.url);
  const page = await context.newPage();
  await page.goto('/preferences');
  await page.selectOption('select[name="theme"]', 'dark');
  await page.selectOption('select[name="language"]', 'de');
  const post = page.waitForResponse((r) => r.url().endsWith('/preferences') && r.request().method() === 'POST');
  await page.click('form[action="/preferences"] button');
  t.is((await post).status(), 302);
  const flash = page.locator('#flash .successMessage');
  await flash.waitFor();
  t.is(await flash.count(), 1);
  t.is(await flash.textContent(), 'Your preferences are saved.');
  t.is((await page.content()).split('Your preferences are saved.').length - 1, 1);
  t.is(await page.locator('body').getAttribute('class'), 'dark');

  await page.reload();
  await page.locator('#theme', { hasText: 'dark' }).waitFor();
  t.is(await page.locator('#flash > *').count(), 0);
  t.false((await page.content()).includes('Your preferences are saved.'));
  t.is(await page.locator('#language').textContent(), 'de'); // the preference stays, the flash went
});

test('the cart survives navigation; sign-out clears it and the cookie', async (t) => {
  const context = await browser.context(t, server.url);
  const page = await context.newPage();
  await addToCart(page, 'tea', 2);
  await addToCart(page, 'mug');
  await page.click('nav a[href="/preferences"]');
  await page.waitForURL('**/preferences');
  await page.click('nav a[href="/wizard"]');
  await page.waitForURL('**/wizard/step/1');
  await page.click('nav a[href="/cart"]');
  await page.waitForURL('**/cart');
  const cart = page.locator('#cart');
  await cart.waitFor();
  t.true((await cart.textContent())!.includes('2 × Green tea'));
  t.true((await cart.textContent())!.includes('1 × Mug'));
  t.is(await page.locator('#cart-count').textContent(), '3');

  await signIn(page, 'bob', 'builder');
  t.is(await page.locator('#cart-count').textContent(), '3');
  const signedIn = await sessionCookie(context);
  t.truthy(signedIn);

  await Promise.all([page.waitForURL(`${server.url}/`), page.click('form[action="/account/signout"] button')]);
  await page.locator('#who', { hasText: 'Not signed in.' }).waitFor();
  t.is(await sessionCookie(context), undefined);
  await page.goto('/cart');
  await page.locator('#cart-empty').waitFor();
  t.is(await page.locator('#cart-count').textContent(), '0');
  // The cart page's forms carry a CSRF token, kept in a session: a new one, under a new id.
  const fresh = await sessionCookie(context);
  t.truthy(fresh);
  t.not(fresh, signedIn);
});

test('the parallel page ends with the exact count, with locking on', async (t) => {
  const context = await browser.context(t, server.url);
  const page = await context.newPage();
  const result = page.locator('#result');
  const finished = () => page.waitForFunction(() => ['ok', 'lost', 'error'].includes(document.getElementById('result')!.dataset.state!));

  await page.goto('/parallel');
  await finished();
  t.is(await result.textContent(), `${WRITES} parallel writes: before 0, after ${WRITES}, expected ${WRITES} — no update lost`);
  t.is(await result.getAttribute('data-state'), 'ok');
  const written = Array.from({ length: WRITES }, (_, i) => i + 1).join(', ');
  t.true((await page.locator('#details').textContent())!.includes(`The writes answered ${written} (each value once`));

  await page.click('#again');
  await finished();
  t.is(await result.textContent(), `${WRITES} parallel writes: before ${WRITES}, after ${2 * WRITES}, expected ${2 * WRITES} — no update lost`);
  const stored = await context.request.get('/api/parallel/count');
  t.like(await stored.json(), { count: 2 * WRITES, reports: 2 });
});

test('the parallel page shows each request\'s lock wait as the server measured it, next to the browser\'s total', async (t) => {
  const context = await browser.context(t, server.url);
  const page = await context.newPage();
  const sent: Array<Promise<string | null>> = [];
  page.on('response', (r) => {
    if (r.request().method() === 'POST' && r.url().endsWith('/api/parallel/inc')) sent.push(r.headerValue('server-timing'));
  });
  await page.goto('/parallel');
  await page.waitForFunction(() => ['ok', 'lost', 'error'].includes(document.getElementById('result')!.dataset.state!));
  t.is(await page.locator('#result').getAttribute('data-state'), 'ok');
  const headings = await page.locator('#timings th').allTextContents();
  t.true(headings[1]!.includes('(measured by the server)'));
  t.true(headings[2]!.includes('(measured by the browser)'));

  const rows = async (kind: string) => Promise.all((await page.locator(`#timings tbody tr.${kind}`).all()).map(async (row) => ({
    server: (await row.getAttribute('data-server'))!,
    browser: Number(await row.getAttribute('data-browser')),
    shown: await row.locator('.server').textContent(),
  })));
  const writes = await rows('write');
  t.is(writes.length, WRITES);
  t.is((await rows('report')).length, 1);
  // The waits shown are the ones the server sent (Server-Timing: lock;dur=…), one per write.
  const durations = (await Promise.all(sent)).map((h) => /(?:^|,)\s*lock(?:;[^,]*?)?;dur=([0-9.]+)/.exec(h ?? '')?.[1]);
  t.deepEqual(writes.map((w) => w.server).sort(), durations.sort());
  for (const w of writes) {
    t.is(w.shown, `${Number(w.server).toFixed(1)} ms`);
    t.true(w.browser >= Number(w.server), `browser ${w.browser} ms, server ${w.server} ms`); // the wait is part of the total
  }
  t.true(writes.some((w) => Number(w.server) > 0)); // writes of one session took turns on the server
  for (const poll of await rows('poll')) t.is(Number(poll.server), 0); // read-only: no lock
});

test('an error page keeps the visitor\'s theme, name and cart; a fresh visitor\'s 404 sets no cookie', async (t) => {
  const context = await browser.context(t, server.url);
  const page = await context.newPage();
  await signIn(page, 'bob', 'builder');
  await page.goto('/preferences');
  await page.selectOption('select[name="theme"]', 'dark');
  await page.click('form[action="/preferences"] button');
  await page.locator('#flash .successMessage', { hasText: 'Your preferences are saved.' }).waitFor();
  await addToCart(page, 'tea', 2);
  const cookie = await sessionCookie(context);

  const response = await page.goto('/no/such/page');
  t.is(response!.status(), 404);
  t.is(await response!.headerValue('set-cookie'), null); // read, not started anew
  t.is(await page.locator('#error').textContent(), 'There is no page here.');
  t.is(await page.locator('body').getAttribute('class'), 'dark');
  t.is(await page.locator('nav a[href="/account/profile"]').textContent(), 'bob');
  t.is(await page.locator('nav form[action="/account/signout"] button').textContent(), 'Sign out');
  t.is(await page.locator('#cart-count').textContent(), '2');
  t.true((await page.locator('#demo').textContent())!.includes('examples/shop/errors.ts'));
  t.is(await sessionCookie(context), cookie);
  await Promise.all([page.waitForURL(`${server.url}/`), page.click('text=Back to the shop')]);
  await page.locator('#who', { hasText: 'Signed in as bob' }).waitFor();

  const fresh = await browser.context(t, server.url);
  const visitor = await fresh.newPage();
  const missing = await visitor.goto('/nowhere');
  t.is(missing!.status(), 404);
  t.is(await missing!.headerValue('set-cookie'), null);
  t.deepEqual(await fresh.cookies(server.url), []);
  t.is(await visitor.locator('body').getAttribute('class'), 'light');
  t.is(await visitor.locator('nav a[href="/account/signin"]').textContent(), 'Sign in');
  t.is(await visitor.locator('#cart-count').textContent(), '0');
});
