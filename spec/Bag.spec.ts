import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Bag } from '../lib/Bag';
import { Manager } from '../lib/Manager';
import type { ManagerOptions } from '../lib/Manager';
import { NoopAdapter } from '../lib/adapters/NoopAdapter';

/** Keeps what was written, so a second Manager can resume the session and the raw data can be read. */
class MemoryStore extends NoopAdapter {
  readonly records = new Map<string, string>();

  override async read(id?: string): Promise<string | null> {
    return this.records.get(id!) ?? null;
  }

  override async write(id?: string, data?: string): Promise<void> {
    this.records.set(id!, data!);
  }

  /** The session data exactly as stored, with prefixed keys. */
  data(id: string): Record<string, unknown> {
    return (JSON.parse(this.records.get(id)!) as { d: Record<string, unknown> }).d;
  }
}

async function started(options: ManagerOptions = {}, adapter = new NoopAdapter()): Promise<Manager> {
  const manager = new Manager(options).setAdapter(adapter);
  await manager.start();
  return manager;
}

async function bagWith(group: Record<string, unknown>): Promise<{ m: Manager; bag: Bag }> {
  const m = await started();
  m.set('cart', group);
  return { m, bag: new Bag(m, 'cart') };
}

/** Property access as an app uses it. */
function props(bag: Bag): Record<string, unknown> {
  return bag as Record<string, unknown>;
}

test('Bag › construction › reads the group stored under its name', async (t) => {
  const { bag } = await bagWith({ Items: 3 });
  t.is(bag.get('items'), 3);
  t.deepEqual(bag.keys(false), ['Items']);
});

for (const stored of [[1, 2], 'text', 7, null]) {
  test(`Bag › construction › starts empty when the session holds ${JSON.stringify(stored)}`, async (t) => {
    const m = await started();
    m.set('cart', stored);
    const bag = new Bag(m, 'cart');
    t.true(bag.isEmpty());
    t.deepEqual(bag.toArray(), {});
  });
}

test('Bag › construction › writes nothing to the session (deviation from Phalcon)', async (t) => {
  const m = await started();
  t.is(new Bag(m, 'x').get('a'), null);
  t.false(m.has('x'));
  t.is(m.get('x'), null);
});

test('Bag › construction › leaves a fresh session empty, so nothing is stored', async (t) => {
  const store = new MemoryStore();
  const m = await started({}, store);
  new Bag(m, 'x').has('a');
  await m.writeClose();
  t.is(store.records.size, 0);
});

test('Bag › construction › reads the session once: a later change of the group is not seen', async (t) => {
  const { m, bag } = await bagWith({ a: 1 });
  m.set('cart', { a: 2, b: 3 });
  t.is(bag.get('a'), 1);
  t.false(bag.has('b'));
});

test('Bag › getName › returns the session key of the group', async (t) => {
  t.is(new Bag(await started(), 'cart').getName(), 'cart');
});

test('Bag › set › writes the whole group back to the session', async (t) => {
  const { m, bag } = await bagWith({ a: 1 });
  bag.set('b', 2);
  t.deepEqual(m.get('cart'), { a: 1, b: 2 });
  bag.set('a', 5);
  t.deepEqual(m.get('cart'), { a: 5, b: 2 });
});

test('Bag › set › writes a copy: a later change does not alter the group already in the session', async (t) => {
  const { m, bag } = await bagWith({});
  bag.set('a', 1);
  const written = m.get('cart');
  bag.set('b', 2);
  t.deepEqual(written, { a: 1 });
});

test('Bag › set › the group reaches the store and the next request', async (t) => {
  const store = new MemoryStore();
  const first = await started({}, store);
  new Bag(first, 'cart').set('Items', 3);
  await first.writeClose();
  const second = new Manager().setAdapter(store).setId(first.getId());
  await second.start();
  const bag = new Bag(second, 'cart');
  t.is(bag.get('items'), 3);
  t.deepEqual(bag.toArray(), { Items: 3 });
});

test('Bag › set › keys are case-insensitive', async (t) => {
  const { bag } = await bagWith({});
  bag.set('Foo', 1);
  t.is(bag.get('foo'), 1);
  t.is(bag.get('FOO'), 1);
  t.true(bag.has('fOo'));
});

test('Bag › set › a key in a new casing evicts the old entry and keeps the new casing', async (t) => {
  const { m, bag } = await bagWith({});
  bag.set('foo', 1);
  bag.set('Foo', 2);
  t.is(bag.count(), 1);
  t.deepEqual(bag.toArray(), { Foo: 2 });
  t.deepEqual(m.get('cart'), { Foo: 2 });
});

