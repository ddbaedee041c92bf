import test from 'ava';
import { PHP_CLASS, PHP_ENUM, PHP_SERIALIZED, PhpFloat, decodeSession, encodeSession, phpFloatText, serialize, unserialize } from '../../lib/php';
import type { PhpSessionFormat } from '../../lib/php';
import { SESSIONS_PHP, php } from './phpCli';

// Against the real PHP CLI (spec/php/fixtures/sessions.php): PHP writes a hard data set in each
// session format, Node decodes it, writes it back, changes it, and PHP reads the result.

interface Report {
  decoded: boolean;
  got: Record<string, string>;
  want: Record<string, string>;
  reencoded: string;
  objShared?: boolean;
  userShared?: boolean;
  innerRef?: boolean;
  refShared?: boolean;
}

const FORMATS: ReadonlyArray<Required<Pick<PhpSessionFormat, 'handler' | 'envelope'>>> = [
  { handler: 'php', envelope: 'none' },
  { handler: 'php_serialize', envelope: 'none' },
  { handler: 'php', envelope: 'phalcon' },
  { handler: 'php_serialize', envelope: 'phalcon' },
];

const make = async (f: PhpSessionFormat, set = 'hard'): Promise<Buffer> =>
  Buffer.from(await php([SESSIONS_PHP, 'make', f.handler!, f.envelope!, set]), 'base64');

const check = async (f: PhpSessionFormat, bytes: Buffer, set = 'hard'): Promise<Report> =>
  JSON.parse(await php([SESSIONS_PHP, 'check', f.handler!, f.envelope!, set], bytes.toString('base64'))) as Report;

const b64 = (text: string | Buffer): string => Buffer.from(text as string, 'latin1').toString('base64');

/** The session string inside the envelope, as PHP's session_encode() gives it. */
function inner(f: PhpSessionFormat, bytes: Buffer): Buffer {
  if (f.envelope !== 'phalcon' || bytes.length === 0) return bytes;
  const text = unserialize(bytes) as string | Buffer;
  return typeof text === 'string' ? Buffer.from(text) : text;
}

/** Every key both sides hold but `except` reads the same in PHP as PHP's own data set. */
function sameExcept(report: Report, except: readonly string[]): string[] {
  return Object.keys(report.got).filter((k) => !except.includes(k) && report.got[k] !== report.want[k]);
}

const FROM_NODE = {
  n_utf8: 'Grüße, 世界 😀 "quoted" ; semi', n_int: 42, n_neg: -7, n_float: 0.1, n_tiny: 1e-7, n_negzero: -0,
  n_inf: Infinity, n_nan: NaN, n_bigint: 9223372036854775807n, n_whole: new PhpFloat(3), n_true: true, n_false: false,
  n_null: null, n_list: [1, 'a', [true, null]], n_empty: [], n_map: { a: 1, 5: 'five', nested: { x: { y: 'z' } } },
  n_obj: { [PHP_CLASS]: 'stdClass', a: 1, list: [1, 2] }, n_enum: { [PHP_ENUM]: 'Suit:Spades' }, n_bytes: Buffer.from([0, 255]),
};

