import test from 'ava';
import { Manager, type ManagerOptions } from '../lib/Manager';
import { MemoryAdapter } from '../lib/adapters/MemoryAdapter';
import { SessionLockTimeout } from '../lib/errors';
import { NoopAdapter } from '../lib/adapters/NoopAdapter';
import { CountingEmitter, DownAdapter, FakeTransport, SpyAdapter } from './helpers/doubles';

function setup(options: ManagerOptions = {}, cookie?: string) {
  const store = new MemoryAdapter();
  const adapter = new SpyAdapter(store);
  const transport = new FakeTransport(cookie);
  const make = (c: string | undefined = transport.cookie, t = new FakeTransport(c)) =>
    new Manager(options).setAdapter(adapter).setTransport(t);
  return { store, adapter, transport, session: new Manager(options).setAdapter(adapter).setTransport(transport), make };
}

/** A session that was written once, and the id it lives under. */
async function stored(data: Record<string, unknown>, options: ManagerOptions = {}) {
  const ctx = setup(options);
  await ctx.session.start();
  for (const [k, v] of Object.entries(data)) ctx.session.set(k, v);
  await ctx.session.writeClose();
  return { ...ctx, id: ctx.session.getId() };
}

test('Manager › before start › get returns null, ignoring the default (Phalcon)', (t) => {
  const { session } = setup();
  t.is(session.get('a', 'fallback'), null);
  t.false(session.has('a'));
  t.is(session.status(), 1);
  t.false(session.exists());
  t.is(session.getId(), '');
});

test('Manager › before start › set and remove are silent no-ops', async (t) => {
  const { session } = setup();
  session.set('a', 1);
  session.remove('a');
  await session.start();
  t.false(session.has('a'));
});

test('Manager › start › without an adapter throws InvalidSessionAdapter', async (t) => {
  const session = new Manager();
  await t.throwsAsync(session.start(), { code: 'ERR_SESSION_INVALID_ADAPTER', message: 'The session adapter is not valid' });
});

test('Manager › start › after headers were sent returns false, even without an adapter', async (t) => {
  const transport = new FakeTransport();
  transport.sent = true;
  const session = new Manager().setTransport(transport);
  t.false(await session.start());
  t.false(session.exists());
});

test('Manager › start › when already active returns true and keeps the data', async (t) => {
  const { session } = setup();
  t.true(await session.start());
  session.set('a', 1);
  t.true(await session.start());
  t.is(session.get('a'), 1);
  t.is(session.status(), 2);
});

test('Manager › get › a stored null reads as the default and has() is false', async (t) => {
  const { session } = setup();
  await session.start();
  session.set('n', null);
  t.is(session.get('n', 'dflt'), 'dflt');
  t.false(session.has('n'));
  session.set('zero', 0);
  t.is(session.get('zero', 5), 0);
  t.true(session.has('zero'));
});

test('Manager › get › with remove returns the value and removes the key', async (t) => {
  const { session } = setup();
  await session.start();
  session.set('once', 'x');
  t.is(session.get<string>('once', undefined, true), 'x');
  t.false(session.has('once'));
});

test('Manager › get › keys of Object.prototype are not session keys', async (t) => {
  const { session } = setup();
  await session.start();
  t.is(session.get('toString'), null);
  t.false(session.has('constructor'));
  session.set('toString', 'plain');
  t.is(session.get('toString'), 'plain');
});

test('Manager › set › refuses the key names a reload would drop (__proto__, constructor, prototype)', async (t) => {
  const { session } = setup();
  await session.start();
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    t.throws(() => session.set(key, 1), { code: 'ERR_SESSION_INVALID_VALUE' }, key);
    t.is(session.get(key), null);
  }
});

test('Manager › uniqueId › namespaces keys as uniqueId#key', async (t) => {
  const { store, id } = await stored({ user: 'ann' }, { uniqueId: 'app1' });
  const raw = JSON.parse((await store.read(id))!);
  t.deepEqual(raw.d, { 'app1#user': 'ann' });
});

