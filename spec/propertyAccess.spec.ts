import test from 'ava';
import { Bag } from '../lib/Bag';
import { Manager } from '../lib/Manager';
import { REQUIRE_START } from '../lib/manager/internal';
import { MemoryAdapter } from '../lib/adapters/MemoryAdapter';
import { unwrap, withPropertyAccess } from '../lib/propertyAccess';

class Store {
  #data = new Map<string, unknown>();
  label = 'store';
  constructor() { return withPropertyAccess(this); }
  get(key: string) { return this.#data.get(key) ?? null; }
  set(key: string, value: unknown) { this.#data.set(key, value); }
  has(key: string) { return this.#data.has(key); }
  remove(key: string) { this.#data.delete(key); }
  size() { return this.#data.size; }
}

test('withPropertyAccess › properties reach get/set/has/remove', (t) => {
  const s = new Store() as Store & Record<string, unknown>;
  s.color = 'red';
  t.is(s.get('color'), 'red');
  t.is(s.color, 'red');
  t.true('color' in s);
  delete s.color;
  t.false(s.has('color'));
  t.is(s.missing, null);
});

test('withPropertyAccess › class members win, and methods work with #private fields', (t) => {
  const s = new Store() as Store & Record<string, unknown>;
  t.is(s.label, 'store');
  const { size } = s;
  s.set('a', 1);
  t.is(size(), 1, 'a detached method is bound to the target');
  t.is(s.size, s.size, 'bound once per instance');
  const loose = s as unknown as Record<string, unknown>;
  t.throws(() => { loose.size = 1; }, { instanceOf: TypeError });
  t.throws(() => { delete loose.size; }, { instanceOf: TypeError });
  t.false(s.has('size'));
});

test('withPropertyAccess › the method cache is not serialized or enumerable', (t) => {
  const s = new Store();
  s.size();
  t.deepEqual(Object.keys(s), ['label']);
  t.is(JSON.stringify(s), '{"label":"store"}');
});

test('withPropertyAccess › unwrap() gives the target behind a view, and anything else back as it is', (t) => {
  const s = new Store();
  const raw = unwrap(s);
  t.not(raw, s);
  raw.set('a', 1);
  t.is(s.get('a'), 1, 'the same data');
  t.is(raw.get('missing'), null);
  t.is((raw as unknown as Record<string, unknown>).missing, undefined, 'no property access on the target');
  const plain = { x: 1 };
  t.is(unwrap(plain), plain);
});

test('withPropertyAccess › then is reserved: `await view` gives the view, never a thenable made of the data', async (t) => {
  const s = new Store() as Store & Record<string, unknown>;
  s.set('then', (resolve: (value: unknown) => void) => resolve('the data'));
  t.is(await s, s);
  t.is(await Promise.resolve(s), s);
  t.is(await (async () => s)(), s, 'returned from an async function');
  t.is(s.then, undefined);
  t.false('then' in s);
  t.is(typeof s.get('then'), 'function', 'the key stays reachable through get()');
});

test('withPropertyAccess › then is reserved: writing or deleting it as a property is a TypeError, as for members', (t) => {
  const s = new Store() as Store & Record<string, unknown>;
  t.throws(() => { s.then = 1; }, { instanceOf: TypeError });
  t.false(s.has('then'), 'nothing stored: it could never be read back as s.then');
  s.set('then', 1);
  t.throws(() => { delete s.then; }, { instanceOf: TypeError });
  t.is(s.get('then'), 1);
});

test('withPropertyAccess › await on a Manager or a Bag resolves it, before and after start()', async (t) => {
  const m = new Manager().setAdapter(new MemoryAdapter());
  t.is(await m, m, 'before start');
  await m.start();
  m.set('then', 'a value named then');
  t.is(await m, m, 'after start');
  const bag = new Bag(m, 'cart');
  bag.set('then', 1);
  t.is(await bag, bag);
});

test('withPropertyAccess › await on a lazy Manager (start required) resolves it instead of throwing SessionNotStarted', async (t) => {
  const m = new Manager().setAdapter(new MemoryAdapter());
  m[REQUIRE_START]();
  t.is(await m, m, 'before start: the data is not touched');
  t.throws(() => m.get('x'), { code: 'ERR_SESSION_NOT_STARTED' }, 'reading the data still requires the start');
  await m.start();
  t.is(await m, m);
});
