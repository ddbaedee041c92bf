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
