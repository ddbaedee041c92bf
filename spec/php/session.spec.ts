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
  for (const format of [{}, PHALCON]) {
    t.throws(() => encodeSession({ 5: 1 }, format), { code: 'ERR_PHP_SESSION_KEY', message: /"5".*numeric/ });
    t.throws(() => encodeSession({ '-12': 1 }, format), { code: 'ERR_PHP_SESSION_KEY' });
  }
  for (const format of [{}, SERIALIZE, PHALCON]) {
    for (const key of ['a\uD800', 'b\uDC00c']) {
      t.throws(() => encodeSession({ [key]: 1 }, format), { code: 'ERR_PHP_SESSION_KEY', message: /lone surrogate/ }, 'not rewritten to U+FFFD');
      t.throws(() => encodeSession({ [key]: 2 }, format, encodeSession({ [key.replace(/[\uD800-\uDFFF]/, 'x')]: 1 }, format)), { code: 'ERR_PHP_SESSION_KEY' });
    }
  }
  t.is(S(encodeSession({ '\uD83D\uDE00': 1 })), '\xF0\x9F\x98\x80|i:1;', 'a surrogate pair is fine');
  t.is(S(encodeSession({ 'a|b': 1, '05': 2, '-0': 3, '1.5': 4 }, SERIALIZE)), 'a:4:{s:3:"a|b";i:1;s:2:"05";i:2;s:2:"-0";i:3;s:3:"1.5";i:4;}');
  t.is(S(encodeSession({ 5: 1, '-12': 2 }, SERIALIZE)), 'a:2:{i:5;i:1;i:-12;i:2;}', 'php_serialize stores numeric keys, as PHP does');
  const stored = B('a:1:{i:5;s:1:"x";}');
  t.is(S(encodeSession(decodeSession(stored, SERIALIZE), SERIALIZE, stored)), S(stored), 'a numeric key PHP wrote is kept while unchanged');
  t.is(S(encodeSession({ 5: 'y' }, SERIALIZE, stored)), 'a:1:{i:5;s:1:"y";}', 'and written as i: when changed');
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

test('samePhpValue › same PHP data: NaN equal, -0 not 0, keys in the same order, arrays not objects', (t) => {
  t.true(samePhpValue({ a: [NaN, 1n], b: Buffer.from('x') }, { a: [NaN, 1n], b: Buffer.from('x') }));
  t.false(samePhpValue({ a: 1, b: 2 }, { b: 2, a: 1 }), 'PHP\'s === on arrays compares order');
  t.true(samePhpValue({ b: 1, 2: 'x', 1: 'y' }, { 1: 'y', b: 1, 2: 'x' }), 'integer-like keys: JS lists them first on both sides');
  t.true(samePhpValue({ [PHP_CLASS]: 'A', p: 1 }, { p: 1, [PHP_CLASS]: 'A' }), 'where the class marker stands does not count');
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

test('session › string keys put in another order are a change: written in the new order, members keeping their bytes', (t) => {
  const stored = B('m|a:2:{s:1:"b";d:1;s:1:"a";i:2;}o|O:1:"X":2:{s:1:"p";i:1;s:1:"q";i:2;}');
  const data = decodeSession(stored);
  t.is(S(encodeSession({ ...data, m: { a: 2, b: 1 } }, {}, stored)), 'm|a:2:{s:1:"a";i:2;s:1:"b";d:1;}o|O:1:"X":2:{s:1:"p";i:1;s:1:"q";i:2;}');
  t.is(S(encodeSession({ ...data, o: { [PHP_CLASS]: 'X', q: 2, p: 1 } }, {}, stored)), 'm|a:2:{s:1:"b";d:1;s:1:"a";i:2;}o|O:1:"X":2:{s:1:"q";i:2;s:1:"p";i:1;}');
  t.is(S(encodeSession({ ...data, m: { b: 1, a: 2 } }, {}, stored)), S(stored), 'the same order is unchanged');
});

test('session › objects whose properties collide with the enum and C: markers are kept as PhpRaw', (t) => {
  for (const value of ['O:8:"stdClass":1:{s:10:"__PHP_Enum";s:3:"A:b";}', 'O:8:"stdClass":2:{s:16:"__PHP_Serialized";s:1:"x";s:1:"y";i:1;}', 'O:8:"stdClass":1:{s:16:"__PHP_Serialized";s:1:"x";}']) {
    const stored = B(`k|${value}n|i:1;`);
    const data = decodeSession(stored);
    t.true(data.k instanceof PhpRaw, value);
    t.is(S((data.k as PhpRaw).bytes), value);
    t.is(S(encodeSession({ ...data, n: 2 }, {}, stored)), `k|${value}n|i:2;`);
  }
});

test('session › a change deep in a deep value is found in time linear in its size (each pair compared once)', (t) => {
  const build = (depth: number, width: number): Record<string, unknown> => {
    let node: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < depth; i++) node = { wide: Array.from({ length: width }, (_, j) => j), next: node };
    return node;
  };
  const stored = encodeSession({ t: build(400, 200) });
  t.true(stored.length > 800_000);
  const data = decodeSession(stored) as { t: Record<string, unknown> };
  // Each level counts how often its keys are listed: once or twice per pass, not once per level above it.
  const listed: number[] = [];
  const wrap = (node: Record<string, unknown>, level: number): Record<string, unknown> => {
    listed[level] = 0;
    const next = node.next === undefined ? undefined : wrap(node.next as Record<string, unknown>, level + 1);
    if (next !== undefined) node.next = next;
    return new Proxy(node, { ownKeys: (target) => { listed[level]++; return Reflect.ownKeys(target); } });
  };
  data.t = wrap(data.t, 0);
  let n = data.t;
  while (n.next !== undefined) n = n.next as Record<string, unknown>;
  n.leaf = 2;
  const started = performance.now();
  const out = encodeSession(data, {}, stored);
  const took = performance.now() - started;
  t.true(S(out).endsWith('s:4:"leaf";i:2;' + '}'.repeat(401)));
  t.is(out.length, stored.length);
  t.true(Math.max(...listed) <= 3, `keys listed up to ${Math.max(...listed)} times at one level`);
  t.true(took < 2000, `${took.toFixed(0)} ms`);
});

test('session › as the module notes say: a whole number where PHP had d:3 stays a float (3n writes i:3); objects in kept bytes are copied', (t) => {
  const stored = B('t|d:3;a|a:1:{i:0;O:8:"stdClass":0:{}}');
  const data = decodeSession(stored) as Record<string, any>;
  t.is(S(encodeSession({ ...data, t: 3 }, {}, stored)), S(stored));
  t.is(S(encodeSession({ ...data, t: 3n }, {}, stored)), 't|i:3;a|a:1:{i:0;O:8:"stdClass":0:{}}');
  t.is(S(encodeSession({ ...data, z: data.a[0] }, {}, stored)), `${S(stored)}z|O:8:"stdClass":0:{}`);
});
