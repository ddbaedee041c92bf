import test from 'ava';
import { PHP_CLASS, PHP_ENUM, PHP_SERIALIZED, PhpFloat, PhpRaw, PhpValueError, phpFloatText, serialize, unserialize } from '../../lib/php';

const text = (value: unknown): string => serialize(value).toString('latin1');
/** Expected output: Latin-1 escapes stand for bytes, unless the text holds characters beyond them. */
const bytes = (expected: string): Buffer => Buffer.from(expected, /[^\x00-\xff]/.test(expected) ? 'utf8' : 'latin1');

const cases: Array<[string, unknown, string]> = [
  ['null', null, 'N;'], ['booleans', [true, false], 'a:2:{i:0;b:1;i:1;b:0;}'], ['an int', -42, 'i:-42;'],
  ['a safe integer', 9007199254740991, 'i:9007199254740991;'], ['a float', 0.1, 'd:0.1;'], ['a whole float beyond 2^53', 2 ** 60, 'd:1.152921504606847E+18;'],
  ['-0', -0, 'd:-0;'], ['NaN', NaN, 'd:NAN;'], ['Infinity', Infinity, 'd:INF;'], ['-Infinity', -Infinity, 'd:-INF;'],
  ['a PhpFloat', new PhpFloat(3), 'd:3;'], ['a BigInt', -(2n ** 63n), 'i:-9223372036854775808;'],
  ['a UTF-8 string, by byte length', 'Zoë 😀', 's:9:"Zoë 😀";'], ['a string with | " ;', 'a|"b;', 's:5:"a|"b;";'],
  ['a Buffer', Buffer.from([0xff, 0]), 's:2:"\xff\0";'], ['an empty array', [], 'a:0:{}'], ['an empty object', {}, 'a:0:{}'],
  ['a map, integer-like keys as i:', { 5: 'a', b: 1, '-3': 2, '05': 3, '-0': 4 }, 'a:5:{i:5;s:1:"a";s:1:"b";i:1;i:-3;i:2;s:2:"05";i:3;s:2:"-0";i:4;}'],
  ['an undefined property, left out', { a: 1, b: undefined }, 'a:1:{s:1:"a";i:1;}'],
  ['an object', { [PHP_CLASS]: 'App\\User', name: 'ada', '\0*\0role': 'x', 0: 'zero' }, 'O:8:"App\\User":3:{s:1:"0";s:4:"zero";s:4:"name";s:3:"ada";s:7:"\0*\0role";s:1:"x";}'],
  ['an enum', { [PHP_ENUM]: 'Suit:Hearts' }, 'E:11:"Suit:Hearts";'],
  ['a C: value', { [PHP_CLASS]: 'Old', [PHP_SERIALIZED]: 'a}b' }, 'C:3:"Old":3:{a}b}'],
];

for (const [name, value, expected] of cases) {
  test(`serialize › ${name} → ${JSON.stringify(expected)}`, (t) => {
    t.true(serialize(value).equals(bytes(expected)), serialize(value).toString('latin1'));
  });
}

test('serialize › an object met twice is r:, a cycle through objects too; an enum case met twice is r:', (t) => {
  const o: Record<string, unknown> = { [PHP_CLASS]: 'stdClass' };
  o.self = o;
  t.is(text([o, o]), 'a:2:{i:0;O:8:"stdClass":1:{s:4:"self";r:2;}i:1;r:2;}');
  t.is(text([{ [PHP_ENUM]: 'S:A' }, 5, { [PHP_ENUM]: 'S:A' }]), 'a:3:{i:0;E:3:"S:A";i:1;i:5;i:2;r:2;}');
});

test('serialize › an array shared twice is written twice (PHP arrays are values)', (t) => {
  const shared = [1];
  t.is(text({ a: shared, b: shared }), 'a:2:{s:1:"a";a:1:{i:0;i:1;}s:1:"b";a:1:{i:0;i:1;}}');
});

const floats: Array<[number, string]> = [
  [3, '3'], [0.1, '0.1'], [1e-7, '1.0E-7'], [1e15, '1000000000000000'], [1e16, '10000000000000000'], [1e17, '1.0E+17'],
  [0.0001, '0.0001'], [0.00001, '1.0E-5'], [123456789012345678, '1.2345678901234568E+17'], [5e-324, '5.0E-324'],
  [1.7976931348623157e308, '1.7976931348623157E+308'], [0.30000000000000004, '0.30000000000000004'], [-2.5, '-2.5'], [-1e-10, '-1.0E-10'],
];

for (const [n, expected] of floats) {
  test(`serialize › the float ${n} is written ${expected}, as PHP 8 writes it, and reads back the same`, (t) => {
    t.is(phpFloatText(n), expected);
    t.is(unserialize(Buffer.from(`d:${expected};`)), n);
  });
}

const refused: Array<[string, unknown, string]> = [
  ['undefined', undefined, ''], ['a function', { f: () => 1 }, 'f'], ['a symbol', [Symbol('x')], '[0]'],
  ['a Date', { at: new Date() }, 'at'], ['a Map', new Map(), ''], ['a class instance', { u: new (class User {})() }, 'u'],
  ['a BigInt beyond 64 bits', 2n ** 63n, ''], ['an array with holes', [1, , 3], '[1]'], ['undefined in an array', [undefined], '[0]'],
  ['a lone surrogate', { s: 'a\uD800' }, 's'], ['a PhpRaw', { r: new PhpRaw(Buffer.from('N;')) }, 'r'],
  ['an enum with more keys', { [PHP_ENUM]: 'S:A', x: 1 }, ''], ['an enum without a case', { [PHP_ENUM]: 'Suit' }, ''],
  ['a bad class name', { [PHP_CLASS]: 'A-B' }, ''], ['a C: with more keys', { [PHP_CLASS]: 'X', [PHP_SERIALIZED]: '', y: 1 }, ''],
];

for (const [name, value, path] of refused) {
  test(`serialize › refuses ${name} with ERR_PHP_VALUE at "${path}"`, (t) => {
    t.throws(() => serialize(value), { instanceOf: PhpValueError, code: 'ERR_PHP_VALUE' });
    t.is((t.throws(() => serialize(value)) as PhpValueError).path, path);
  });
}

test('serialize › a cycle through arrays is refused; depth and size are bounded', (t) => {
  const a: unknown[] = [];
  a.push(a);
  t.throws(() => serialize(a), { code: 'ERR_PHP_VALUE', message: /cycle/ });
  let deep: unknown = null;
  for (let i = 0; i < 10; i++) deep = [deep];
  t.notThrows(() => serialize(deep, { maxDepth: 10 }));
  t.throws(() => serialize(deep, { maxDepth: 9 }), { code: 'ERR_PHP_VALUE', message: /deeper than 9/ });
  let wide: unknown = 'x'.repeat(100);
  for (let i = 0; i < 30; i++) wide = [wide, wide]; // 2^30 copies: refused at maxBytes, not after
  t.throws(() => serialize(wide, { maxBytes: 1_000_000 }), { code: 'ERR_PHP_VALUE', message: /maxBytes/ });
});

test('serialize › what unserialize reads, serialize writes back byte for byte', (t) => {
  for (const sample of ['a:3:{i:5;s:1:"a";s:1:"b";a:0:{}i:-1;O:8:"stdClass":0:{}}', 'O:3:"Foo":1:{s:6:"\0Foo\0c";a:1:{i:0;d:0.5;}}', 's:2:"\xff\xfe";', 'i:9223372036854775807;']) {
    t.is(text(unserialize(Buffer.from(sample, 'latin1'))), sample);
  }
});
