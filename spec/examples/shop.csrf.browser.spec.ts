import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import type { Context, Next } from 'koa';
import type { BrowserContext, Page } from 'playwright-core';
import { StreamAdapter } from '../../lib';
import { createShop } from '../../examples/shop/app';
import { HeadlessBrowser } from '../helpers/browser';
import { CsrfClient } from '../helpers/csrfClient';
import { listen, type Listening } from '../helpers/http';
import { makeTempDir, type TempDir } from '../helpers/tmp';

// Cross-site request forgery against the shop, in Chromium. An attacker's page on another origin
// auto-submits a form that adds a product to the victim's cart. Two cases, both refused:
//
// - Same site, other origin: the attacker's page is http://127.0.0.1:<other port>. A site is the
//   scheme and host, without the port, so for the browser this POST is same-site: it sends the
//   shop's SameSite=Lax session cookie with it (the spec checks the Cookie header the shop got,
//   and Sec-Fetch-Site: same-site). SameSite does not help here (nor for a sibling subdomain, or
//   for a browser without SameSite); the CSRF token does: the post carries the victim's cookie
//   but not the token, or a token of another session, and the shop answers 403, changing nothing.
// - Cross site: the same page as http://localhost:<other port>. Now the POST is cross-site, and
//   Chromium withholds the Lax cookie (Sec-Fetch-Site: cross-site, no sid in the Cookie header):
//   the shop sees a visitor without a session, and the token check refuses it too.
//
// SameSite=None (which would send the cookie cross-site) needs Secure, which plain http on
// 127.0.0.1 cannot give, so the same-site case is the one where the cookie reaches the shop.
// The shop's own forms, which carry the token, post as usual.

let dir: TempDir;
let shop: Listening;
let browser: HeadlessBrowser;
let attacker: Server;
let attackerPort: number;
/** The POSTs the shop received: the path, its status, and the request's Cookie and Sec-Fetch-Site headers. */
const posts: Array<{ path: string; status: number; cookie: string; site: string }> = [];
/** The page the attacker serves next (set per test; tests run serially). */
let evil = '';

test.before(async () => {
  dir = await makeTempDir('example-shop-csrf');
  const app = createShop({ adapter: new StreamAdapter({ savePath: dir.path }) });
  // First of all the shop's middleware: what the browser sent, and what the shop answered.
  app.middleware.unshift(async (ctx: Context, next: Next) => {
    try {
      await next();
    } finally {
      if (ctx.method === 'POST') posts.push({ path: ctx.path, status: ctx.status, cookie: ctx.get('cookie'), site: ctx.get('sec-fetch-site') });
    }
  });
  shop = await listen(app);
  attacker = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(evil);
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerPort = (attacker.address() as AddressInfo).port;
  browser = await HeadlessBrowser.launch();
});

test.after.always(async () => {
  await browser?.close();
  attacker?.closeAllConnections();
  await new Promise<void>((resolve) => (attacker ? attacker.close(() => resolve()) : resolve()));
  await shop?.close();
  await dir?.remove();
});