test('Manager › setOptions › replaces the options: a later call without uniqueId drops the namespace', async (t) => {
  const session = new Manager({ uniqueId: 'aaa', lifetime: 60 }).setAdapter(new NoopAdapter());
  t.deepEqual(session.getOptions(), { uniqueId: 'aaa', lifetime: 60 });
  await session.start();
  session.set('test1', 'x');
  session.setOptions({});
  t.is(session.get('test1'), null);
  t.is(session.get('aaa#test1'), 'x');
  session.setOptions({ uniqueId: '0' });
  t.is(session.get('aaa#test1'), 'x', 'an empty() uniqueId such as "0" means no prefix, as in PHP');
});

test('Manager › setId › forces the id, before the cookie', async (t) => {
  const { store, id } = await stored({ a: 1 });
  const session = new Manager().setAdapter(store).setTransport(new FakeTransport('someOtherId12345'));
  session.setId(id);
  t.is(session.getId(), id);
  await session.start();
  t.is(session.get('a'), 1);
});

test('Manager › setId › after start throws SessionAlreadyStarted', async (t) => {
  const { session } = setup();
  await session.start();
  t.throws(() => session.setId('abc'), {
    code: 'ERR_SESSION_ALREADY_STARTED',
    message: 'The session has already been started. To change the id, use regenerateId()',
  });
});

for (const bad of ['', ' ', 'a_b', 'a.b', '../etc/passwd', 'a\u0000b', 'abc\n', 'é', 'x'.repeat(129)]) {
  test(`Manager › setId › rejects ${JSON.stringify(bad).slice(0, 24)} with InvalidSessionId`, (t) => {
    t.throws(() => new Manager().setId(bad), { code: 'ERR_SESSION_INVALID_ID', message: 'The session id contains invalid characters' });
  });
}

test('Manager › setId › accepts the PHP alphabet [a-zA-Z0-9,-]', (t) => {
  t.is(new Manager().setId('abc,DEF-123').getId(), 'abc,DEF-123');
});

test('Manager › setName › after start throws SessionModificationDenied', async (t) => {
  const { session } = setup();
  await session.start();
  t.throws(() => session.setName('other'), { code: 'ERR_SESSION_MODIFICATION_DENIED', message: 'Cannot set session name after a session has started' });
  t.throws(() => session.setName('12345'), { code: 'ERR_SESSION_MODIFICATION_DENIED' }, 'the start check comes before validation');
});

test('Manager › setName › follows Phalcon rules: Unicode letters and numbers, not ASCII digits only', (t) => {
  const session = new Manager();
  t.is(session.getName(), 'PHPSESSID');
  for (const good of ['sessão', '名前', '1a', '١٢٣', 'my_app-1']) t.is(session.setName(good).getName(), good);
  for (const bad of ['12345', '', 'a.b', 'a b', 'a;b']) {
    t.throws(() => session.setName(bad), { code: 'ERR_SESSION_INVALID_NAME', message: 'The name contains non alphanum characters' });
  }
});

test('Manager › property access › reads, writes, tests and deletes session keys', async (t) => {
  const { session } = setup();
  await session.start();
  const s = session as Manager & Record<string, unknown>;
  s.userId = 7;
  t.is(session.get('userId'), 7);
  t.is(s.userId, 7);
  t.true('userId' in s);
  t.false('nope' in s);
  delete s.userId;
  t.false(session.has('userId'));
  t.is(s.missing, null);
  t.is(typeof s.get, 'function', 'method names stay methods');
  t.true('start' in s);
});

test('Manager › new session › that stores nothing writes nothing and sends no cookie', async (t) => {
  const { session, adapter, transport } = setup();
  await session.start();
  t.is(session.get('x'), null);
  await session.writeClose();
  t.is(adapter.count('write'), 0);
  t.is(adapter.count('updateTimestamp'), 0);
  t.deepEqual(transport.written, []);
});

test('Manager › commit › a new session with data is written and its cookie sent with Max-Age = lifetime (a transport that does not spare the cookie: sent every time)', async (t) => {
  const { session, adapter, transport } = setup({ lifetime: 120 });
  await session.start();
  session.set('a', 1);
  await session.writeClose();
  t.is(adapter.count('write'), 1);
  t.deepEqual(transport.written, [{ name: 'PHPSESSID', id: session.getId(), maxAge: 120 }]);
});

