import test from 'ava';
import { PHP_CLASS, PHP_ENUM, PHP_SERIALIZED, PhpSerializeError, serialize, unserialize } from '../../lib/php';

const read = (text: string): unknown => unserialize(Buffer.from(text, 'latin1'));
const utf8 = (text: string): unknown => unserialize(Buffer.from(text, 'utf8'));

const values: Array<[string, unknown]> = [
  ['N;', null], ['b:0;', false], ['b:1;', true], ['i:0;', 0], ['i:-42;', -42], ['i:+5;', 5], ['i:-0;', 0],
  ['i:9007199254740991;', 9007199254740991], ['i:9007199254740992;', 9007199254740992n],
  ['i:9223372036854775807;', 9223372036854775807n], ['i:-9223372036854775808;', -9223372036854775808n],
  ['d:0.1;', 0.1], ['d:3;', 3], ['d:1.0E-7;', 1e-7], ['d:1.5E+300;', 1.5e300], ['d:-2.5;', -2.5], ['d:.5;', 0.5], ['d:5.;', 5],
  ['d:1e5;', 1e5], ['d:INF;', Infinity], ['d:-INF;', -Infinity], ['s:0:"";', ''], ['s:5:"a|b;"";', 'a|b;"'],
  ['a:0:{}', []], ['a:2:{i:0;s:1:"a";i:1;N;}', ['a', null]], ['a:1:{s:1:"0";i:7;}', [7]],
  ['a:2:{i:1;s:1:"b";i:0;s:1:"a";}', { 0: 'a', 1: 'b' }], ['a:2:{s:1:"k";i:1;i:-3;i:2;}', { k: 1, '-3': 2 }],
  ['a:1:{i:99999999999999999;b:1;}', { '99999999999999999': true }],
  ['O:8:"stdClass":1:{s:1:"a";i:1;}', { [PHP_CLASS]: 'stdClass', a: 1 }],
  ['O:3:"Foo":2:{s:4:"\0*\0b";i:1;s:6:"\0Foo\0c";i:2;}', { [PHP_CLASS]: 'Foo', '\0*\0b': 1, '\0Foo\0c': 2 }],
  ['O:8:"App\\User":0:{}', { [PHP_CLASS]: 'App\\User' }],
  ['E:11:"Suit:Hearts";', { [PHP_ENUM]: 'Suit:Hearts' }],
  ['C:3:"Old":5:{a|b;}}', { [PHP_CLASS]: 'Old', [PHP_SERIALIZED]: 'a|b;}' }],
];

for (const [text, expected] of values) {
  test(`unserialize › ${JSON.stringify(text)} reads as the notes say`, (t) => {
    t.deepEqual(read(text), expected);
  });
}

test('unserialize › NaN and -0 come as NaN and -0', (t) => {
  t.true(Number.isNaN(read('d:NAN;')));
  t.true(Object.is(read('d:-0;'), -0));
  t.true(Object.is(read('d:-0.0;'), -0));
});

test('unserialize › lengths are bytes: UTF-8 strings are strings, other bytes a Buffer', (t) => {
  t.is(utf8('s:6:"héllo";'), 'héllo');
  t.is(utf8('s:4:"😀";'), '😀');
  t.deepEqual(read('s:3:"\xff\x00a";'), Buffer.from([0xff, 0, 0x61]));
  t.deepEqual(read('C:1:"X":1:{\xff}'), { [PHP_CLASS]: 'X', [PHP_SERIALIZED]: Buffer.from([0xff]) });
  t.throws(() => utf8('s:5:"héllo";'), { code: 'ERR_PHP_SERIALIZE' });
});

test('unserialize › r: and R: are the values of their slots, numbered as PHP numbers them', (t) => {
  const v = read('a:4:{i:0;O:8:"stdClass":0:{}i:1;r:2;i:2;i:5;i:3;R:4;}') as unknown[];
  t.is(v[1], v[0]);
  t.is(v[3], 5);
  const w = read('a:3:{s:1:"a";a:1:{i:0;i:1;}s:1:"b";R:2;s:1:"e";E:6:"S:Case";}') as Record<string, unknown>;
  t.is(w.b, w.a);
});

test('unserialize › a key "__proto__" is an own property, no prototype is touched', (t) => {
  const v = read('a:1:{s:9:"__proto__";a:1:{s:5:"admin";b:1;}}') as Record<string, unknown>;
  t.true(Object.prototype.hasOwnProperty.call(v, '__proto__'));
  t.is(Object.getPrototypeOf(v), Object.prototype);
  t.is(({} as Record<string, unknown>).admin, undefined);
});

const malformed: Array<[string, string]> = [
  ['', 'empty'], ['N', 'truncated null'], ['i:1', 'no ;'], ['i:;', 'no digits'], ['i:1x;', 'junk in int'],
  ['i:9223372036854775808;', 'beyond int64'], ['i:00000000000000000000000001;', 'leading zeros are fine'],
  ['b:2;', 'bad bool'], ['d:1.2.3;', 'bad float'], ['d:inf;', 'lower-case inf'], ['d:+INF;', '+INF'], ['d:;', 'empty float'],
  ['s:5:"abc";', 'length past the end'], ['s:2:"abc";', 'length too short'], ['s:-1:"";', 'negative length'], ['s:3:"abc"', 'no ;'],
  ['N;N;', 'trailing value'], ['i:1; ', 'trailing space'], ['a:1:{i:0;i:1;', 'no }'], ['a:2:{i:0;i:1;}', 'count too large'],
  ['a:1:{i:0;i:1;i:1;i:2;}', 'count too small'], ['a:1:{d:1;i:1;}', 'float key'], ['a:1:{N;i:1;}', 'null key'],
  ['a:2:{i:0;i:1;i:0;i:2;}', 'duplicate key'], ['a:2:{i:5;i:1;s:1:"5";i:2;}', 'duplicate key across forms'],
  ['a:99999999:{}', 'absurd count'], ['s:99999999999999999999999:"', 'absurd length'], ['O:3:"A-B":0:{}', 'bad class name'],
  ['O:0:"":0:{}', 'empty class name'], ['E:4:"Suit";', 'enum without case'], ['E:6:"S:1bad";', 'enum case name'],
  ['R:1;', 'reference to nothing'], ['a:1:{i:0;r:5;}', 'reference past the slots'], ['r:0;', 'slot 0'],
  ['C:1:"X":9:{abc}', 'payload past the end'], ['S:1:"a";', 'S: (never written by PHP 7+)'], ['x', 'unknown type'],
];

