import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { session } from '../../lib/koa/middleware';
import { sessionPolicy } from '../../lib/koa/policy';
import type { SessionOptions } from '../../lib/koa/options';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { InvalidOption } from '../../lib/errors';
import { addressPrefix } from '../../lib/fingerprint/address';
import { FINGERPRINT_SESSION_KEY, type FingerprintOptions } from '../../lib/fingerprint/fingerprint';
import type { SessionEventMap } from '../../lib/SessionEvents';
import { Client, listen } from '../helpers/http';
import { SpyAdapter } from '../helpers/doubles';
import { TokenStore } from '../../lib/token';

const SECRET = 'fingerprint-secret-of-at-least-32-bytes!';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const CURL = 'curl/8.5.0';

type Hijack = SessionEventMap['session:hijackSuspected'];

/**
 * An app behind a trusted proxy (`app.proxy`: the spec sets the client address with
 * X-Forwarded-For) whose sessions are bound by `fingerprint`. `/login` stores a user, `/me`
 * reads it on a writable route, `/peek` on a read-only one; every hijack event is recorded.
 */
async function serve(t: ExecutionContext, fingerprint: FingerprintOptions, options: SessionOptions = {}, store = new MemoryAdapter()) {
  const spy = new SpyAdapter(store);
  const app = new Koa();
  app.proxy = true;
  app.silent = true;
  const events: Hijack[] = [];
  const middleware = session({ gc: false, ...options, adapter: spy, fingerprint });
  middleware.events.on('session:hijackSuspected', (event) => events.push(event));
  app.use(middleware);
  app.use(async (ctx, next) => {
    if (ctx.path === '/peek') return sessionPolicy({ readOnly: true })(ctx, async () => { ctx.body = { user: ctx.session.get('user') ?? null }; });
    return options.start === 'lazy' ? sessionPolicy()(ctx, next) : next();
  });
  app.use((ctx) => {
    if (ctx.path === '/login') ctx.session.set('user', 'ada');
    if (ctx.path === '/logout') return ctx.session.destroy();
    ctx.body = { user: ctx.session.get('user') ?? null };
  });
  const server = await listen(app);
  t.teardown(() => server.close());
  return { url: server.url, events, store, spy };
}

/** A client that always sends `agent` (and `address`, through X-Forwarded-For). */
function client(url: string, agent: string, address = '203.0.113.9'): Client & { get(path: string): Promise<{ user: string | null }> } {
  const c = new Client(url) as Client & { get(path: string): Promise<{ user: string | null }> };
  c.get = (path) => c.json(path, { headers: { 'user-agent': agent, 'x-forwarded-for': address } });
  return c;
}

/** A second client holding a copy of `from`'s cookies (a stolen cookie). */
function copyOf(from: Client, url: string, agent: string, address?: string) {
  const thief = client(url, agent, address);
  for (const [name, value] of from.jar) thief.jar.set(name, value);
  return thief;
}

async function storedRecord(store: MemoryAdapter, id: string): Promise<{ d: Record<string, unknown> } | null> {
  const text = await store.read(id);
  return text === null ? null : JSON.parse(text);
}

test('addressPrefix keeps the network: IPv4 /24, IPv6 /64, mapped and zoned addresses, nothing for a non-address', (t) => {
  t.is(addressPrefix('203.0.113.9', 24, 64), '203.0.113.0/24');
  t.is(addressPrefix('203.0.113.250', 24, 64), '203.0.113.0/24');
  t.is(addressPrefix('203.0.113.9', 16, 64), '203.0.0.0/16');
  t.is(addressPrefix('203.0.113.9', 32, 64), '203.0.113.9/32');
  t.is(addressPrefix('203.0.113.9', 0, 64), '0.0.0.0/0');
  t.is(addressPrefix('203.0.113.9', 20, 64), '203.0.112.0/20');
  t.is(addressPrefix('::ffff:203.0.113.9', 24, 64), '203.0.113.0/24');
  t.is(addressPrefix('2001:db8:aa:bb:1:2:3:4', 24, 64), '2001:db8:aa:bb:0:0:0:0/64');
  t.is(addressPrefix('2001:db8::1', 24, 64), '2001:db8:0:0:0:0:0:0/64');
  t.is(addressPrefix('2001:db8:aa:bb::9%eth0', 24, 64), '2001:db8:aa:bb:0:0:0:0/64');
  t.is(addressPrefix('2001:db8:aa:bbff::', 24, 56), '2001:db8:aa:bb00:0:0:0:0/56');
  t.is(addressPrefix('::1', 24, 128), '0:0:0:0:0:0:0:1/128');
  t.is(addressPrefix('64:ff9b::203.0.113.9', 24, 128), '64:ff9b:0:0:0:0:cb00:7109/128');
  t.is(addressPrefix('::ffff:cb00:7109', 24, 64), '203.0.113.0/24', 'a mapped address in hex');
  t.is(addressPrefix('0:0:0:0:0:ffff:203.0.113.9', 24, 64), '203.0.113.0/24');
  t.is(addressPrefix('203.0.113.9:51234', 24, 64), '203.0.113.0/24', 'a port appended by a proxy');
  t.is(addressPrefix('[2001:db8:aa:bb::1]:443', 24, 64), '2001:db8:aa:bb:0:0:0:0/64');
  t.is(addressPrefix(' 203.0.113.9 ', 24, 64), '203.0.113.0/24');
  t.is(addressPrefix('', 24, 64), 'unknown');
  t.is(addressPrefix('not-an-address', 24, 64), 'unknown');
});