test('Manager › lazy write › unchanged data costs only updateTimestamp', async (t) => {
  const { adapter, make, id } = await stored({ a: 1 });
  adapter.calls.length = 0;
  const session = make(id);
  await session.start();
  t.is(session.get('a'), 1);
  await session.writeClose();
  t.deepEqual(adapter.calls.filter((c) => !c.startsWith('lock')), [`read:${id}`, `updateTimestamp:${id}`]);
});

test('Manager › lazy write › off: unchanged data is written again', async (t) => {
  const { adapter, make, id } = await stored({ a: 1 }, { lazyWrite: false });
  adapter.calls.length = 0;
  const session = make(id);
  await session.start();
  await session.writeClose();
  t.is(adapter.count('write'), 1);
  t.is(adapter.count('updateTimestamp'), 0);
});

test('Manager › lazy write › a change inside a stored object is detected and written', async (t) => {
  const { store, adapter, make, id } = await stored({ cart: ['a'] });
  adapter.calls.length = 0;
  const session = make(id);
  await session.start();
  session.get<string[]>('cart')!.push('b');
  await session.writeClose();
  t.is(adapter.count('write'), 1);
  t.deepEqual(JSON.parse((await store.read(id))!).d.cart, ['a', 'b']);
});

test('Manager › writeClose › persists, then reads work and writes throw SessionModificationDenied', async (t) => {
  const { session, store } = setup();
  await session.start();
  session.set('a', 1);
  await session.writeClose();
  t.is(session.status(), 1);
  t.false(session.exists());
  t.is(session.get('a'), 1);
  t.true(session.has('a'));
  t.throws(() => session.set('b', 2), { code: 'ERR_SESSION_MODIFICATION_DENIED' });
  t.throws(() => session.remove('a'), { code: 'ERR_SESSION_MODIFICATION_DENIED' });
  t.throws(() => { (session as Manager & Record<string, unknown>).c = 3; }, { code: 'ERR_SESSION_MODIFICATION_DENIED' });
  t.deepEqual(JSON.parse((await store.read(session.getId()))!).d, { a: 1 });
});

test('Manager › writeClose › twice writes once', async (t) => {
  const { session, adapter } = setup();
  await session.start();
  session.set('a', 1);
  await session.writeClose();
  await session.writeClose();
  t.is(adapter.count('write'), 1);
});

test('Manager › abort › releases without writing; reads still work', async (t) => {
  const { adapter, make, id, store } = await stored({ a: 1 });
  adapter.calls.length = 0;
  const session = make(id);
  await session.start();
  session.set('a', 2);
  await session.abort();
  t.is(session.get('a'), 2);
  t.is(adapter.count('write') + adapter.count('updateTimestamp'), 0);
  t.deepEqual(JSON.parse((await store.read(id))!).d, { a: 1 });
  t.throws(() => session.set('a', 3), { code: 'ERR_SESSION_MODIFICATION_DENIED' });
});

test('Manager › destroy › deletes the record, empties the data, clears the cookie', async (t) => {
  const { store, make, id } = await stored({ a: 1 });
  const transport = new FakeTransport(id);
  const session = make(id, transport);
  await session.start();
  await session.destroy();
  t.is(await store.read(id), null);
  t.is(session.getId(), '');
  t.is(session.status(), 1);
  t.is(session.get('a'), null);
  t.deepEqual(transport.cleared, ['PHPSESSID']);
  await session.writeClose();
  t.is(await store.read(id), null, 'the commit after destroy writes nothing back');
});

test('Manager › destroy › then start() begins a fresh session, so a message can follow a sign-out', async (t) => {
  const { store, make, id, adapter } = await stored({ user: 'ann' });
  const transport = new FakeTransport(id);
  const session = make(id, transport);
  await session.start();
  await session.destroy();
  adapter.calls.length = 0;
  await session.start();
  t.false(adapter.calls.some((c) => c.endsWith(`:${id}`)), 'the destroyed id is not looked up again');
  session.set('flash', 'Signed out');
  await session.writeClose();
  const fresh = session.getId();
  t.not(fresh, id);
  t.deepEqual(JSON.parse((await store.read(fresh))!).d, { flash: 'Signed out' });
  t.is(transport.written.at(-1)?.id, fresh);
});