for (const f of FORMATS) {
  const name = `php › ${f.handler}${f.envelope === 'phalcon' ? ' in the Phalcon envelope' : ''}`;

  test(`${name} › PHP's hard data set decodes as the module notes say`, async (t) => {
    const d = decodeSession(await make(f), f) as Record<string, any>;
    t.is(d.counter, 1);
    t.is(d.float3, 3);
    t.is(d.inf, Infinity);
    t.is(d.ninf, -Infinity);
    t.true(Number.isNaN(d.nan));
    t.true(Object.is(d.negzero, -0));
    t.is(d.tiny, 1e-7);
    t.is(d.huge, 1.5e300);
    t.is(d.intmax, 9223372036854775807n);
    t.is(d.intmin, -9223372036854775808n);
    t.is(d.int53, 9007199254740993n);
    t.is(d.utf8, 'héllo wörld ✓ 😀');
    t.deepEqual(d.binary, Buffer.from([0xff, 0xfe, 0, 1, 0x62, 0x69, 0x6e]));
    t.is(d.pipes, 'a|b";c;d|x|s:1:"y";');
    t.deepEqual(d.nested, { 3: 'c', b: [1, 2, { deep: true }], 0: 'a', z: null, '-5': 'neg', '07': 'str key', f: 2 });
    t.deepEqual(d.list, [1, 'two', 3.5, false]);
    t.deepEqual(d.empty, []);
    t.is(d.null, null);
    t.is(d.true, true);
    t.deepEqual(d.std, { [PHP_CLASS]: 'stdClass', a: 1, 0: 'zero' });
    t.deepEqual(d.user, { [PHP_CLASS]: 'User', name: 'ada', '\0*\0role': 'admin', '\0User\0secret': 'p|w;"d', friend: null });
    t.is(d.date[PHP_CLASS], 'DateTime');
    t.is(d.date.date, '2024-02-29 12:34:56.789000');
    t.deepEqual(d.suit, { [PHP_ENUM]: 'Suit:Hearts' });
    t.is(d.ref_b, d.ref_a, 'R: is the same JS value');
    t.is(d.obj_again, d.std, 'r: is the same JS object');
    t.is(d.inner.p, d.user);
    t.is(d.inner.suit, d.suit);
    t.is(d.inner.y, 5);
    t.is(d.last, 'end');
  });

  test(`${name} › written back unchanged, byte for byte, and PHP reads every value and reference`, async (t) => {
    const stored = await make(f);
    const out = encodeSession(decodeSession(stored, f), f, stored);
    t.true(out.equals(stored));
    const report = await check(f, out);
    t.true(report.decoded);
    t.deepEqual(sameExcept(report, []), []);
    t.deepEqual(Object.keys(report.got), Object.keys(report.want).filter((k) => !k.startsWith('n_')));
    t.true(Buffer.from(report.reencoded, 'base64').equals(inner(f, out)), 'PHP writes it back the same');
    t.like(report, { objShared: true, userShared: true, innerRef: true, refShared: true });
  });

  test(`${name} › the first key changed (growing): PHP reads it, every other value and reference intact`, async (t) => {
    const stored = await make(f);
    const data = decodeSession(stored, f);
    data.counter = [1, 2, 3];
    const out = encodeSession(data, f, stored);
    const report = await check(f, out);
    t.true(report.decoded);
    t.is(report.got.counter, b64('a:3:{i:0;i:1;i:1;i:2;i:2;i:3;}'));
    t.deepEqual(sameExcept(report, ['counter']), []);
    t.like(report, { objShared: true, userShared: true, innerRef: true, refShared: true });
    t.true(Buffer.from(report.reencoded, 'base64').equals(inner(f, out)), 'Node wrote what PHP itself writes');
  });

  test(`${name} › a changed array keeps the bytes of its untouched members (2.0 stays a float)`, async (t) => {
    const stored = await make(f);
    const data = decodeSession(stored, f) as Record<string, any>;
    data.nested.added = 'x';
    const report = await check(f, encodeSession(data, f, stored));
    t.is(report.got.nested, b64('a:8:{i:0;s:1:"a";i:3;s:1:"c";s:1:"b";a:3:{i:0;i:1;i:1;i:2;i:2;a:1:{s:4:"deep";b:1;}}s:1:"z";N;i:-5;s:3:"neg";s:2:"07";s:7:"str key";s:1:"f";d:2;s:5:"added";s:1:"x";}'));
    t.deepEqual(sameExcept(report, ['nested']), []);
  });

  test(`${name} › removed keys are gone; the references after them still hold`, async (t) => {
    const stored = await make(f);
    const data = decodeSession(stored, f);
    delete data.counter;
    data.list = undefined;
    const report = await check(f, encodeSession(data, f, stored));
    t.false('counter' in report.got);
    t.false('list' in report.got);
    t.deepEqual(sameExcept(report, []), []);
    t.like(report, { objShared: true, userShared: true, innerRef: true, refShared: true });
  });

  test(`${name} › values Node adds are read by PHP as PHP would have written them`, async (t) => {
    const stored = await make(f);
    const data = { ...decodeSession(stored, f), ...FROM_NODE };
    const out = encodeSession(data, f, stored);
    const report = await check(f, out);
    t.true(report.decoded);
    t.deepEqual(sameExcept(report, []), []);
    for (const key of Object.keys(FROM_NODE)) t.is(report.got[key], report.want[key], key);
    t.true(Buffer.from(report.reencoded, 'base64').equals(inner(f, out)), 'Node wrote what PHP itself writes');
  });

  test(`${name} › a key that kept keys reference is refused; changed together, both are written`, async (t) => {
    const stored = await make(f);
    const data = decodeSession(stored, f) as Record<string, any>;
    data.ref_a = { v: 2 };
    t.throws(() => encodeSession(data, f, stored), { code: 'ERR_PHP_SESSION_REFERENCE', message: /"ref_a".*"ref_b"/ });
    data.ref_b = data.ref_a;
    const report = await check(f, encodeSession(data, f, stored));
    t.is(report.got.ref_a, b64('a:1:{s:1:"v";i:2;}'));
    t.is(report.got.ref_b, b64('a:1:{s:1:"v";i:2;}'));
    t.deepEqual(sameExcept(report, ['ref_a', 'ref_b']), []);
    t.like(report, { refShared: false, innerRef: true, userShared: true });
  });

  test(`${name} › a C: (Serializable) value survives; its neighbours change`, async (t) => {
    const stored = await make(f, 'custom');
    const data = decodeSession(stored, f) as Record<string, any>;
    t.deepEqual(data.legacy, { [PHP_CLASS]: 'Legacy', [PHP_SERIALIZED]: Buffer.from('raw|payload\xff', 'latin1') });
    t.true(encodeSession(data, f, stored).equals(stored));
    data.after = { k: 'changed' };
    const report = await check(f, encodeSession(data, f, stored), 'custom');
    t.is(report.got.after, b64('a:1:{s:1:"k";s:7:"changed";}'));
    t.deepEqual(sameExcept(report, ['after']), []);
  });
}

