import test from 'ava';
import { JsonSerializer } from '../../lib/serializers/JsonSerializer';

const json = new JsonSerializer();

test('JsonSerializer › round-trips plain data', (t) => {
  const value = { a: 1, b: 'ü <x>', c: [1, { d: null }], e: true };
  t.deepEqual(json.parse(json.stringify(value)), value);
});

test('JsonSerializer › drops __proto__, constructor and prototype keys at every depth', (t) => {
  const parsed = json.parse('{"__proto__":{"polluted":1},"a":{"b":[{"constructor":{"prototype":{"x":1}},"keep":2}]},"prototype":3}') as any;
  t.deepEqual(parsed, { a: { b: [{ keep: 2 }] } });
  t.false(Object.hasOwn(parsed, '__proto__'));
  t.is(({} as any).polluted, undefined);
  t.is(Object.assign({}, parsed).polluted, undefined);
});

test('JsonSerializer › a key spelled with escapes is dropped too', (t) => {
  const parsed = json.parse('{"\\u005f_proto__":{"isAdmin":true},"ok":1}') as any;
  t.deepEqual(parsed, { ok: 1 });
  t.is(Object.assign({}, parsed).isAdmin, undefined);
});

test('JsonSerializer › a value that merely contains the words is kept', (t) => {
  t.deepEqual(json.parse('{"note":"constructor"}'), { note: 'constructor' });
});

test('JsonSerializer › undecodable text throws (the Manager turns it into a fresh session)', (t) => {
  t.throws(() => json.parse('{"a":'));
});

test('JsonSerializer › check › accepts what JSON gives back as it is', (t) => {
  const shared = { x: 1 };
  for (const value of ['s', 0, -1.5, true, null, [], {}, [1, 'a', null], { a: { b: [shared, shared] } }, { optional: undefined }, Object.create(null)]) {
    t.is(json.check(value), undefined, JSON.stringify(value));
  }
});

test('JsonSerializer › check › names what JSON would change or lose, and where', (t) => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  class Cart { items = [] }
  const cases: Array<[unknown, RegExp]> = [
    [() => 1, /function/], [Symbol('s'), /symbol/], [10n, /BigInt/], [Number.NaN, /NaN would come back as null/],
    [Infinity, /Infinity/], [new Date(0), /Date would come back as a string/], [new Map(), /a Map/], [new Set(), /a Set/],
    [new Cart(), /instance of Cart/], [cycle, /cycle/], [[1, undefined], /undefined at \[1\]/],
    [{ a: { list: [{ when: new Date(0) }] } }, /Date at a\.list\[0\]\.when/], [JSON.parse('{"__proto__":1}'), /__proto__/],
    [{ constructor: 1 }, /constructor/],
  ];
  for (const [value, reason] of cases) t.regex(json.check(value) ?? 'accepted', reason);
});
