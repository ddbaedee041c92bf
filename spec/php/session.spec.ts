import test from 'ava';
import { PHP_CLASS, PhpRaw, decodeSession, encodeSession, samePhpValue } from '../../lib/php';
import type { PhpSessionFormat } from '../../lib/php';

const B = (text: string): Buffer => Buffer.from(text, /[^\x00-\xff]/.test(text) ? 'utf8' : 'latin1');
const S = (bytes: Buffer): string => bytes.toString('latin1');
const SERIALIZE: PhpSessionFormat = { handler: 'php_serialize' };
const PHALCON: PhpSessionFormat = { envelope: 'phalcon' };

test('session › php handler: a "|" or "key|" inside a string value is not a separator', (t) => {
  const stored = B('a|s:8:"x|b|s:1:";n|i:1;b|s:1:"|";');
  t.deepEqual(decodeSession(stored), { a: 'x|b|s:1:', n: 1, b: '|' });
});

test('session › the three formats read the same data; empty is an empty session', (t) => {
  const data = { user: 'ada', n: 1 };
  t.deepEqual(decodeSession(B('user|s:3:"ada";n|i:1;')), data);
  t.deepEqual(decodeSession(B('a:2:{s:4:"user";s:3:"ada";s:1:"n";i:1;}'), SERIALIZE), data);
  t.deepEqual(decodeSession(B('s:21:"user|s:3:"ada";n|i:1;";'), PHALCON), data);
  for (const format of [{}, SERIALIZE, PHALCON]) t.deepEqual(decodeSession(B(''), format), {});
  t.is(S(encodeSession({}, {})), '');
  t.is(S(encodeSession({}, SERIALIZE)), 'a:0:{}');
  t.is(S(encodeSession({}, PHALCON)), '', 'Phalcon stores an empty session unwrapped');
  t.is(S(encodeSession(data, PHALCON)), 's:21:"user|s:3:"ada";n|i:1;";');
  t.is(S(encodeSession(data, { handler: 'php_serialize', envelope: 'phalcon' })), 's:39:"a:2:{s:4:"user";s:3:"ada";s:1:"n";i:1;}";');
});

const kept = [
  'f|d:3;e|d:1.0E-7;i|d:INF;z|d:-0;o|O:3:"Foo":1:{s:6:"\0Foo\0p";O:7:"Unknown":0:{}}r|a:2:{i:0;R:6;i:1;r:5;}x|R:1;',
  'loop|a:1:{i:0;R:1;}after|i:1;',
];

for (const stored of kept) {
  test(`session › written back unchanged byte for byte: ${JSON.stringify(stored).slice(0, 40)}…`, (t) => {
    t.is(S(encodeSession(decodeSession(B(stored)), {}, B(stored))), stored);
  });
}

test('session › a value with no JS form is a PhpRaw, kept; replaced, it is written fresh', (t) => {
  const stored = B('loop|a:1:{i:0;R:1;}after|i:1;');
  const data = decodeSession(stored);
  t.true(data.loop instanceof PhpRaw);
  t.is(S((data.loop as PhpRaw).bytes), 'a:1:{i:0;R:1;}');
  t.is(S(encodeSession({ ...data, after: 2 }, {}, stored)), 'loop|a:1:{i:0;R:1;}after|i:2;');
  t.is(S(encodeSession({ ...data, loop: [] }, {}, stored)), 'loop|a:0:{}after|i:1;');
  t.throws(() => encodeSession({ ...data, after: new PhpRaw(B('N;')) }, {}, stored), { code: 'ERR_PHP_VALUE' });
});

test('session › a change before references renumbers them; a removal too', (t) => {
  const stored = B('a|i:1;o|O:8:"stdClass":0:{}p|r:2;q|a:1:{i:0;R:4;}');
  const data = decodeSession(stored);
  t.is(S(encodeSession({ ...data, a: [1, 2] }, {}, stored)), 'a|a:2:{i:0;i:1;i:1;i:2;}o|O:8:"stdClass":0:{}p|r:4;q|a:1:{i:0;R:6;}');
  const { a, ...rest } = data;
  t.is(S(encodeSession(rest, {}, stored)), 'o|O:8:"stdClass":0:{}p|r:1;q|a:1:{i:0;R:3;}');
  const serialized = B('a:3:{s:1:"a";i:1;s:1:"o";O:8:"stdClass":0:{}s:1:"p";r:3;}');
  t.is(S(encodeSession({ ...decodeSession(serialized, SERIALIZE), a: 'xy' }, SERIALIZE, serialized)), 'a:3:{s:1:"a";s:2:"xy";s:1:"o";O:8:"stdClass":0:{}s:1:"p";r:3;}');
  t.is(S(encodeSession({ o: data.o, p: data.p }, SERIALIZE, serialized)), 'a:2:{s:1:"o";O:8:"stdClass":0:{}s:1:"p";r:2;}');
});

test('session › a key that kept keys reference cannot change or go; with them, it can', (t) => {
  const stored = B('a|a:1:{i:0;i:1;}b|R:1;c|i:3;');
  const data = decodeSession(stored);
  t.throws(() => encodeSession({ ...data, a: [2] }, {}, stored), { code: 'ERR_PHP_SESSION_REFERENCE', message: /"a".*"b"/ });
  t.throws(() => encodeSession({ b: data.b, c: 3 }, {}, stored), { code: 'ERR_PHP_SESSION_REFERENCE' });
  t.is(S(encodeSession({ a: [2], b: [2], c: 3 }, {}, stored)), 'a|a:1:{i:0;i:2;}b|a:1:{i:0;i:2;}c|i:3;');
  t.is(S(encodeSession({ ...data, c: 4 }, {}, stored)), 'a|a:1:{i:0;i:1;}b|R:1;c|i:4;', 'other keys change freely');
});