test('the options are checked: a secret is required and long enough, what binds is known, the policy is one of three', (t) => {
  const make = (fingerprint: unknown) => () => session({ gc: false, adapter: new MemoryAdapter(), fingerprint: fingerprint as FingerprintOptions });
  t.throws(make({}), { instanceOf: InvalidOption, message: /fingerprint\.secret.*required/ });
  t.throws(make({ secret: 'short' }), { instanceOf: InvalidOption, message: /fingerprint\.secret.*32 bytes/ });
  t.throws(make({ secret: [SECRET, 'short'] }), { instanceOf: InvalidOption, message: /fingerprint\.secret\[1\]/ });
  t.throws(make({ secret: [] }), { instanceOf: InvalidOption, message: /fingerprint\.secret/ });
  t.throws(make({ secret: SECRET, userAgnet: true }), { instanceOf: InvalidOption, message: /fingerprint\.userAgnet.*userAgent/ });
  t.throws(make({ secret: SECRET, userAgent: false }), { instanceOf: InvalidOption, message: /binds nothing/ });
  t.throws(make({ secret: SECRET, address: { ipv4: 33 } }), { instanceOf: InvalidOption, message: /fingerprint\.address\.ipv4/ });
  t.throws(make({ secret: SECRET, address: { ipv6: 64.5 } }), { instanceOf: InvalidOption, message: /fingerprint\.address\.ipv6/ });
  t.throws(make({ secret: SECRET, address: { v4: 24 } }), { instanceOf: InvalidOption, message: /fingerprint\.address\.v4/ });
  t.throws(make({ secret: SECRET, address: 'yes' }), { instanceOf: InvalidOption, message: /fingerprint\.address/ });
  t.throws(make({ secret: SECRET, onMismatch: 'logout' }), { instanceOf: InvalidOption, message: /onMismatch/ });
  t.throws(make({ secret: SECRET, custom: 'device' }), { instanceOf: InvalidOption, message: /fingerprint\.custom/ });
  t.throws(make('on'), { instanceOf: InvalidOption, message: /fingerprint/ });
  t.notThrows(make({ secret: Buffer.alloc(32, 7), address: true }));
});

test('the same client keeps its session; the stored fingerprint holds keyed hashes, never the agent or the address', async (t) => {
  const { url, events, store } = await serve(t, { secret: SECRET, address: true });
  const ada = client(url, FIREFOX);
  await ada.get('/login');
  t.deepEqual(await ada.get('/me'), { user: 'ada' });
  t.deepEqual(await ada.get('/me'), { user: 'ada' });
  t.deepEqual(events, []);
  const text = (await store.read(ada.jar.get('sid')!))!;
  const stored = JSON.parse(text).d[FINGERPRINT_SESSION_KEY];
  t.deepEqual(Object.keys(stored).sort(), ['address', 'userAgent']);
  for (const hash of Object.values(stored)) t.regex(hash as string, /^[A-Za-z0-9_-]{22}$/);
  t.false(text.includes('Firefox'));
  t.false(text.includes('203.0.113'));
});

test("'destroy': the same cookie from another agent ends the stored session for everyone; that request gets a new empty one; one event", async (t) => {
  const { url, events, store } = await serve(t, { secret: SECRET });
  const ada = client(url, FIREFOX);
  await ada.get('/login');
  const id = ada.jar.get('sid')!;
  const thief = copyOf(ada, url, CURL);
  t.deepEqual(await thief.get('/me'), { user: null });
  t.is(thief.lastCookies.find((c) => c.name === 'sid')?.attributes['max-age'], '0', 'the stolen cookie is cleared');
  t.deepEqual(events.map(({ id: eventId, changed, action }) => ({ eventId, changed, action })), [{ eventId: id, changed: ['userAgent'], action: 'destroy' }]);
  t.is(await store.read(id), null, 'the stored session is gone');
  t.deepEqual(await ada.get('/me'), { user: null }, 'the owner is signed out too: the session is burnt');
  t.is(events.length, 1);
});