/** The attacker's page: a form to the shop's /cart/add that submits itself on load. */
function forgery(fields: Record<string, string>): string {
  const inputs = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`).join('');
  return `<!doctype html><title>You won!</title><form method="post" action="${shop.url}/cart/add">${inputs}</form>
<script>document.forms[0].submit();</script>`;
}

async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
  return (await context.cookies(shop.url)).find((c) => c.name === 'sid')?.value;
}

/** The victim: signed in as bob with the shop's own form, one tea added with the shop's own form. */
async function victim(t: ExecutionContext): Promise<{ context: BrowserContext; page: Page; sid: string }> {
  const context = await browser.context(t, shop.url);
  const page = await context.newPage();
  await page.goto('/account/signin');
  await page.fill('input[name="username"]', 'bob');
  await page.fill('input[name="password"]', 'builder');
  await Promise.all([page.waitForURL('**/account/profile'), page.click('form[action="/account/signin"] button')]);
  await page.goto('/cart');
  await Promise.all([page.waitForURL('**/cart'), page.click('#add-tea')]);
  await page.locator('#flash .successMessage', { hasText: 'Added 1 × Green tea' }).waitFor();
  return { context, page, sid: (await sessionCookie(context))! };
}

/** Open the attacker's page at `origin`, wait for the forged POST's answer; resolves its status and what the shop saw. */
async function attack(page: Page, origin: string) {
  const before = posts.length;
  const answered = page.waitForResponse((r) => r.url() === `${shop.url}/cart/add` && r.request().method() === 'POST');
  await page.goto(`${origin}/`);
  const response = await answered;
  await page.waitForURL(`${shop.url}/cart/add`);
  const seen = posts.slice(before).find((p) => p.path === '/cart/add')!;
  return { status: response.status(), seen, text: await page.locator('#error').textContent() };
}

async function cartOf(page: Page): Promise<string> {
  await page.goto('/cart');
  return (await page.locator('#cart').textContent()) ?? '';
}

test.serial('same site, other origin: the browser sends the session cookie, and the missing token gets a 403', async (t) => {
  const { page, sid } = await victim(t);
  evil = forgery({ product: 'mug', quantity: '5' });
  const { status, seen, text } = await attack(page, `http://127.0.0.1:${attackerPort}`);
  t.is(seen.site, 'same-site');
  t.true(seen.cookie.split('; ').includes(`sid=${sid}`), `the victim's cookie went along: ${seen.cookie}`);
  t.is(status, 403);
  t.is(seen.status, 403);
  t.regex(text!, /This form has expired or was not sent from this shop/);
  const cart = await cartOf(page);
  t.regex(cart, /1 × Green tea/);
  t.notRegex(cart, /Mug/);
  t.regex(await page.locator('nav').textContent() ?? '', /bob/, 'still signed in');
});

test.serial("same site: a token of the attacker's own session is refused too", async (t) => {
  const { page, sid } = await victim(t);
  const own = new CsrfClient(shop.url); // the attacker's own visit: a real token, for another session
  evil = forgery({ product: 'mug', quantity: '5', _csrf: await own.token() });
  const { status, seen } = await attack(page, `http://127.0.0.1:${attackerPort}`);
  t.true(seen.cookie.split('; ').includes(`sid=${sid}`));
  t.is(status, 403);
  t.notRegex(await cartOf(page), /Mug/);
});

test.serial('cross site: Chromium withholds the SameSite=Lax cookie, and the post is refused', async (t) => {
  const { page, sid } = await victim(t);
  evil = forgery({ product: 'mug', quantity: '5' });
  const { status, seen } = await attack(page, `http://localhost:${attackerPort}`);
  t.is(seen.site, 'cross-site');
  t.false(seen.cookie.includes(`sid=${sid}`), `no session cookie on a cross-site POST: ${seen.cookie}`);
  t.is(status, 403);
  t.notRegex(await cartOf(page), /Mug/);
});

test.serial("the shop's own forms carry the token and post; each page masks it afresh", async (t) => {
  const { context, page, sid } = await victim(t);
  const first = await page.locator('form[action="/cart/add"] input[name="_csrf"]').first().inputValue();
  await page.reload();
  const second = await page.locator('form[action="/cart/add"] input[name="_csrf"]').first().inputValue();
  t.regex(first, /^[A-Za-z0-9_-]{86}$/);
  t.not(first, second);
  const row = page.locator('form', { has: page.locator('#add-mug') });
  await Promise.all([page.waitForURL('**/cart'), row.locator('button').click()]);
  await page.locator('#flash .successMessage', { hasText: 'Added 1 × Mug' }).waitFor();
  t.regex(await cartOf(page), /1 × Mug/);
  t.is(await sessionCookie(context), sid, 'same session');
  const own = posts.filter((p) => p.path === '/cart/add' && p.cookie.includes(`sid=${sid}`));
  t.deepEqual(own.map((p) => [p.status, p.site]), [[302, 'same-origin'], [302, 'same-origin']]);
});