test('Manager › destroy › before start is a silent no-op', async (t) => {
  const { session, adapter } = setup();
  await session.destroy();
  t.is(adapter.calls.length, 0);
});

test('Manager › regenerateId › keeps the data under a new id and deletes the old record', async (t) => {
  const { store, make, id } = await stored({ user: 'ann' });
  const transport = new FakeTransport(id);
  const session = make(id, transport);
  await session.start();
  await session.regenerateId();
  const newId = session.getId();
  t.not(newId, id);
  t.is(session.get('user'), 'ann');
  t.deepEqual(JSON.parse((await store.read(id))!).d, { user: 'ann' }, 'nothing moves before the commit');
  await session.writeClose();
  t.deepEqual(JSON.parse((await store.read(newId))!).d, { user: 'ann' });
  t.is(await store.read(id), `\u0000moved:${newId}`, 'the old id keeps no data, only a marker naming the new id');
  t.is(transport.written.at(-1)?.id, newId);
});

test('Manager › regenerateId › with deleteOld false keeps a copy under the old id', async (t) => {
  const { store, make, id } = await stored({ user: 'ann' });
  const session = make(id);
  await session.start();
  session.set('user', 'bob');
  await session.regenerateId(false);
  await session.writeClose();
  t.deepEqual(JSON.parse((await store.read(id))!).d, { user: 'bob' });
  t.deepEqual(JSON.parse((await store.read(session.getId()))!).d, { user: 'bob' });
});

test('Manager › regenerateId › the old id no longer finds the data, now or later', async (t) => {
  const { make, id } = await stored({ user: 'ann' });
  const session = make(id);
  await session.start();
  await session.regenerateId();
  await session.writeClose();
  const attacker = make(id);
  await attacker.start();
  t.not(attacker.getId(), id);
  t.is(attacker.get('user'), null);
});

test('Manager › regenerateId › a request queued on the old id gets a throwaway session: no write, no cookie', async (t) => {
  const events = new CountingEmitter();
  const reasons: string[] = [];
  events.on('session:expired', (e) => reasons.push(e.reason));
  const { make, id, adapter } = await stored({ user: 'ann', n: 1 }, { events });
  const login = make(id);
  await login.start();
  const lateTransport = new FakeTransport(id);
  const late = make(id, lateTransport);
  const lateStarted = late.start();
  await login.regenerateId();
  login.set('user', 'bob');
  await login.writeClose();
  await lateStarted;
  t.is(late.get('user'), null, 'it never sees the signed-in data');
  adapter.calls.length = 0;
  late.set('n', 2);
  await late.writeClose();
  t.is(adapter.count('write'), 0);
  t.deepEqual(lateTransport.written, [], 'no cookie that would replace the signed-in one');
  t.deepEqual(lateTransport.cleared, []);
  t.deepEqual(reasons, ['regenerated']);
});

test('Manager › regenerateId › a store failure at commit leaves the old session whole', async (t) => {
  const { store, make, id } = await stored({ cart: ['apple'] });
  const session = make(id);
  await session.start();
  await session.regenerateId();
  session.set('user', 'ann');
  const write = store.write.bind(store);
  store.write = async () => { throw new Error('connection reset'); };
  await t.throwsAsync(session.writeClose(), { code: 'ERR_SESSION_STORE' });
  store.write = write;
  const again = make(id);
  await again.start();
  t.is(again.getId(), id);
  t.deepEqual(again.get('cart'), ['apple'], 'the old id still holds the data');
});

test('Manager › regenerateId › after writeClose() throws SessionModificationDenied', async (t) => {
  const { session } = setup();
  await session.start();
  await session.writeClose();
  await t.throwsAsync(session.regenerateId(), { code: 'ERR_SESSION_MODIFICATION_DENIED' });
});

test('Manager › destroy › after writeClose() still deletes the record and clears the cookie', async (t) => {
  const { store, make, id } = await stored({ user: 'ann' });
  const transport = new FakeTransport(id);
  const session = make(id, transport);
  await session.start();
  await session.writeClose();
  await session.destroy();
  t.is(await store.read(id), null);
  t.deepEqual(transport.cleared, ['PHPSESSID']);
});

