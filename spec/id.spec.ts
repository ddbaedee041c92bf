import test from 'ava';
import { generateId, isValidId, isValidName, MAX_ID_LENGTH } from '../lib/id';

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

test('isValidId › accepts the PHP alphabet up to the length bound', (t) => {
  for (const id of ['a', 'abc,DEF-123', 'x'.repeat(MAX_ID_LENGTH), generateId()]) t.true(isValidId(id), id);
});

test('isValidId › rejects traversal, NUL, newline, other alphabets, empty, too long and non-strings', (t) => {
  for (const id of ['', '../x', 'a/b', 'a\\b', 'a\u0000b', 'abc\n', 'a b', 'a_b', 'a.b', 'é', '名前', 'x'.repeat(MAX_ID_LENGTH + 1), 42, null, undefined, ['a']]) {
    t.false(isValidId(id), JSON.stringify(id));
  }
});

test('isValidName › Phalcon rules: Unicode letters and numbers, _ and -, not ASCII digits only', (t) => {
  for (const name of ['PHPSESSID', 'sessão', '名前', '1a', '١٢٣', 'a_b-c']) t.true(isValidName(name), name);
  for (const name of ['', '12345', 'a.b', 'a b', 'a;b', 'a=b', 7]) t.false(isValidName(name), String(name));
});
