import test from 'ava';
import { generateId, ID_PATTERN, isValidId, isValidName, MAX_ID_LENGTH } from '../lib/id';

test('generateId › 32 characters of [a-zA-Z0-9-] (no comma: not allowed in a cookie value)', (t) => {
  for (let i = 0; i < 1000; i++) t.regex(generateId(), /^[a-zA-Z0-9-]{32}$/);
});

test('generateId › no repeats over 100 000 ids and every alphabet character in use', (t) => {
  const seen = new Set<string>();
  const chars = new Set<string>();
  for (let i = 0; i < 100_000; i++) {
    const id = generateId();
    seen.add(id);
    for (const c of id) chars.add(c);
  }
  t.is(seen.size, 100_000);
  t.is(chars.size, 63, 'all 63 symbols appear: about 5.97 bits per character, 191 bits per id');
});

test('generateId › every character of [a-zA-Z0-9-] equally likely (no symbol favoured by the mapping)', (t) => {
  const ids = 20_000;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-';
  const counts = new Map<string, number>([...alphabet].map((c) => [c, 0]));
  for (let i = 0; i < ids; i++) for (const c of generateId()) counts.set(c, (counts.get(c) ?? 0) + 1);
  t.is(counts.size, 63, 'only the 63 symbols of the alphabet');
  // Each count is Binomial(640 000, 1/63): mean 10 159, sd 100. Eight sd either side misses a
  // uniform generator with odds below 1e-13 over all 63 symbols; the old one, which mapped '_'
  // to '-', put about 20 000 on '-', about 98 sd out.
  const n = ids * 32;
  const p = 1 / 63;
  const mean = n * p;
  const bound = 8 * Math.sqrt(n * p * (1 - p));
  for (const [c, count] of counts) {
    t.true(count > 0, `'${c}' never appears`);
    t.true(Math.abs(count - mean) < bound, `'${c}' appears ${count} times, expected ${Math.round(mean)} ± ${Math.round(bound)}`);
  }
});

test('isValidId › accepts the PHP alphabet up to the length bound', (t) => {
  for (const id of ['a', 'abc,DEF-123', 'x'.repeat(MAX_ID_LENGTH), generateId()]) t.true(isValidId(id), id);
});

test('isValidId › rejects traversal, NUL, newline, other alphabets, empty, too long and non-strings', (t) => {
  for (const id of ['', '../x', 'a/b', 'a\\b', 'a\u0000b', 'abc\n', 'a b', 'a_b', 'a.b', 'é', '名前', 'x'.repeat(MAX_ID_LENGTH + 1), 42, null, undefined, ['a']]) {
    t.false(isValidId(id), JSON.stringify(id));
  }
});

test('isValidId › answers as ID_PATTERN does, over random strings of every length around the bound', (t) => {
  const alphabet = 'aZ09,-_. /\\\n\u0000é名';
  let seed = 7; // xorshift32 (an LCG in doubles lost its low bits: 150 distinct draws in 5 000)
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return Math.floor(((seed >>> 0) / 2 ** 32) * n);
  };
  for (let i = 0; i < 5000; i++) {
    const length = random(4) === 0 ? MAX_ID_LENGTH - 2 + random(5) : random(12);
    let id = '';
    for (let j = 0; j < length; j++) id += alphabet[random(random(3) === 0 ? alphabet.length : 6)];
    t.is(isValidId(id), ID_PATTERN.test(id), JSON.stringify(id));
    t.is(isValidId(id), ID_PATTERN.test(id), `${JSON.stringify(id)} again (the last valid id is remembered)`);
  }
  // Only that exact id skips the check: the same text with one character more or changed does not.
  const id = 'a'.repeat(MAX_ID_LENGTH);
  t.true(isValidId(id));
  for (const near of [`${id}a`, `${id.slice(1)}.`, `${id.slice(1)}\n`, new String(id)]) t.false(isValidId(near), JSON.stringify(String(near)));
  t.true(isValidId(id));
});

test('isValidName › Phalcon rules: Unicode letters and numbers, _ and -, not ASCII digits only', (t) => {
  for (const name of ['PHPSESSID', 'sessão', '名前', '1a', '١٢٣', 'a_b-c']) t.true(isValidName(name), name);
  for (const name of ['', '12345', 'a.b', 'a b', 'a;b', 'a=b', 7]) t.false(isValidName(name), String(name));
  // The last valid name is remembered (the middleware sets one name per request): only that exact name skips the check.
  t.true(isValidName('sid'));
  for (const name of ['sid ', 'sid;', '12', 'si d', new String('sid')]) t.false(isValidName(name), String(name));
  t.true(isValidName('sid'));
});
