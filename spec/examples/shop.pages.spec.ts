import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { StreamAdapter } from '../../lib';
import { createShop } from '../../examples/shop/app';
import { DownAdapter, SpyAdapter } from '../helpers/doubles';
import { CsrfClient } from '../helpers/csrfClient';
import { Client, form, listen, type Listening } from '../helpers/http';
import { makeTempDir, type TempDir } from '../helpers/tmp';

/** The repository: this file runs as build/spec/examples/shop.pages.spec.js. */
const REPO = resolve(__dirname, '../../..');

let dir: TempDir;
let server: Listening;
/** `?work=1999` on the parallel API waits for this gate while it holds the session lock. */
let gate: { started(): void; done: Promise<void> } | undefined;

test.before(async () => {
  dir = await makeTempDir('example-shop-pages');
  const work = (ms: number) => (ms === 1999 && gate ? (gate.started(), gate.done) : delay(ms));
  server = await listen(createShop({ adapter: new StreamAdapter({ savePath: dir.path }), work }));
});

test.after.always(async () => {
  await server?.close();
  await dir?.remove();
});

const POST: RequestInit = { method: 'POST' };
const BIG_FORM = form({ product: 'x'.repeat(11 * 1024) });
const DEMO_LINE = /<\/h1>\n<p id="demo">Demonstrates: (.+) — source: ((?:<code>[^<]+<\/code>(?:, )?)+)<\/p>\n/;
const unescape = (s: string) => s.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

async function signedIn(username: string, password: string, next?: string): Promise<Client> {
  const browser = new CsrfClient(server.url);
  const response = await browser.fetch('/account/signin', form({ username, password, ...(next ? { next } : {}) }));
  if (response.headers.get('location') !== (next ?? '/account/profile')) throw new Error(`sign-in as ${username} failed`);
  return browser;
}

/**
 * The page's "Demonstrates" line, checked: right under the heading, once; every file it names
 * exists; every call it names (`name(` in a `<code>`) is made in one of those files.
 */
