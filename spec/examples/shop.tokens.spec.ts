import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { InvalidOption } from '../../lib';
import { TokenStore } from '../../lib/token';
import { createApp } from '../../examples/basic/app';
import { createShop } from '../../examples/shop/app';
import { adapterFromEnv } from '../../examples/shared/serve';
import { CsrfClient } from '../helpers/csrfClient';
import { Client, form, listen } from '../helpers/http';

// The examples without a store: SESSION_TOKEN_KEY puts the whole session in a token in the
// cookie (a TokenStore). The shop runs as `npm start` runs it (build/examples/shop/server.js),
// in a child process with the variable set.

/** This file runs as build/spec/examples/shop.tokens.spec.js. */
const SERVER = resolve(__dirname, '../../examples/shop/server.js');
const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const JWE = /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const STORE_VARIABLES = ['REDIS_URL', 'DATABASE_URL', 'SESSION_TOKEN_KEY', 'SESSION_TOKEN_MODE'];
const POST: RequestInit = { method: 'POST' };

const part = (token: string, at: number): Record<string, any> => JSON.parse(Buffer.from(token.split('.')[at]!, 'base64url').toString('utf8'));
const occurrences = (html: string, text: string): number => html.split(text).length - 1;

interface Started {
  url: string;
  banner: string;
}

/**
 * `node build/examples/shop/server.js` with `env` (and none of the store variables of this
 * process) on a free 127.0.0.1 port: its URL once it printed its banner. Stopped by SIGTERM
 * (by its pid) when the test ends, SIGKILL if it has not exited 6 s later. The tests that start
 * it run one at a time: three shops booting at once load both cores.
 */
async function startShop(t: ExecutionContext, env: Record<string, string>): Promise<Started> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of STORE_VARIABLES) delete childEnv[name];
  const child = spawn(process.execPath, [SERVER], { env: { ...childEnv, ...env, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), delay(6000).then(() => false)]);
    if (!stopped) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => { output += chunk; });
  return new Promise<Started>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`the shop printed no banner in 15 s: ${output}`)), 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
      const banner = /^koa-session-manager shop .* listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(output);
      if (banner) {
        clearTimeout(timer);
        done({ url: banner[1]!, banner: banner[0] });
      }
    });
    void exited.then(([code, signal]) => {
      clearTimeout(timer);
      fail(new Error(`the shop exited (${code ?? signal}) before it listened: ${output}`));
    });
  });
}

test.serial('tokens › SESSION_TOKEN_KEY runs the shop on signed tokens: sign-in, a cart that survives across requests, sign-out', async (t) => {
  const shop = await startShop(t, { SESSION_TOKEN_KEY: TokenStore.generateSecret() });
  t.regex(shop.banner, /^koa-session-manager shop \(sessions in signed tokens, no store\) listening on /);
  const bob = new CsrfClient(shop.url);
  t.is((await bob.fetch('/')).status, 200);
  t.deepEqual(bob.lastCookies, []); // lazy: a visitor who only looks gets no token

  const signin = await bob.fetch('/account/signin', form({ username: 'bob', password: 'builder' }));
  t.is(signin.status, 302);
  t.is(signin.headers.get('location'), '/account/profile');
  const signedIn = bob.jar.get('sid')!;
  t.regex(signedIn, JWS); // a JWT: three dot-separated base64url parts
  t.like(part(signedIn, 0), { alg: 'HS256', typ: 'session+jwt', kid: 'example' });
  t.deepEqual(part(signedIn, 1).d.account, { name: 'bob', role: 'customer' }); // signed, not hidden
  const profile = await bob.text('/account/profile');
  t.regex(profile, /<dd id="profile-name">bob<\/dd>/);
  t.is(occurrences(profile, 'Welcome, bob!'), 1);

  t.is((await bob.fetch('/cart/add', form({ product: 'tea', quantity: '2' }))).headers.get('location'), '/cart');
  const withTea = bob.jar.get('sid')!;
  t.regex(withTea, JWS);
  t.not(withTea, signedIn); // the session changed: a new token
  await bob.fetch('/cart/add', form({ product: 'mug' }));
  const token = bob.jar.get('sid')!;
  t.deepEqual(part(token, 1).d.cart, { tea: 2, mug: 1 });

  let cart = await bob.text('/cart');
  t.regex(cart, /2 × Green tea/);
  t.regex(cart, /1 × Mug/);
  t.is(occurrences(cart, 'Added 1 × Mug to your cart.'), 1);
  cart = await bob.text('/cart'); // again: the cart stays, the flash went
  t.regex(cart, /2 × Green tea/);
  t.regex(cart, /<th id="cart-total">€18.90<\/th>/);
  t.is(occurrences(cart, 'Added'), 0);
  const preferences = await bob.text('/preferences');
  t.regex(preferences, /<span id="cart-count">3<\/span>/);
  t.regex(preferences, /<a href="\/account\/profile">bob<\/a>/);
  t.regex(bob.jar.get('sid')!, JWS);

  const signout = await bob.fetch('/account/signout', POST);
  t.is(signout.status, 302);
  t.is(signout.headers.get('location'), '/');
  t.like(bob.lastCookies.find((c) => c.name === 'sid'), { value: '', attributes: { 'max-age': '0' } });
  t.false(bob.jar.has('sid'));
  t.regex(await bob.text('/'), /Not signed in\./);
  t.false(bob.jar.has('sid'));
  t.regex(await bob.text('/cart'), /<p id="cart-empty">Your cart is empty.<\/p>/);
  // The cart's forms carry a CSRF token: a new session (a new token) holding only that.
  t.deepEqual(Object.keys(part(bob.jar.get('sid')!, 1).d), ['$koa-session-manager/csrf$']);

  // No revocation list in the example (README, security notes): a copy of the token taken
  // before the sign-out is still a valid session until its exp.
  const copy = new Client(shop.url);
  copy.jar.set('sid', token);
  t.regex(await copy.text('/account/profile'), /<dd id="profile-name">bob<\/dd>/);
});