test('Manager › destroy › after regenerateId() deletes the stored (old) record', async (t) => {
  const { store, make, id } = await stored({ user: 'ann' });
  const session = make(id);
  await session.start();
  await session.regenerateId();
  await session.destroy();
  await session.writeClose();
  t.is(await store.read(id), null);
});

test('Manager › options › getOptions() is a copy: changing it changes no Manager', (t) => {
  const shared = { lifetime: 1800 };
  const a = new Manager(shared);
  const b = new Manager(shared);
  const options = a.getOptions();
  options.lifetime = 2_592_000;
  t.is(a.getOptions().lifetime, 1800);
  shared.lifetime = 5;
  t.is(b.getOptions().lifetime, 1800);
});

test('Manager › events › a listener that throws breaks nothing and leaves no lock behind', async (t) => {
  const events = new CountingEmitter();
  events.on('session:started', () => { throw new Error('listener bug'); });
  const { make, id } = await stored({ n: 1 }, { events, locking: { wait: 0.2 } });
  const first = make(id);
  await first.start();
  await first.writeClose();
  const second = make(id);
  await t.notThrowsAsync(second.start(), 'the lock was released');
  t.is(second.get('n'), 1);
  await second.writeClose();
});

test('Manager › get › a stored session read back has no prototype either: keys of Object.prototype are not its keys', async (t) => {
  const { make, id } = await stored({ n: 1 });
  const again = make(id);
  await again.start();
  t.is(again.get('n'), 1);
  t.is(again.get('toString'), null);
  t.false(again.has('hasOwnProperty'));
  again.set('toString', 'plain');
  t.is(again.get('toString'), 'plain');
  await again.writeClose();
  const third = make(id);
  await third.start();
  t.is(third.get('toString'), 'plain');
});

test('Manager › serializer › a serializer whose parse returns frozen data still gives a session that can change', async (t) => {
  const serializer = { stringify: (v: unknown) => JSON.stringify(v), parse: (s: string) => deepFreeze(JSON.parse(s)) };
  const { make, id } = await stored({ n: 1 }, { serializer });
  const again = make(id);
  await again.start();
  t.is(again.get('toString'), null);
  again.set('n', 2);
  await again.writeClose();
  const third = make(id);
  await third.start();
  t.is(third.get('n'), 2);
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) for (const inner of Object.values(value)) deepFreeze(inner);
  return Object.freeze(value);
}

test('Manager › serializer › a custom serializer is used both ways', async (t) => {
  const serializer = { stringify: (v: unknown) => `B64:${Buffer.from(JSON.stringify(v)).toString('base64')}`, parse: (s: string) => JSON.parse(Buffer.from(s.slice(4), 'base64').toString()) };
  const { store, make, id } = await stored({ a: 1 }, { serializer });
  t.regex((await store.read(id))!, /^B64:/);
  const again = make(id);
  await again.start();
  t.is(again.get('a'), 1);
});

test('Manager › regenerateId › before start does nothing', async (t) => {
  const { session } = setup();
  t.is(await session.regenerateId(), session);
  t.is(session.getId(), '');
});

test('Manager › strict mode › an id the store does not know is replaced by a fresh one', async (t) => {
  const events = new CountingEmitter();
  const expired: unknown[] = [];
  events.on('session:expired', (e) => expired.push(e.reason));
  const { session } = setup({ events }, 'madeUpByAnAttacker123');
  await session.start();
  t.not(session.getId(), 'madeUpByAnAttacker123');
  t.is(session.getId().length, 32);
  t.deepEqual(expired, ['missing']);
});

test('Manager › strict mode off › an unknown but valid id is adopted (PHP use_strict_mode=0)', async (t) => {
  const { session } = setup({ strict: false }, 'chosenByTheClient1');
  await session.start();
  t.is(session.getId(), 'chosenByTheClient1');
});