test('Bag › set › the same casing keeps its position, a new casing moves to the end (PHP arrays)', async (t) => {
  const { bag } = await bagWith({ a: 1, b: 2 });
  bag.set('a', 3);
  t.deepEqual(bag.keys(false), ['a', 'b']);
  bag.set('A', 4);
  t.deepEqual(bag.keys(false), ['b', 'A']);
});

test('Bag › set › a key named __proto__ is refused: a reload would drop it', async (t) => {
  const { m, bag } = await bagWith({ kept: 1 });
  t.throws(() => bag.set('__proto__', 1), { code: 'ERR_SESSION_INVALID_VALUE' });
  t.deepEqual({ ...m.get<Record<string, unknown>>('cart')! }, { kept: 1 });
});

test('Bag › has › is true for a key holding null (unlike Manager)', async (t) => {
  const { m, bag } = await bagWith({ gone: null });
  t.true(bag.has('gone'));
  t.true(bag.has('GONE'));
  t.false(bag.has('missing'));
  m.set('gone', null);
  t.false(m.has('gone'));
});

test('Bag › get › returns the default for a missing key and for a null value', async (t) => {
  const { bag } = await bagWith({ gone: null });
  t.is(bag.get('missing'), null);
  t.is(bag.get('missing', 'd'), 'd');
  t.is(bag.get('gone', 'd'), 'd');
});

test('Bag › get › returns falsy values other than null as they are', async (t) => {
  const { bag } = await bagWith({ zero: 0, empty: '', no: false });
  t.is(bag.get('zero', 9), 0);
  t.is(bag.get('empty', 'd'), '');
  t.is(bag.get('no', true), false);
});

test('Bag › remove › deletes case-insensitively and writes the group back', async (t) => {
  const { m, bag } = await bagWith({ A: 1, b: 2 });
  bag.remove('a');
  t.false(bag.has('A'));
  t.deepEqual(m.get('cart'), { b: 2 });
});

test('Bag › remove › writes the group back even when nothing was removed (Phalcon)', async (t) => {
  const m = await started();
  new Bag(m, 'cart').remove('nothing');
  t.true(m.has('cart'));
  t.deepEqual(m.get('cart'), {});
});

test('Bag › init › merges into the existing items and writes the whole group', async (t) => {
  const { m, bag } = await bagWith({ a: 1, b: 2 });
  bag.init({ B: 3, c: 4 });
  t.deepEqual(bag.toArray(), { a: 1, B: 3, c: 4 });
  t.deepEqual(m.get('cart'), { a: 1, B: 3, c: 4 });
});

test('Bag › clear › empties the bag and deletes the session key', async (t) => {
  const store = new MemoryStore();
  const m = await started({}, store);
  m.set('other', 1);
  const bag = new Bag(m, 'cart');
  bag.set('a', 1);
  bag.clear();
  t.true(bag.isEmpty());
  t.false(m.has('cart'));
  await m.writeClose();
  t.deepEqual(store.data(m.getId()), { other: 1 });
});

test('Bag › replace › keeps only the new data, in the session too', async (t) => {
  const { m, bag } = await bagWith({ a: 1 });
  bag.replace({ B: 2 });
  t.deepEqual(bag.toArray(), { B: 2 });
  t.deepEqual(m.get('cart'), { B: 2 });
});

test('Bag › not started › changes stay in memory only', async (t) => {
  const m = new Manager().setAdapter(new NoopAdapter());
  const bag = new Bag(m, 'cart');
  bag.set('a', 1);
  bag.remove('b');
  t.is(bag.get('a'), 1);
  await m.start();
  t.false(m.has('cart'));
});

const afterWriteClose = test.macro({
  async exec(t: ExecutionContext, change: (bag: Bag) => void) {
    const { m, bag } = await bagWith({ a: 1 });
    await m.writeClose();
    t.throws(() => change(bag), { code: 'ERR_SESSION_MODIFICATION_DENIED' });
    t.deepEqual(bag.toArray(), { a: 1 });
    t.deepEqual(m.get('cart'), { a: 1 });
  },
  title: (name = '') => `Bag › after writeClose › ${name} throws SessionModificationDenied and leaves the bag unchanged`,
});