test("'regenerate': the data moves to a new id bound to the new agent; the old cookie stops working", async (t) => {
  const { url, events } = await serve(t, { secret: SECRET, onMismatch: 'regenerate' });
  const ada = client(url, FIREFOX);
  await ada.get('/login');
  const id = ada.jar.get('sid')!;
  const other = copyOf(ada, url, CURL);
  t.deepEqual(await other.get('/me'), { user: 'ada' });
  const moved = other.jar.get('sid')!;
  t.not(moved, id);
  t.deepEqual(events.map(({ changed, action }) => ({ changed, action })), [{ changed: ['userAgent'], action: 'regenerate' }]);
  t.deepEqual(await other.get('/me'), { user: 'ada' }, 'bound to the agent that moved it: no second event');
  t.is(events.length, 1);
  t.deepEqual(await ada.get('/me'), { user: null }, 'the old id is dead');
});

test("'event': the request goes on with the session, and every request from the other agent is reported once; the binding stays with the first agent", async (t) => {
  const { url, events } = await serve(t, { secret: SECRET, onMismatch: 'event' });
  const ada = client(url, FIREFOX);
  await ada.get('/login');
  const other = copyOf(ada, url, CURL);
  t.deepEqual(await other.get('/me'), { user: 'ada' });
  t.is(events.length, 1);
  t.deepEqual(await other.get('/login'), { user: 'ada' }, 'a write does not rebind the session to the other agent');
  t.is(events.length, 2);
  t.deepEqual(await ada.get('/me'), { user: 'ada' });
  t.is(events.length, 2, 'the first agent is still the bound one');
  t.true(events.every((e) => e.action === 'event' && e.changed.join() === 'userAgent'));
});

test('address binding: the same /24 (and IPv6 /64) keeps the session, another network is a mismatch', async (t) => {
  const { url, events } = await serve(t, { secret: SECRET, userAgent: false, address: true });
  const ada = client(url, FIREFOX, '203.0.113.9');
  await ada.get('/login');
  t.deepEqual(await copyOf(ada, url, CURL, '203.0.113.77').get('/me'), { user: 'ada' }, 'same /24, other agent (not bound)');
  t.deepEqual(events, []);
  t.deepEqual(await copyOf(ada, url, FIREFOX, '198.51.100.9').get('/me'), { user: null });
  t.deepEqual(events.map((e) => e.changed), [['address']]);

  const six = client(url, FIREFOX, '2001:db8:aa:bb::9');
  await six.get('/login');
  t.deepEqual(await copyOf(six, url, FIREFOX, '2001:db8:aa:bb:ffff::1').get('/me'), { user: 'ada' }, 'same /64');
  t.deepEqual(await copyOf(six, url, FIREFOX, '2001:db8:aa:bc::9').get('/me'), { user: null }, 'another /64');
  t.is(events.length, 2);
});

test('a custom binding: what the function returns for the request', async (t) => {
  const { url, events } = await serve(t, { secret: SECRET, userAgent: false, custom: (ctx) => ctx.get('x-device') });
  const ada = new Client(url);
  await ada.fetch('/login', { headers: { 'x-device': 'phone-1' } });
  t.deepEqual(await ada.json('/me', { headers: { 'x-device': 'phone-1' } }), { user: 'ada' });
  t.deepEqual(await ada.json('/me', { headers: { 'x-device': 'laptop' } }), { user: null });
  t.deepEqual(events.map((e) => e.changed), [['custom']]);
});

test('a read-only route cannot destroy: the mismatching request sees an empty session, the stored one is untouched until a writable request', async (t) => {
  const { url, events, store } = await serve(t, { secret: SECRET }, { start: 'lazy' });
  const ada = client(url, FIREFOX);
  await ada.get('/login');
  const id = ada.jar.get('sid')!;
  const thief = copyOf(ada, url, CURL);
  t.deepEqual(await thief.get('/peek'), { user: null });
  t.deepEqual(events.map((e) => e.action), ['hidden']);
  t.not(await store.read(id), null);
  t.deepEqual(await ada.get('/peek'), { user: 'ada' });
  t.deepEqual(await thief.get('/me'), { user: null });
  t.deepEqual(events.map((e) => e.action), ['hidden', 'destroy']);
  t.is(await store.read(id), null);
});

test('a visitor who stores nothing gets no record and no cookie: the fingerprint alone is never stored', async (t) => {
  const { url, spy } = await serve(t, { secret: SECRET });
  const visitor = client(url, FIREFOX);
  t.deepEqual(await visitor.get('/me'), { user: null });
  t.is(spy.count('write'), 0);
  t.is(visitor.jar.size, 0);
});