for (const hostile of ['../../etc/passwd', 'a\u0000b', 'x'.repeat(5000), '<script>', 'a b', '']) {
  test(`Manager › hostile cookie ${JSON.stringify(hostile).slice(0, 20)} › gives a fresh session and an invalid event`, async (t) => {
    const events = new CountingEmitter();
    let invalid = 0;
    events.on('session:invalid', () => invalid++);
    const { session, adapter } = setup({ events, strict: false }, hostile);
    await session.start();
    t.not(session.getId(), hostile);
    t.is(session.getId().length, 32);
    t.is(invalid, 1);
    t.is(adapter.calls.length, 0, 'the hostile id never reaches the store');
  });
}

test('Manager › corrupt data › gives a fresh session under a new id and leaves the record alone', async (t) => {
  const events = new CountingEmitter();
  const seen: string[] = [];
  events.on('session:invalid', (e) => seen.push(e.reason));
  const { store, make } = setup({ events });
  await store.write('corruptRecord1', '{not json', 60);
  const session = make('corruptRecord1');
  await session.start();
  t.not(session.getId(), 'corruptRecord1');
  session.set('a', 1);
  await session.writeClose();
  t.is(await store.read('corruptRecord1'), '{not json', 'never overwritten with an empty or new session');
  t.deepEqual(seen, ['data']);
});

test('Manager › corrupt data › a record of the wrong shape counts as corrupt', async (t) => {
  const { store, make } = setup();
  for (const text of ['[]', '42', 'null', '{"c":"x","d":{}}', '{"c":1,"d":[]}']) {
    await store.write('wrongShape1', text, 60);
    const session = make('wrongShape1');
    await session.start();
    t.not(session.getId(), 'wrongShape1', text);
  }
});

test('Manager › decoding › __proto__ and constructor keys never reach an object prototype', async (t) => {
  const { store, make } = setup();
  await store.write('protoRecord1', '{"c":1,"d":{"__proto__":{"polluted":true},"a":{"constructor":{"prototype":{"x":1}},"ok":1}}}', 60);
  const session = make('protoRecord1');
  await session.start();
  t.is(session.getId(), 'protoRecord1');
  t.is(({} as Record<string, unknown>).polluted, undefined);
  t.deepEqual(session.get('a'), { ok: 1 });
  t.is(session.get('__proto__'), null);
  const merged = Object.assign({}, session.get('a'));
  t.is(Object.getPrototypeOf(merged), Object.prototype);
});

test('Manager › absolute lifetime › an older session is replaced and its record deleted', async (t) => {
  const events = new CountingEmitter();
  const reasons: string[] = [];
  events.on('session:expired', (e) => reasons.push(e.reason));
  const { store, make } = setup({ absoluteLifetime: 60, events });
  await store.write('oldSession12', JSON.stringify({ c: Date.now() - 61_000, d: { a: 1 } }), 600);
  const session = make('oldSession12');
  await session.start();
  t.not(session.getId(), 'oldSession12');
  t.is(session.get('a'), null);
  t.is(await store.read('oldSession12'), null);
  t.deepEqual(reasons, ['absolute']);
});

test('Manager › absolute lifetime › the cookie Max-Age is capped by what is left of it', async (t) => {
  const { store, make } = setup({ absoluteLifetime: 100, lifetime: 3600 });
  await store.write('youngSession', JSON.stringify({ c: Date.now() - 40_000, d: { a: 1 } }), 600);
  const transport = new FakeTransport('youngSession');
  const session = make('youngSession', transport);
  await session.start();
  await session.writeClose();
  const maxAge = transport.written[0].maxAge;
  t.true(maxAge > 55 && maxAge <= 60, String(maxAge));
});

test('Manager › store down › start rejects with AdapterRuntimeError, never an empty session', async (t) => {
  const events = new CountingEmitter();
  const errors: string[] = [];
  events.on('session:storeError', (e) => errors.push(`${e.operation} ${e.id}`));
  const session = new Manager({ events }).setAdapter(new DownAdapter()).setTransport(new FakeTransport('existingSession1'));
  const err = await t.throwsAsync(session.start(), { code: 'ERR_SESSION_STORE' });
  t.is((err as Error & { status: number }).status, 503);
  t.regex(err!.message, /ECONNREFUSED/);
  t.false(session.exists());
  t.deepEqual(errors, ['read existingSession1'], 'the event names the session whose read failed');
});