test('set', afterWriteClose, (bag) => bag.set('a', 2));
test('set of a new key', afterWriteClose, (bag) => bag.set('b', 2));
test('remove', afterWriteClose, (bag) => bag.remove('a'));
test('init', afterWriteClose, (bag) => bag.init({ b: 2 }));
test('clear', afterWriteClose, (bag) => bag.clear());
test('replace', afterWriteClose, (bag) => bag.replace({ b: 2 }));
test('a property write', afterWriteClose, (bag) => { props(bag).a = 2; });
test('a property delete', afterWriteClose, (bag) => { delete props(bag).a; });

test('Bag › after writeClose › reads still work', async (t) => {
  const { m, bag } = await bagWith({ a: 1 });
  await m.writeClose();
  t.is(bag.get('a'), 1);
});

test('Bag › property access › reads, writes, checks and deletes items', async (t) => {
  const { m, bag } = await bagWith({ Foo: 1 });
  const p = props(bag);
  t.is(p.foo, 1);
  t.is(p.missing, null);
  p.bar = 2;
  t.is(bag.get('bar'), 2);
  t.deepEqual(m.get('cart'), { Foo: 1, bar: 2 });
  t.true('FOO' in bag);
  t.false('missing' in bag);
  delete p.foo;
  t.false(bag.has('foo'));
  t.deepEqual(m.get('cart'), { bar: 2 });
});

test('Bag › property access › class members win over items of the same name', async (t) => {
  const { bag } = await bagWith({ count: 5 });
  t.is(typeof bag.count, 'function');
  t.is(bag.count(), 1);
  t.is(bag.get('count'), 5);
  t.throws(() => { props(bag).count = 1; }, { instanceOf: TypeError });
  t.throws(() => { delete props(bag).get; }, { instanceOf: TypeError });
  t.true('count' in bag);
  t.true('toArray' in bag);
  t.false(bag.has('toArray'));
});

test('Bag › property access › methods work detached and are the same function each time', async (t) => {
  const { bag } = await bagWith({ a: 1 });
  const { get, set } = bag;
  set('b', 2);
  t.is(get('b'), 2);
  t.is(bag.get, get);
});

test('Bag › iteration › yields [key, value] in insertion order with the original casing', async (t) => {
  const { bag } = await bagWith({ Zed: 1, alpha: 2 });
  bag.set('Mid', 3);
  t.deepEqual([...bag], [['Zed', 1], ['alpha', 2], ['Mid', 3]]);
});

test('Bag › keys › lower-cased by default, original casing when insensitive is false', async (t) => {
  const { bag } = await bagWith({ Zed: 1, alpha: 2 });
  t.deepEqual(bag.keys(), ['zed', 'alpha']);
  t.deepEqual(bag.keys(false), ['Zed', 'alpha']);
});

test('Bag › values, count and isEmpty › reflect the items', async (t) => {
  const { bag } = await bagWith({ a: 1, b: null });
  t.deepEqual(bag.values(), [1, null]);
  t.is(bag.count(), 2);
  t.false(bag.isEmpty());
  bag.clear();
  t.is(bag.count(), 0);
  t.true(bag.isEmpty());
});

test('Bag › toArray › returns a copy with the original keys', async (t) => {
  const { m, bag } = await bagWith({ Foo: 1 });
  const copy = bag.toArray();
  copy.bar = 2;
  delete copy.Foo;
  t.deepEqual(bag.toArray(), { Foo: 1 });
  t.deepEqual(m.get('cart'), { Foo: 1 });
});

test('Bag › toJSON › serializes the items with the original keys', async (t) => {
  const { bag } = await bagWith({ Foo: 1, bar: 'x' });
  t.is(JSON.stringify(bag), '{"Foo":1,"bar":"x"}');
});

test('Bag › uniqueId › the group is stored under the prefixed key, out of reach of another namespace', async (t) => {
  const store = new MemoryStore();
  const m = await started({ uniqueId: 'app1' }, store);
  new Bag(m, 'cart').set('a', 1);
  await m.writeClose();
  t.deepEqual(store.data(m.getId()), { 'app1#cart': { a: 1 } });

  const other = new Manager({ uniqueId: 'app2' }).setAdapter(store).setId(m.getId());
  await other.start();
  t.true(new Bag(other, 'cart').isEmpty());
  const same = new Manager({ uniqueId: 'app1' }).setAdapter(store).setId(m.getId());
  await same.start();
  t.is(new Bag(same, 'cart').get('a'), 1);
});
