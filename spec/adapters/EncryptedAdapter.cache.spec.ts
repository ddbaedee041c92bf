import test, { type ExecutionContext } from 'ava';
import { MOVE_MARKER_PREFIX, type Adapter } from '../../lib/adapters/Adapter';
import { EncryptedAdapter, type EncryptedAdapterOptions } from '../../lib/adapters/EncryptedAdapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { cryptoModule } from '../../lib/id';
import { adapterContract, newId } from '../helpers/adapterContract';

// The EncryptedAdapter's cache (option `cache`): per id, the stored text it last wrote or read
// and its plain data. A read skips the decryption only when the stored text is exactly the
// remembered one for that id; anything else is decrypted (and refused) as without the cache.
// The decryptions and encryptions are counted by wrapping node:crypto's createDecipheriv and
// createCipheriv (the module the adapter calls through), so those specs run serially.

const OLD = { id: 'old', key: EncryptedAdapter.generateKey() };
const NEW = { id: 'new', key: EncryptedAdapter.generateKey() };
const KEYS = [NEW, OLD];
const wrap = (inner: Adapter, options: Partial<EncryptedAdapterOptions> = {}) => new EncryptedAdapter(inner, { keys: KEYS, ...options });
const DATA = JSON.stringify({ c: 1_780_000_000, d: { userId: 7, name: 'Alice', note: 'x'.repeat(900) } });

adapterContract(test, 'EncryptedAdapter(MemoryAdapter, cache: 0)', async () => ({ adapter: wrap(new MemoryAdapter(), { cache: 0 }) }), { locking: true, persistent: true });
adapterContract(test, 'EncryptedAdapter(MemoryAdapter, cache: 1)', async () => ({ adapter: wrap(new MemoryAdapter(), { cache: 1 }) }), { locking: true, persistent: true });

/** Counts the calls of node:crypto's `name` until the test ends. */
function count(t: ExecutionContext, name: 'createDecipheriv' | 'createCipheriv'): { calls: number } {
  const crypto = cryptoModule() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = crypto[name]!;
  const counter = { calls: 0 };
  crypto[name] = function (this: unknown, ...args: unknown[]) {
    counter.calls++;
    return original.apply(this, args);
  };
  t.teardown(() => void (crypto[name] = original));
  return counter;
}

/** `text` with the base64url character at `at` replaced by another. */
function flip(text: string, at: number): string {
  const c = text[at]!;
  return text.slice(0, at) + (c === 'A' ? 'B' : 'A') + text.slice(at + 1);
}

/** A fresh copy of `text` (another string object, as a store hands back). */
const copy = (text: string) => Buffer.from(text, 'utf8').toString('utf8');

// ---- options -------------------------------------------------------------------------------

for (const bad of [-1, 1.5, Number.NaN, Infinity, '1000', null, true]) {
  test(`EncryptedAdapter › cache › option cache: ${String(bad)} throws InvalidOption naming cache`, (t) => {
    const err = t.throws(() => wrap(new MemoryAdapter(), { cache: bad as unknown as number }), { code: 'ERR_SESSION_INVALID_OPTION' });
    t.is((err as Error & { option: string }).option, 'cache');
  });
}

test('EncryptedAdapter › cache › option cache: 0, a number, or left out', (t) => {
  for (const cache of [0, 1, 1000, undefined]) t.notThrows(() => wrap(new MemoryAdapter(), { cache }));
});

// ---- hits -----------------------------------------------------------------------------------

test.serial('EncryptedAdapter › cache › a record this adapter wrote reads back without a decryption, again and again', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  await a.write('abc', DATA, 60);
  const opened = count(t, 'createDecipheriv');
  for (let n = 0; n < 3; n++) t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 0);
});

test.serial('EncryptedAdapter › cache › a record read once (another process wrote it) reads again without a decryption', async (t) => {
  const inner = new MemoryAdapter();
  await wrap(inner).write('abc', DATA, 60); // another process: its own adapter and cache
  const a = wrap(inner);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 1, 'the first read decrypts');
  // The store hands back another string object with the same text: that is a hit too.
  await inner.write('abc', copy((await inner.read('abc'))!), 60);
  t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 1, 'the second does not');
});

test.serial('EncryptedAdapter › cache › a move marker is remembered too, and read back plain', async (t) => {
  const a = wrap(new MemoryAdapter());
  const marker = MOVE_MARKER_PREFIX + newId();
  await a.write('old', marker, 60);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('old'), marker);
  t.is(opened.calls, 0);
});

test.serial('EncryptedAdapter › cache › cache: 0 decrypts every read and seals every touch', async (t) => {
  const a = wrap(new MemoryAdapter(), { cache: 0 });
  await a.write('abc', DATA, 60);
  const opened = count(t, 'createDecipheriv');
  const sealed = count(t, 'createCipheriv');
  for (let n = 0; n < 3; n++) {
    t.is(await a.read('abc'), DATA);
    t.true(await a.updateTimestamp!('abc', DATA, 60));
  }
  t.is(opened.calls, 3);
  t.is(sealed.calls, 3);
});