test('session › with C: values and references, existing keys stay; new keys are added', (t) => {
  const stored = B('c|C:1:"X":3:{abc}a|a:1:{i:0;i:1;}b|R:3;');
  const data = decodeSession(stored);
  t.throws(() => encodeSession({ ...data, a: 1 }, {}, stored), { code: 'ERR_PHP_SESSION_REFERENCE', message: /C: values/ });
  t.is(S(encodeSession({ ...data, n: 1 }, {}, stored)), `${S(stored)}n|i:1;`);
});

test('session › an object changed in place is seen as changed (compared with a fresh decoding)', (t) => {
  const stored = B('cart|a:2:{s:5:"total";d:3;s:1:"n";i:1;}u|O:4:"User":0:{}');
  const data = decodeSession(stored) as { cart: { n: number }; u: Record<string, unknown> };
  data.cart.n = 2;
  t.is(S(encodeSession(data, {}, stored)), 'cart|a:2:{s:5:"total";d:3;s:1:"n";i:2;}u|O:4:"User":0:{}', 'total keeps d:3');
  data.u.name = 'ada';
  t.is(S(encodeSession(data, {}, stored)), 'cart|a:2:{s:5:"total";d:3;s:1:"n";i:2;}u|O:4:"User":1:{s:4:"name";s:3:"ada";}');
});

test('session › new keys follow in order; removed and undefined keys are dropped', (t) => {
  const stored = B('a|i:1;b|i:2;c|i:3;');
  t.is(S(encodeSession({ c: 3, z: 'new', a: 1, b: undefined, y: null }, {}, stored)), 'a|i:1;c|i:3;z|s:3:"new";y|N;');
});

test('session › keys PHP cannot store are refused at encode time, naming the key', (t) => {
  t.throws(() => encodeSession({ 'a|b': 1 }), { code: 'ERR_PHP_SESSION_KEY', message: /"a\|b".*\|/ });
  for (const format of [{}, SERIALIZE, PHALCON]) {
    t.throws(() => encodeSession({ 5: 1 }, format), { code: 'ERR_PHP_SESSION_KEY', message: /"5".*numeric/ });
    t.throws(() => encodeSession({ '-12': 1 }, format), { code: 'ERR_PHP_SESSION_KEY' });
  }
  t.is(S(encodeSession({ 'a|b': 1, '05': 2, '-0': 3, '1.5': 4 }, SERIALIZE)), 'a:4:{s:3:"a|b";i:1;s:2:"05";i:2;s:2:"-0";i:3;s:3:"1.5";i:4;}');
  const stored = B('a:1:{i:5;s:1:"x";}');
  t.is(S(encodeSession(decodeSession(stored, SERIALIZE), SERIALIZE, stored)), S(stored), 'a numeric key PHP wrote is kept while unchanged');
  t.throws(() => encodeSession({ 5: 'y' }, SERIALIZE, stored), { code: 'ERR_PHP_SESSION_KEY' });
});

const malformed: Array<[string, PhpSessionFormat, string]> = [
  ['a|i:1;junk', {}, 'bytes without "|"'], ['a|i:1;a|i:2;', {}, 'a key twice'], ['a|i:1', {}, 'truncated'], ['\xff|i:1;', {}, 'non-UTF-8 key'],
  ['i:1;', SERIALIZE, 'not an array'], ['a:1:{s:1:"a";i:1;}x', SERIALIZE, 'trailing bytes'], ['a:1:{s:1:"\xff";i:1;}', SERIALIZE, 'non-UTF-8 key'],
  ['s:5:"a|N;";x', PHALCON, 'bytes after the envelope'], ['a|N;', PHALCON, 'no envelope'], ['s:9:"a|N;";', PHALCON, 'envelope length'],
];

for (const [stored, format, why] of malformed) {
  test(`session › refuses ${JSON.stringify(stored)} (${why}) with ERR_PHP_SERIALIZE, decoding or as previous`, (t) => {
    t.throws(() => decodeSession(B(stored), format), { code: 'ERR_PHP_SERIALIZE' });
    t.throws(() => encodeSession({}, format, B(stored)), { code: 'ERR_PHP_SERIALIZE' });
  });
}

test('session › bad options are refused, naming the option', (t) => {
  t.throws(() => decodeSession(B(''), { handler: 'igbinary' as 'php' }), { code: 'ERR_SESSION_INVALID_OPTION', message: /"handler"/ });
  t.throws(() => encodeSession({}, { envelope: 'laravel' as 'none' }), { code: 'ERR_SESSION_INVALID_OPTION', message: /"envelope"/ });
  t.throws(() => encodeSession({}, { maxDepth: 0 }), { code: 'ERR_SESSION_INVALID_OPTION', message: /"maxDepth"/ });
  t.throws(() => encodeSession([] as unknown as Record<string, unknown>), { code: 'ERR_PHP_VALUE' });
});

test('samePhpValue › same PHP data: NaN equal, -0 not 0, keys in any order, arrays not objects', (t) => {
  t.true(samePhpValue({ a: [NaN, 1n], b: Buffer.from('x') }, { b: Buffer.from('x'), a: [NaN, 1n] }));
  t.false(samePhpValue(-0, 0));
  t.false(samePhpValue([], {}));
  t.false(samePhpValue({ a: 1 }, { a: 1, b: 2 }));
  t.true(samePhpValue({ a: 1, b: undefined }, { a: 1 }));
  t.false(samePhpValue({ [PHP_CLASS]: 'A' }, { [PHP_CLASS]: 'B' }));
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const other: Record<string, unknown> = {};
  other.self = other;
  t.true(samePhpValue(cyclic, other));
});