test('php › 4000 floats: Node reads the same double and writes the same text as PHP (as a PhpFloat when whole)', async (t) => {
  const lines = (await php([SESSIONS_PHP, 'floats', '4000'])).trim().split('\n');
  t.true(lines.length > 3900);
  const wrong: string[] = [];
  for (const line of lines) {
    const [hex, text] = line.split(' ');
    const n = unserialize(Buffer.from(text)) as number;
    const bits = Buffer.alloc(8);
    bits.writeDoubleLE(n);
    if (bits.toString('hex') !== hex || serialize(new PhpFloat(n)).toString() !== text) wrong.push(`${line} → ${phpFloatText(n)}`);
  }
  t.deepEqual(wrong, []);
});

interface Decoded { decoded: boolean; error: string | null; session: string; reencoded: string }

/** PHP's session_decode() of `bytes` under `handler`: whether it reads them, what it holds, what it writes back. */
const decode = async (handler: 'php' | 'php_serialize', bytes: Buffer): Promise<Decoded> =>
  JSON.parse(await php([SESSIONS_PHP, 'decode', handler, 'none'], bytes.toString('base64'))) as Decoded;

test('php › a new key holding an object a kept R: key shares: PHP reads r: to the object, not to the new key', async (t) => {
  const stored = Buffer.from('b|O:8:"stdClass":1:{s:1:"n";i:1;}c|R:1;');
  const data = decodeSession(stored);
  t.is(data.c, data.b);
  data.z = data.b;
  const out = encodeSession(data, {}, stored);
  t.is(out.toString(), 'b|O:8:"stdClass":1:{s:1:"n";i:1;}c|R:1;z|r:1;');
  const report = await decode('php', out);
  t.like(report, { decoded: true, error: null });
  t.is(Buffer.from(report.reencoded, 'base64').toString(), out.toString(), 'PHP writes back the same bytes');
  t.is(Buffer.from(report.session, 'base64').toString(), 'a:3:{s:1:"b";O:8:"stdClass":1:{s:1:"n";i:1;}s:1:"c";R:2;s:1:"z";r:2;}');
});

test('php › php_serialize stores numeric top-level keys as i:, as PHP does; PHP reads them back', async (t) => {
  const f: PhpSessionFormat = { handler: 'php_serialize' };
  const fresh = encodeSession({ 5: 'x', a: 1, '-3': true }, f);
  t.is(fresh.toString(), 'a:3:{i:5;s:1:"x";s:1:"a";i:1;i:-3;b:1;}');
  const report = await decode('php_serialize', fresh);
  t.like(report, { decoded: true, error: null });
  t.is(Buffer.from(report.reencoded, 'base64').toString(), fresh.toString(), 'PHP writes back the same bytes');
  const data = decodeSession(fresh, f);
  data[5] = 'y';
  data[7] = [1];
  const changed = encodeSession(data, f, fresh);
  t.is(changed.toString(), 'a:4:{i:5;s:1:"y";s:1:"a";i:1;i:-3;b:1;i:7;a:1:{i:0;i:1;}}');
  const again = await decode('php_serialize', changed);
  t.like(again, { decoded: true, error: null });
  t.is(Buffer.from(again.reencoded, 'base64').toString(), changed.toString());
});