// ---- misses: anything but the exact remembered text under the same id is decrypted ---------

const CHANGES: Array<[string, (stored: string) => string]> = [
  ['a character changed in the ciphertext', (s) => flip(s, 60)],
  ['a character changed in the tag', (s) => flip(s, s.length - 3)],
  ['a character changed in the key id', (s) => flip(s, 4)],
  ['truncated by one character', (s) => s.slice(0, -1)],
  ['with padding put at its end (non-canonical)', (s) => `${s}=`],
  ['with a foreign character put in (non-canonical)', (s) => `${s.slice(0, 60)}*${s.slice(60)}`],
  ['with - and _ written as + and / (non-canonical)', (s) => s.replaceAll('-', '+').replaceAll('_', '/')],
];
for (const [what, change] of CHANGES) {
  test.serial(`EncryptedAdapter › cache › a record ${what} is decrypted and refused, then the remembered one decrypted again`, async (t) => {
    const inner = new MemoryAdapter();
    const a = wrap(inner);
    const data = `${DATA}!`;
    await a.write('abc', data, 60);
    const stored = (await inner.read('abc'))!;
    const changed = change(stored);
    t.not(changed, stored);
    const opened = count(t, 'createDecipheriv');
    await inner.write('abc', changed, 60);
    t.is(await a.read('abc'), EncryptedAdapter.UNREADABLE);
    // The refused text was forgotten along with the one before: that one is decrypted again.
    await inner.write('abc', stored, 60);
    const before = opened.calls;
    t.is(await a.read('abc'), data);
    t.is(opened.calls, before + 1);
  });
}

test.serial('EncryptedAdapter › cache › an older record of the same id (a replay) is not the remembered one: it is decrypted', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  await a.write('abc', 'one', 60);
  const first = (await inner.read('abc'))!;
  await a.write('abc', 'two', 60);
  await inner.write('abc', first, 60);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), 'one', 'what the store holds, never the remembered data');
  t.is(opened.calls, 1);
});

test.serial('EncryptedAdapter › cache › a remembered text copied under another id is refused there (the id is the key)', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  await a.write('victim', DATA, 60);
  const stored = (await inner.read('victim'))!;
  await inner.write('attacker', stored, 60);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('attacker'), EncryptedAdapter.UNREADABLE);
  t.is(opened.calls, 1);
  t.is(await a.read('victim'), DATA);
});

test.serial('EncryptedAdapter › cache › a record that is gone reads null, and is forgotten', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  await a.write('abc', DATA, 60);
  const stored = (await inner.read('abc'))!;
  await inner.destroy('abc');
  t.is(await a.read('abc'), null);
  await inner.write('abc', stored, 60);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 1);
});

// ---- what makes the adapter forget ---------------------------------------------------------

test.serial('EncryptedAdapter › cache › destroy() forgets the id', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  await a.write('abc', DATA, 60);
  const stored = (await inner.read('abc'))!;
  t.is(await a.destroy('abc'), DATA);
  await inner.write('abc', stored, 60); // the same text back in the store
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 1, 'decrypted, not remembered');
});

test.serial('EncryptedAdapter › cache › destroy() forgets the id even when it returns nothing', async (t) => {
  const inner = new MemoryAdapter();
  const quiet: Adapter = { read: (id) => inner.read(id), write: (...args) => inner.write(...args), destroy: async (id) => void (await inner.destroy(id)), gc: async () => 0 };
  const a = wrap(quiet);
  await a.write('abc', DATA, 60);
  const stored = (await inner.read('abc'))!;
  await a.destroy('abc');
  await inner.write('abc', stored, 60);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 1);
});

test.serial('EncryptedAdapter › cache › a refused update (existing: true on a record gone) forgets the id', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  await a.write('abc', DATA, 60);
  const stored = (await inner.read('abc'))!;
  await inner.destroy('abc'); // a logout in another process
  t.is(await a.write('abc', 'changed', 60, undefined, { existing: true }), false);
  await inner.write('abc', stored, 60);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 1);
});

test.serial('EncryptedAdapter › cache › a write that fails forgets the id, and one that succeeds remembers the new text', async (t) => {
  const inner = new MemoryAdapter();
  let fail = false;
  const flaky: Adapter = {
    read: (id) => inner.read(id),
    write: async (...args) => {
      if (fail) throw new Error('store down');
      return inner.write(...args);
    },
    destroy: (id) => inner.destroy(id),
    gc: async () => 0,
  };
  const a = wrap(flaky);
  await a.write('abc', DATA, 60);
  fail = true;
  await t.throwsAsync(a.write('abc', 'changed', 60), { message: 'store down' });
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), DATA, 'the store still holds the first record');
  t.is(opened.calls, 1, 'decrypted: the failed write made the adapter forget');
  fail = false;
  await a.write('abc', 'changed', 60);
  t.is(await a.read('abc'), 'changed');
  t.is(opened.calls, 1);
});

test.serial('EncryptedAdapter › cache › a touch that finds nothing forgets the id', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  await a.write('abc', DATA, 60);
  const stored = (await inner.read('abc'))!;
  await inner.destroy('abc');
  t.false(await a.updateTimestamp!('abc', DATA, 60));
  await inner.write('abc', stored, 60);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 1);
});