test.serial('tokens › SESSION_TOKEN_MODE=encrypted: a JWE the visitor cannot read, and the cart still survives', async (t) => {
  const shop = await startShop(t, { SESSION_TOKEN_KEY: TokenStore.generateSecret(), SESSION_TOKEN_MODE: 'encrypted' });
  t.regex(shop.banner, /\(sessions in encrypted tokens, no store\)/);
  const visitor = new CsrfClient(shop.url);
  await visitor.fetch('/cart/add', form({ product: 'tea', quantity: '3' }));
  const token = visitor.jar.get('sid')!;
  t.regex(token, JWE); // compact JWE, `dir`: an empty encrypted key
  t.like(part(token, 0), { alg: 'dir', enc: 'A256GCM', kid: 'example', typ: 'session+jwt' });
  t.false(token.split('.').slice(1).some((p) => Buffer.from(p, 'base64url').toString('latin1').includes('tea')));
  t.regex(await visitor.text('/cart'), /3 × Green tea/);
  t.regex(await visitor.text('/cart'), /3 × Green tea/);
});

test.serial('tokens › the pages say there is no lock, and parallel increments of one visitor are last-writer-wins', async (t) => {
  const shop = await startShop(t, { SESSION_TOKEN_KEY: TokenStore.generateSecret() });
  const visitor = new CsrfClient(shop.url);
  t.regex(await visitor.text('/'), /sessions in signed tokens have no lock, so the last writer wins/);
  const page = await visitor.text('/parallel');
  t.regex(page, /<p id="lock" data-lock="none">The sessions here are <b>signed tokens<\/b>/);
  t.regex(page, /<b>there is no session lock<\/b>/);
  t.regex(page, /<b>the last writer wins<\/b>/);
  t.false(page.includes('data-lock="on"'));
  t.regex(page, /<code>TokenStore<\/code>, which keeps no session on the server and so has no lock/);

  // Sent at once, each carries the same token (count 0) and answers a token with 1: the browser
  // keeps whichever arrives last, so nine of the ten increments are lost.
  const answers = await Promise.all(Array.from({ length: 10 }, () => visitor.json<{ count: number; lockWaitedMs: number }>('/api/parallel/inc?work=20', POST)));
  t.deepEqual(answers.map((a) => a.count), Array(10).fill(1));
  t.deepEqual(answers.map((a) => a.lockWaitedMs), Array(10).fill(0));
  t.like(await visitor.json('/api/parallel/count'), { count: 1 });
});