test('a session stored before binding was turned on is bound at its next write; a part added later is bound without a mismatch', async (t) => {
  const store = new MemoryAdapter();
  const before = await serve(t, { secret: SECRET, userAgent: false, custom: () => 'x' }, {}, store);
  const ada = client(before.url, FIREFOX);
  await ada.get('/login');
  const id = ada.jar.get('sid')!;
  t.deepEqual(Object.keys((await storedRecord(store, id))!.d[FINGERPRINT_SESSION_KEY] as object), ['custom']);

  const after = await serve(t, { secret: SECRET, custom: () => 'x' }, {}, store);
  const same = copyOf(ada, after.url, FIREFOX);
  t.deepEqual(await same.get('/me'), { user: 'ada' });
  t.deepEqual(after.events, []);
  t.deepEqual(Object.keys((await storedRecord(store, id))!.d[FINGERPRINT_SESSION_KEY] as object).sort(), ['custom', 'userAgent']);
  t.deepEqual(await copyOf(ada, after.url, CURL).get('/me'), { user: null }, 'now bound to the agent');
});

test('key rotation: a session bound under the older key is accepted and bound again under the newest; a key no longer listed is a mismatch', async (t) => {
  const store = new MemoryAdapter();
  const OLD = 'the-old-fingerprint-secret-32-bytes-long';
  const first = await serve(t, { secret: OLD }, {}, store);
  const ada = client(first.url, FIREFOX);
  await ada.get('/login');
  const id = ada.jar.get('sid')!;
  const oldHash = ((await storedRecord(store, id))!.d[FINGERPRINT_SESSION_KEY] as Record<string, string>).userAgent;

  const rotated = await serve(t, { secret: [SECRET, OLD] }, {}, store);
  t.deepEqual(await copyOf(ada, rotated.url, FIREFOX).get('/me'), { user: 'ada' });
  t.deepEqual(rotated.events, []);
  const newHash = ((await storedRecord(store, id))!.d[FINGERPRINT_SESSION_KEY] as Record<string, string>).userAgent;
  t.not(newHash, oldHash, 'bound again under the newest key');

  const onlyNew = await serve(t, { secret: SECRET }, {}, store);
  t.deepEqual(await copyOf(ada, onlyNew.url, FIREFOX).get('/me'), { user: 'ada' }, 'the rebinding made it valid under the new key alone');
  const unrelated = await serve(t, { secret: 'yet-another-secret-of-32-bytes-or-more' }, {}, store);
  t.deepEqual(await copyOf(ada, unrelated.url, FIREFOX).get('/me'), { user: null });
  t.is(unrelated.events.length, 1);
});

test('a custom function that throws fails the request without leaving the session locked', async (t) => {
  let fail = false;
  const { url } = await serve(t, { secret: SECRET, custom: () => { if (fail) throw new Error('device lookup down'); return 'd'; } });
  const ada = client(url, FIREFOX);
  await ada.get('/login');
  fail = true;
  t.is((await ada.fetch('/me', { headers: { 'user-agent': FIREFOX } })).status, 500);
  fail = false;
  const started = Date.now();
  t.deepEqual(await ada.get('/me'), { user: 'ada' });
  t.true(Date.now() - started < 2000, 'the lock was released (the lock wait is 5 s)');
});

test('a token session is bound the same way; with its revocation list, destroy ends the owner\'s token too', async (t) => {
  const keys = [{ kid: 'k', secret: TokenStore.generateSecret() }];
  t.throws(() => session({ adapter: new TokenStore({ keys }), fingerprint: { secret: SECRET } }), { instanceOf: InvalidOption, message: /fingerprint\.onMismatch.*revocation/ });
  t.notThrows(() => session({ adapter: new TokenStore({ keys }), fingerprint: { secret: SECRET, onMismatch: 'event' } }));
  const tokens = new TokenStore({ keys, revocation: new MemoryAdapter() });
  const app = new Koa();
  app.silent = true;
  const events: Hijack[] = [];
  const middleware = session({ adapter: tokens, fingerprint: { secret: SECRET } });
  middleware.events.on('session:hijackSuspected', (event) => events.push(event));
  app.use(middleware);
  app.use((ctx) => {
    if (ctx.path === '/login') ctx.session.set('user', 'ada');
    ctx.body = { user: ctx.session.get('user') ?? null };
  });
  const server = await listen(app);
  t.teardown(() => server.close());
  const ada = client(server.url, FIREFOX);
  await ada.get('/login');
  t.deepEqual(await ada.get('/me'), { user: 'ada' });
  t.deepEqual(await copyOf(ada, server.url, CURL).get('/me'), { user: null });
  t.deepEqual(events.map((e) => [e.changed, e.action]), [[['userAgent'], 'destroy']]);
  t.deepEqual(await ada.get('/me'), { user: null }, "the owner's token is revoked with it");
});