test.serial('EncryptedAdapter › cache › a touch that fails forgets the id', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap({
    read: (id) => inner.read(id),
    write: (...args) => inner.write(...args),
    destroy: (id) => inner.destroy(id),
    gc: async () => 0,
    updateTimestamp: async () => { throw new Error('store down'); },
  });
  await a.write('abc', DATA, 60);
  await t.throwsAsync(a.updateTimestamp!('abc', DATA, 60), { message: 'store down' });
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('abc'), DATA);
  t.is(opened.calls, 1);
});

// ---- the bound -------------------------------------------------------------------------------

test.serial('EncryptedAdapter › cache › holds at most `cache` ids, the least recently used forgotten first', async (t) => {
  const a = wrap(new MemoryAdapter(), { cache: 2 });
  for (const id of ['a', 'b', 'c']) await a.write(id, `data of ${id}`, 60);
  const opened = count(t, 'createDecipheriv');
  const read = async (id: string) => {
    const before = opened.calls;
    t.is(await a.read(id), `data of ${id}`);
    return opened.calls - before;
  };
  t.is(await read('c'), 0);
  t.is(await read('b'), 0, 'b and c remembered: now c is the least recently used');
  t.is(await read('a'), 1, 'a was forgotten when c came; remembered again, and c forgotten');
  t.is(await read('c'), 1, 'c, not b, was the least recently used');
  t.is(await read('a'), 0);
  t.is(await read('b'), 1);
});

// ---- touches ---------------------------------------------------------------------------------

test.serial('EncryptedAdapter › cache › a touch of unchanged data hands on the stored text, with no encryption', async (t) => {
  const inner = new MemoryAdapter();
  const seen: string[] = [];
  const touch = inner.updateTimestamp.bind(inner);
  inner.updateTimestamp = async (id, data, ttl) => (seen.push(data), touch(id, data, ttl));
  const a = wrap(inner);
  await a.write('abc', DATA, 60);
  const stored = (await inner.read('abc'))!;
  const sealed = count(t, 'createCipheriv');
  t.is(await a.read('abc'), DATA);
  t.true(await a.updateTimestamp!('abc', DATA, 60));
  t.deepEqual(seen, [stored]);
  t.is(sealed.calls, 0);
  // Other data than the remembered: sealed afresh, never the remembered text.
  t.true(await a.updateTimestamp!('abc', `${DATA} `, 60));
  t.is(sealed.calls, 1);
  t.not(seen[1], stored);
  t.false(seen[1]!.includes('Alice'));
});

test.serial('EncryptedAdapter › cache › a touch of a record under an older key is sealed afresh with the encrypting key', async (t) => {
  const inner = new MemoryAdapter();
  const seen: string[] = [];
  const touch = inner.updateTimestamp.bind(inner);
  inner.updateTimestamp = async (id, data, ttl) => (seen.push(data), touch(id, data, ttl));
  await new EncryptedAdapter(inner, { keys: [OLD] }).write('abc', DATA, 60);
  const rotated = wrap(inner);
  t.is(await rotated.read('abc'), DATA);
  t.true(await rotated.updateTimestamp!('abc', DATA, 60));
  t.is(rotated.keyIdOf(seen[0]!), 'new', 'as without the cache');
  t.is(rotated.keyIdOf((await inner.read('abc'))!), 'old', 'the MemoryAdapter does not rewrite on a touch');
});

// ---- the key ring ----------------------------------------------------------------------------

test.serial('EncryptedAdapter › cache › a ring without the key is a new adapter: no remembered plaintext outlives the key', async (t) => {
  const inner = new MemoryAdapter();
  const keys = [OLD];
  const before = new EncryptedAdapter(inner, { keys });
  await before.write('abc', DATA, 60);
  t.is(await before.read('abc'), DATA);
  // The ring is copied when the adapter is made: changing the array changes nothing.
  keys.splice(0, 1, NEW);
  t.deepEqual(before.keyIds, ['old']);
  const retired = new EncryptedAdapter(inner, { keys: [NEW] });
  const opened = count(t, 'createDecipheriv');
  t.is(await retired.read('abc'), EncryptedAdapter.UNREADABLE);
  t.is(opened.calls, 0, 'refused by the key id, before any decryption');
  t.is(await before.read('abc'), DATA, 'the old adapter, still holding the key, still reads it');
});

test.serial('EncryptedAdapter › cache › a large record (past the 16 KB scratch) seals, opens and is remembered', async (t) => {
  const inner = new MemoryAdapter();
  const big = JSON.stringify({ c: 1, d: { note: 'ab€'.repeat(20_000) } });
  await wrap(inner).write('big', big, 60);
  const a = wrap(inner);
  const opened = count(t, 'createDecipheriv');
  t.is(await a.read('big'), big);
  t.is(await a.read('big'), big);
  t.is(opened.calls, 1);
  t.is(await wrap(inner, { cache: 0 }).read('big'), big);
});