function checkDemoLine(t: ExecutionContext, path: string, html: string): string[] {
  const line = DEMO_LINE.exec(html);
  t.true(line !== null, `${path}: no "Demonstrates" line under the heading`);
  if (!line) return [];
  t.is(html.split('<p id="demo">').length - 1, 1, `${path}: one line`);
  const sources = [...line[2]!.matchAll(/<code>([^<]+)<\/code>/g)].map((m) => unescape(m[1]!));
  const text = sources.filter((s) => existsSync(join(REPO, s))).map((s) => readFileSync(join(REPO, s), 'utf8')).join('\n');
  for (const source of sources) t.true(existsSync(join(REPO, source)), `${path}: ${source} does not exist`);
  for (const [, code] of line[1]!.matchAll(/<code>([^<]+)<\/code>/g)) {
    const call = /^(@?[\w.]+)\(/.exec(unescape(code!))?.[1];
    if (call) t.true(text.includes(`${call}(`), `${path}: ${call}() is not called in ${sources.join(', ')}`);
  }
  // Any other file a page names must exist too.
  for (const [named] of html.matchAll(/examples\/[\w/.-]+\.ts/g)) t.true(existsSync(join(REPO, named)), `${path}: names ${named}`);
  return sources;
}

/** GET `start` and every local page linked from it, following redirects; each HTML page's path and text (not a redirect's). */
async function crawl(browser: Client, start: string[]): Promise<Map<string, string>> {
  const pages = new Map<string, string>();
  const queue = [...start];
  const seen = new Set(queue);
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    const response = await browser.fetch(path);
    const location = response.headers.get('location');
    const found = location ? [location] : [];
    if (!location && response.headers.get('content-type')?.startsWith('text/html')) {
      const html = await response.text();
      pages.set(path, html);
      found.push(...[...html.matchAll(/href="(\/[^"]*)"/g)].map((m) => unescape(m[1]!)));
    }
    for (const next of found) if (!seen.has(next)) { seen.add(next); queue.push(next); }
  }
  return pages;
}

test('pages › every page says what it demonstrates; the files it names exist and make the calls it names', async (t) => {
  const anonymous = await crawl(new Client(server.url), ['/']);
  t.true(anonymous.has('/account/signin'));

  const alice = await signedIn('alice', 'wonderland');
  await alice.fetch('/wizard/step/1', form({ name: 'Ann', email: 'ann@example.com' }));
  await alice.fetch('/wizard/step/2', form({ street: '1 Main St', city: 'Springfield', postcode: 'AB1 2CD' }));
  const pages = await crawl(alice, ['/', '/wizard/step/3']);
  await alice.fetch('/wizard/step/3', form({ delivery: 'express', confirm: 'yes' }));
  pages.set('/wizard/done', await alice.text('/wizard/done'));

  const bob = await signedIn('bob', 'builder');
  const errors: Array<[string, Response]> = [
    ['404', await alice.fetch('/nowhere')], ['405', await alice.fetch('/', POST)], ['400', await alice.fetch('/wizard/step/x')],
    ['413', await alice.fetch('/cart/add', BIG_FORM)], ['403', await bob.fetch('/account/admin')],
  ];
  const down = await listen(Object.assign(createShop({ adapter: new DownAdapter() }), { silent: true }));
  t.teardown(() => down.close());
  const visitor = new Client(down.url);
  visitor.jar.set('sid', 'a'.repeat(32));
  errors.push(['503', await visitor.fetch('/cart')]);

  const expected: Record<string, string> = {
    '/': 'examples/shop/routes/home.ts', '/account/signin': 'examples/shop/controllers/AccountController.ts',
    '/account/profile': 'examples/shop/controllers/AccountController.ts', '/account/admin': 'examples/shop/controllers/AccountController.ts',
    '/cart': 'examples/shop/controllers/CartController.ts', '/wizard/step/1': 'examples/shop/controllers/WizardController.ts',
    '/wizard/step/2': 'examples/shop/controllers/WizardController.ts', '/wizard/step/3': 'examples/shop/controllers/WizardController.ts',
    '/wizard/done': 'examples/shop/controllers/WizardController.ts', '/preferences': 'examples/shop/routes/preferences.ts',
    '/parallel': 'examples/shop/routes/parallel.ts',
  };
  for (const [path, html] of [...anonymous, ...pages]) {
    const sources = checkDemoLine(t, path, html);
    if (expected[path] !== undefined) t.is(sources[0], expected[path], path);
  }
  t.deepEqual(Object.keys(expected).filter((path) => !pages.has(path)), [], 'pages the crawl did not reach');
  for (const [status, response] of errors) {
    t.is(String(response.status), status);
    t.deepEqual(checkDemoLine(t, `error ${status}`, await response.text()), ['examples/shop/errors.ts', 'examples/shop/app.ts']);
  }
});

const shows = (html: string, { name, theme, cart }: { name?: string; theme: string; cart: number }) =>
  html.includes(`<body class="${theme}">`) && html.includes(`<span id="cart-count">${cart}</span>`) &&
  (name ? html.includes(`<a href="/account/profile">${name}</a>`) && html.includes('>Sign out</button>') : html.includes('<a href="/account/signin">Sign in</a>'));

test('errors › a signed-in visitor\'s error pages show their theme, name and cart; no route started, no cookie sent', async (t) => {
  const bob = await signedIn('bob', 'builder');
  await bob.fetch('/cart/add', form({ product: 'tea', quantity: '2' }));
  await bob.fetch('/preferences', form({ theme: 'dark', language: 'en' }));
  await bob.fetch('/preferences'); // shows (and so removes) the flash messages
  const cases: Array<[string, RequestInit | undefined, number, string]> = [
    ['/nowhere', undefined, 404, 'There is no page here.'], ['/', POST, 405, 'This page does not take that method.'],
    ['/cart/add', BIG_FORM, 413, 'The form is too large.'], ['/wizard/step/x', undefined, 400, 'The request was not understood.'],
    ['/account/admin', undefined, 403, 'Your account does not have the role this page needs.'],
  ];
  for (const [path, init, status, text] of cases) {
    const response = await bob.fetch(path, init);
    t.is(response.status, status, path);
    const html = await response.text();
    t.true(html.includes(`<p id="error">${text}</p>`), path);
    t.true(shows(html, { name: 'bob', theme: 'dark', cart: 2 }), `${path}: ${html}`);
    // No route started the session for these: the page read it read-only, so no cookie.
    if (status !== 403 && status !== 400) t.deepEqual(bob.lastCookies, [], path);
  }
  t.regex(await bob.text('/account/profile'), /<dd id="profile-name">bob<\/dd>/); // still signed in
});

test('errors › flash messages: consumed on a page whose route started the session, shown and kept on a read-only one', async (t) => {
  const bob = await signedIn('bob', 'builder', '/account/admin');
  let html = await (await bob.fetch('/account/admin')).text(); // the authorization check started it (locked)
  t.is(html.split('Welcome, bob!').length - 1, 1);
  t.false((await bob.text('/cart')).includes('Welcome, bob!'));

  await bob.fetch('/preferences', form({ theme: 'neon', language: 'en' }));
  const response = await bob.fetch('/nowhere');
  t.is(response.status, 404);
  html = await response.text();
  t.true(html.includes('Choose a theme and a language from the lists.'));
  t.deepEqual(bob.lastCookies, []);
  // Read-only: removing it would be a write, so the next page shows it once more, then never.
  t.is((await bob.text('/preferences')).split('Choose a theme and a language').length - 1, 1);
  t.false((await bob.text('/preferences')).includes('Choose a theme and a language'));
});

test('errors › an error while the route\'s session start is on its way leaves no lock behind', async (t) => {
  const bob = await signedIn('bob', 'builder');
  // `@Param('step')` fails while `@Session()` of the same action is still starting the session
  // (and taking its lock); the error page joins that start, so the lock is released at commit.
  t.is((await bob.fetch('/wizard/step/x')).status, 400);
  const next = await bob.fetch('/cart'); // a leaked lock: waits for it, then a 503
  t.is(next.status, 200);
  t.true(shows(await next.text(), { name: 'bob', theme: 'light', cart: 0 }));
});

test('errors › a fresh visitor\'s error pages start no session: no store call, no event, no cookie', async (t) => {
  const spy = new SpyAdapter(new StreamAdapter({ savePath: dir.path }));
  const app = createShop({ adapter: spy });
  const started: unknown[] = [];
  app.on('session:started', (event) => started.push(event));
  const shop = await listen(app);
  t.teardown(() => shop.close());
  const visitor = new Client(shop.url);
  for (const [path, init, status] of [['/nowhere', undefined, 404], ['/', POST, 405], ['/cart/add', BIG_FORM, 413]] as const) {
    const response = await visitor.fetch(path, init);
    t.is(response.status, status, path);
    t.deepEqual(visitor.lastCookies, [], path);
    t.true(shows(await response.text(), { theme: 'light', cart: 0 }), path);
  }
  t.deepEqual(spy.calls.filter((c) => !c.startsWith('gc:')), []); // (gc runs after a random 1 % of responses)
  t.deepEqual(started, []);
  // The check can fail: a page that starts the session is seen.
  await visitor.fetch('/');
  t.is(started.length, 1);
});

test('errors › with the store down, an error page keeps its status and shows no session', async (t) => {
  const failing = createShop({ adapter: new DownAdapter() });
  failing.silent = true;
  const down = await listen(failing);
  t.teardown(() => down.close());
  const visitor = new Client(down.url);
  visitor.jar.set('sid', 'a'.repeat(32));
  for (const [path, init, status] of [['/nowhere', undefined, 404], ['/', POST, 405], ['/cart/add', BIG_FORM, 413]] as const) {
    const response = await visitor.fetch(path, init);
    t.is(response.status, status, path);
    const html = await response.text();
    t.true(shows(html, { theme: 'light', cart: 0 }), path);
    t.false(/ECONNREFUSED|\n\s+at /.test(html), path);
  }
});

test('errors › an error page takes no lock: it answers while a writer of the same session holds it', async (t) => {
  const bob = await signedIn('bob', 'builder');
  await bob.fetch('/preferences', form({ theme: 'dark', language: 'en' }));
  let release!: () => void;
  let started!: () => void;
  const holding = new Promise<void>((resolve) => { started = resolve; });
  gate = { started, done: new Promise<void>((resolve) => { release = resolve; }) };
  t.teardown(() => { release(); gate = undefined; });
  let written = false;
  const writer = bob.fetch('/api/parallel/inc?work=1999', POST).then(async (r) => { written = true; return r.json(); });
  await holding; // the writer holds the session lock until released
  const response = await bob.fetch('/nowhere');
  t.is(response.status, 404);
  t.true(shows(await response.text(), { name: 'bob', theme: 'dark', cart: 0 }));
  t.false(written);
  release();
  t.like(await writer, { count: 1 });
});