test('Manager › store down › a failed lock or write is reported as session:storeError with its operation, a SessionError as it is', async (t) => {
  const events = new CountingEmitter();
  const errors: string[] = [];
  events.on('session:storeError', (e) => errors.push(`${e.operation} ${e.id} ${(e.error as Error & { code?: string }).code}`));
  const store = new MemoryAdapter();
  const noLock = Object.assign(Object.create(store), { lock: async () => { throw new Error('lock table full'); } });
  const locked = new Manager({ events }).setAdapter(noLock).setTransport(new FakeTransport('lockedSession2'));
  const err = await t.throwsAsync(locked.start(), { code: 'ERR_SESSION_STORE' });
  t.regex(err!.message, /Session store lock failed: lock table full/);
  const timeout = Object.assign(Object.create(store), { lock: async () => { throw new SessionLockTimeout('x.lock', 5); } });
  await t.throwsAsync(new Manager({ events }).setAdapter(timeout).setTransport(new FakeTransport('lockedSession3')).start(), { code: 'ERR_SESSION_LOCK_TIMEOUT' });
  const noWrite = Object.assign(Object.create(store), { write: async () => { throw new Error('disk full'); } });
  const writing = new Manager({ events, locking: false }).setAdapter(noWrite);
  await writing.start();
  writing.set('a', 1);
  await t.throwsAsync(writing.writeClose(), { code: 'ERR_SESSION_STORE', message: /Session store write failed: disk full/ });
  t.deepEqual(errors, [
    'lock lockedSession2 ERR_SESSION_STORE',
    'lock lockedSession3 ERR_SESSION_LOCK_TIMEOUT',
    `write ${writing.getId()} ERR_SESSION_STORE`,
  ]);
});

test('Manager › store down › a failed read releases the lock', async (t) => {
  const store = new MemoryAdapter();
  const failing = Object.assign(Object.create(store), { read: async () => { throw new Error('disk on fire'); } });
  const first = new Manager().setAdapter(failing).setTransport(new FakeTransport('lockedSession1'));
  await t.throwsAsync(first.start(), { code: 'ERR_SESSION_STORE' });
  const lock = await store.lock('lockedSession1', { wait: 0.1, expiry: 30 });
  t.is(lock.waitedMs, 0);
  await lock.release();
});

test('Manager › events › nothing is emitted when nobody listens', async (t) => {
  const events = new CountingEmitter();
  const { session } = setup({ events }, 'unknownId12345');
  await session.start();
  session.set('a', 1);
  await session.regenerateId();
  await session.destroy();
  t.is(events.emitted, 0);
});

test('Manager › events › carry the session and the transport context', async (t) => {
  const events = new CountingEmitter();
  const seen: string[] = [];
  for (const name of ['session:started', 'session:created', 'session:regenerated', 'session:destroyed']) {
    events.on(name, (e) => {
      t.truthy(e.session);
      t.deepEqual(e.context, { fake: true });
      seen.push(name);
    });
  }
  const { session } = setup({ events });
  await session.start();
  await session.regenerateId();
  await session.destroy();
  t.deepEqual(seen, ['session:created', 'session:started', 'session:regenerated', 'session:destroyed']);
});

test('Manager › locking › a second request of one session waits until the first commits', async (t) => {
  const events = new CountingEmitter();
  const waited: number[] = [];
  events.on('session:lockWaited', (e) => waited.push(e.waitedMs));
  const { make, id } = await stored({ n: 0 }, { events });
  const first = make(id);
  await first.start();
  const second = make(id);
  let secondStarted = false;
  const starting = second.start().then(() => { secondStarted = true; });
  await new Promise((r) => setTimeout(r, 50));
  t.false(secondStarted);
  first.set('n', 1);
  await first.writeClose();
  await starting;
  t.is(second.get('n'), 1, 'the second request reads what the first wrote');
  await second.writeClose();
  t.is(waited.length, 1);
  t.true(waited[0] >= 40);
});