test('tokens › adapterFromEnv: SESSION_TOKEN_KEY gives a TokenStore named for its mode', async (t) => {
  const signed = await adapterFromEnv({ SESSION_TOKEN_KEY: TokenStore.generateSecret() });
  t.is(signed.name, 'signed tokens');
  t.true(signed.adapter instanceof TokenStore);
  const encrypted = await adapterFromEnv({ SESSION_TOKEN_KEY: TokenStore.generateSecret(), SESSION_TOKEN_MODE: 'encrypted' });
  t.is(encrypted.name, 'encrypted tokens');
  t.true(encrypted.adapter instanceof TokenStore);
  t.is((await adapterFromEnv({ SESSION_TOKEN_KEY: TokenStore.generateSecret(), SESSION_TOKEN_MODE: 'signed' })).name, 'signed tokens');
  t.is((await adapterFromEnv({})).name, 'file');
});

test('tokens › adapterFromEnv refuses the key with another store, a mode without a key, and a bad mode or key', async (t) => {
  const key = TokenStore.generateSecret();
  const refusals: Array<[NodeJS.ProcessEnv, string | RegExp]> = [
    [{ SESSION_TOKEN_KEY: key, REDIS_URL: 'redis://127.0.0.1:1' }, 'REDIS_URL and SESSION_TOKEN_KEY are both set: set the one store to use'],
    [{ SESSION_TOKEN_KEY: key, DATABASE_URL: 'postgres://127.0.0.1:1/x' }, 'DATABASE_URL and SESSION_TOKEN_KEY are both set: set the one store to use'],
    [{ SESSION_TOKEN_KEY: key, REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: 'postgres://127.0.0.1:1/x' }, 'REDIS_URL and DATABASE_URL and SESSION_TOKEN_KEY are all set: set the one store to use'],
    [{ REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: 'postgres://127.0.0.1:1/x' }, 'REDIS_URL and DATABASE_URL are both set: set the one store to use'],
    [{ SESSION_TOKEN_MODE: 'encrypted' }, /^SESSION_TOKEN_MODE is set without SESSION_TOKEN_KEY/],
    [{ SESSION_TOKEN_MODE: 'signed', REDIS_URL: 'redis://127.0.0.1:1' }, /^SESSION_TOKEN_MODE is set without SESSION_TOKEN_KEY/],
    [{ SESSION_TOKEN_KEY: key, SESSION_TOKEN_MODE: 'jwe' }, 'SESSION_TOKEN_MODE must be signed or encrypted, not "jwe"'],
    [{ SESSION_TOKEN_KEY: 'correct horse battery staple' }, /^SESSION_TOKEN_KEY must be base64url or base64 \(random bytes, not a passphrase\)/],
    [{ SESSION_TOKEN_KEY: Buffer.alloc(16, 7).toString('base64url') }, /^SESSION_TOKEN_KEY must be at least 32 random bytes \(it has 16\)/],
    [{ SESSION_TOKEN_KEY: Buffer.alloc(48, 7).toString('base64url'), SESSION_TOKEN_MODE: 'encrypted' }, /^SESSION_TOKEN_KEY must be exactly 32 random bytes \(it has 48\)/],
  ];
  for (const [env, message] of refusals) {
    await t.throwsAsync(adapterFromEnv(env), { message }, JSON.stringify(env));
  }
});

test('tokens › the shop and the basic example take a TokenStore without a locking option, and refuse locking: true with it', async (t) => {
  const tokens = () => new TokenStore({ keys: [{ kid: 'example', secret: TokenStore.generateSecret() }] });
  t.notThrows(() => createShop({ adapter: tokens(), store: 'signed tokens' }));
  t.throws(() => createShop({ adapter: tokens(), locking: true }), { instanceOf: InvalidOption, message: /"locking"/ });
  t.throws(() => createApp({ adapter: tokens(), locking: true }), { instanceOf: InvalidOption, message: /"locking"/ });

  const basic = await listen(createApp({ adapter: tokens(), store: 'signed tokens' }));
  t.teardown(() => basic.close());
  const visitor = new Client(basic.url);
  t.regex(await visitor.text('/'), /Visits in this session: <b>1<\/b>/);
  t.regex(visitor.jar.get('sid')!, JWS);
  t.regex(await visitor.text('/'), /Visits in this session: <b>2<\/b>/);
  t.regex(await visitor.text('/parallel'), /<p id="lock" data-lock="none">Sessions here are <b>signed tokens<\/b>/);
});