for (const [text, why] of malformed) {
  test(`unserialize › refuses ${JSON.stringify(text)} (${why}) with ERR_PHP_SERIALIZE`, (t) => {
    if (why === 'leading zeros are fine') { t.is(read(text), 1); return; }
    const err = t.throws(() => read(text), { instanceOf: PhpSerializeError, code: 'ERR_PHP_SERIALIZE' });
    t.true(err!.offset >= 0 && err!.offset <= text.length);
  });
}

const unrepresentable: Array<[string, string]> = [
  ['a:1:{i:0;R:1;}', 'a reference cycle'], ['a:1:{s:27:"__PHP_Incomplete_Class_Name";s:1:"X";}', 'a marker key in an array'],
  ['a:1:{s:10:"__PHP_Enum";s:3:"A:B";}', 'the enum marker in an array'], ['O:1:"X":1:{s:16:"__PHP_Serialized";s:0:"";}', 'an O: that looks like a C:'],
  ['a:1:{s:1:"\xff";i:1;}', 'a non-UTF-8 key'], ['O:1:"\xe9":0:{}', 'a non-UTF-8 class name'],
  ['a:2:{i:0;C:1:"X":0:{}i:1;r:2;}', 'a reference after a C: value'],
  ['O:1:"X":1:{s:10:"__PHP_Enum";s:3:"A:b";}', 'the enum marker as a property'],
  ['O:1:"X":2:{s:16:"__PHP_Serialized";s:1:"x";s:1:"y";i:1;}', 'the C: marker beside other properties'],
  ['O:1:"X":2:{s:1:"y";i:1;s:16:"__PHP_Serialized";s:1:"x";}', 'the C: marker after other properties'],
];

for (const [text, why] of unrepresentable) {
  test(`unserialize › refuses ${JSON.stringify(text)} (${why}) with ERR_PHP_UNREPRESENTABLE`, (t) => {
    t.throws(() => read(text), { instanceOf: PhpSerializeError, code: 'ERR_PHP_UNREPRESENTABLE' });
  });
}

test('unserialize › an r:/R: number too large is refused naming the slot limit, not bytes', (t) => {
  const err = t.throws(() => read('a:2:{i:0;i:1;i:1;r:99999999999999999999999999;}'), { code: 'ERR_PHP_SERIALIZE', message: /largest slot number/ });
  t.notRegex(err!.message, /bytes left/);
  t.throws(() => read('a:1:{i:0;a:99999999:{}}'), { code: 'ERR_PHP_SERIALIZE', message: /bytes left/ }, 'counts are still bounded by the bytes left');
});

test('unserialize › nesting beyond maxDepth is refused, not a stack overflow', (t) => {
  const deep = (n: number): string => 'a:1:{i:0;'.repeat(n) + 'N;' + '}'.repeat(n);
  t.deepEqual(unserialize(Buffer.from(deep(3)), { maxDepth: 3 }), [[[null]]]);
  t.throws(() => unserialize(Buffer.from(deep(4)), { maxDepth: 3 }), { code: 'ERR_PHP_SERIALIZE', message: /deeper than 3/ });
  t.throws(() => read(deep(100_000)), { code: 'ERR_PHP_SERIALIZE', message: /deeper than 512/ });
});

// A fixed-seed generator, so a failure reproduces.
function random(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

const SAMPLE = Buffer.from(serialize({
  s: 'héllo|;"', n: [1, -2, 3.5, 1e-7, null, true], o: { [PHP_CLASS]: 'App\\User', '\0*\0p': 'x', e: { [PHP_ENUM]: 'Suit:Hearts' } },
  c: { [PHP_CLASS]: 'Old', [PHP_SERIALIZED]: 'abc' }, big: 2n ** 62n, b: Buffer.from([0xff]),
}));

test('unserialize › every truncation of a valid value is refused with a code', (t) => {
  for (let end = 0; end < SAMPLE.length; end++) {
    t.throws(() => unserialize(SAMPLE.subarray(0, end)), { instanceOf: PhpSerializeError }, `cut at ${end}`);
  }
});

test('unserialize › 20000 random mutations: a value or a coded error, nothing else, in bounded time', (t) => {
  const next = random(16);
  const started = Date.now();
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    const bytes = Buffer.from(SAMPLE);
    for (let k = 1 + Math.floor(next() * 3); k > 0; k--) bytes[Math.floor(next() * bytes.length)] = '0123456789:;{}"aisdNObCrRE|-.'.charCodeAt(Math.floor(next() * 29));
    try { unserialize(bytes); } catch (err) {
      if (!(err instanceof PhpSerializeError)) return t.fail(`${String(err)} for ${bytes.toString('latin1')}`);
      refused++;
    }
  }
  t.true(refused > 10_000);
  t.true(Date.now() - started < 10_000);
});