test('Manager › locking › off: requests do not wait for each other', async (t) => {
  const { make, id } = await stored({ n: 0 }, { locking: false });
  const first = make(id);
  await first.start();
  const second = make(id);
  await second.start();
  t.is(second.get('n'), 0);
  await first.writeClose();
  await second.writeClose();
});

test('Manager › locking › a lock that cannot be had rejects with SessionLockTimeout', async (t) => {
  const { make, id } = await stored({ n: 0 }, { locking: { wait: 0.1 } });
  const first = make(id);
  await first.start();
  await t.throwsAsync(make(id).start(), { code: 'ERR_SESSION_LOCK_TIMEOUT', instanceOf: Error });
  await first.writeClose();
});

test('Manager › locking › a request that lost its lock cannot overwrite newer data', async (t) => {
  const { store, make, id } = await stored({ n: 0 }, { locking: { expiry: 0.2, renew: false } });
  const slow = make(id);
  await slow.start();
  await new Promise((r) => setTimeout(r, 300));
  const fast = make(id);
  await fast.start();
  fast.set('n', 2);
  await fast.writeClose();
  slow.set('n', 1);
  await t.throwsAsync(slow.writeClose(), { code: 'ERR_SESSION_LOCK_LOST' });
  t.deepEqual(JSON.parse((await store.read(id))!).d, { n: 2 });
});

test('Manager › start › two calls at once share one load and one lock', async (t) => {
  const { make, id, adapter } = await stored({ n: 1 }, { locking: { wait: 0.3 } });
  adapter.calls.length = 0;
  const session = make(id);
  const [a, b] = await Promise.all([session.start(), session.start()]);
  t.true(a && b);
  t.is(adapter.count('lock'), 1);
  t.is(adapter.count('read'), 1);
  await session.writeClose();
  const next = make(id);
  await t.notThrowsAsync(next.start(), 'the one lock was released');
  await next.writeClose();
});

test('Manager › start › a failed start is not kept: the next start() asks the store again', async (t) => {
  const memory = new MemoryAdapter();
  let down = true;
  let reads = 0;
  const flaky: MemoryAdapter = Object.create(memory);
  flaky.read = (id: string) => {
    reads++;
    return down ? Promise.reject(new Error('store down')) : memory.read(id);
  };
  const session = new Manager({ locking: false }).setAdapter(flaky).setTransport(new FakeTransport('a'.repeat(32)));
  await t.throwsAsync(session.start(), { code: 'ERR_SESSION_STORE' });
  await t.throwsAsync(session.start(), { code: 'ERR_SESSION_STORE' }, 'a second try, not the first failure replayed');
  t.false(session.exists());
  down = false;
  t.true(await session.start());
  t.true(session.exists());
  t.is(reads, 3);
});

test('Manager › start › headers sent after a failed start: the next start() resolves false', async (t) => {
  const transport = new FakeTransport('a'.repeat(32));
  const session = new Manager().setAdapter(new DownAdapter()).setTransport(transport);
  await t.throwsAsync(session.start(), { code: 'ERR_SESSION_STORE' });
  transport.sent = true;
  t.false(await session.start());
});

test('Manager › set › refuses, naming the key, what would come back changed after a reload; nothing is set', async (t) => {
  const { session } = setup();
  await session.start();
  for (const value of [() => 1, 10n, new Date(0), new Map([[1, 2]]), Number.NaN]) {
    const err = t.throws(() => session.set('bad', value), { code: 'ERR_SESSION_INVALID_VALUE' });
    t.regex(err!.message, /"bad"/);
    t.false(session.has('bad'));
  }
});

test('Manager › set › undefined removes the key', async (t) => {
  const { session } = setup();
  await session.start();
  session.set('a', 1);
  session.set('a', undefined);
  t.false(session.has('a'));
  t.deepEqual(Object.keys(JSON.parse(JSON.stringify({ ...(session as unknown as object) }))), []);
});

test('Manager › options › an unknown option throws InvalidOption naming it', (t) => {
  const err = t.throws(() => new Manager({ uniqeId: 'x' } as ManagerOptions), { code: 'ERR_SESSION_INVALID_OPTION' });
  t.regex(err!.message, /uniqeId.*did you mean "uniqueId"/);
});
