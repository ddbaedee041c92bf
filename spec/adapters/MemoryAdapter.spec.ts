import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { adapterContract, newId } from '../helpers/adapterContract';

adapterContract(test, 'MemoryAdapter', async () => ({ adapter: new MemoryAdapter() }), { locking: true, persistent: true });

test('MemoryAdapter › maxEntries › writing 20 into 10 keeps the 10 most recently written', async (t) => {
  const a = new MemoryAdapter({ maxEntries: 10 });
  const ids = Array.from({ length: 20 }, (_, n) => `id-${n}`);
  for (const id of ids) await a.write(id, id, 60);
  t.is(a.size, 10);
  for (const id of ids.slice(0, 10)) t.is(await a.read(id), null, id);
  for (const id of ids.slice(10)) t.is(await a.read(id), id, id);
});

test('MemoryAdapter › maxEntries › an overwrite counts as a recent write', async (t) => {
  const a = new MemoryAdapter({ maxEntries: 3 });
  for (const id of ['a', 'b', 'c']) await a.write(id, id, 60);
  await a.write('a', 'a2', 60);
  await a.write('d', 'd', 60);
  t.is(await a.read('a'), 'a2');
  t.is(await a.read('b'), null);
  t.is(a.size, 3);
});

test('MemoryAdapter › maxEntries › expired entries are pruned before live ones are evicted', async (t) => {
  const a = new MemoryAdapter({ maxEntries: 3 });
  await a.write('old', 'live', 60);
  await a.write('brief1', 'x', 0.1);
  await a.write('brief2', 'x', 0.1);
  await sleep(200);
  await a.write('new', 'live', 60);
  t.is(a.size, 2);
  t.is(await a.read('old'), 'live');
  t.is(await a.read('new'), 'live');
});

for (const maxEntries of [0, -1, 1.5, Number.NaN, Infinity, '10' as unknown as number]) {
  test(`MemoryAdapter › options › maxEntries ${typeof maxEntries === 'string' ? `'${maxEntries}'` : maxEntries} throws an invalid option error`, (t) => {
    t.throws(() => new MemoryAdapter({ maxEntries }), { code: 'ERR_SESSION_INVALID_OPTION' });
  });
}

test('MemoryAdapter › gc › removes expired entries from memory and counts them', async (t) => {
  const a = new MemoryAdapter();
  await a.write(newId(), 'x', 0.1);
  await a.write(newId(), 'x', 0.1);
  await a.write(newId(), 'x', 60);
  await sleep(200);
  t.is(a.size, 3);
  t.is(await a.gc(), 2);
  t.is(a.size, 1);
});

test('MemoryAdapter › read › an expired entry is dropped from memory when read', async (t) => {
  const a = new MemoryAdapter();
  const id = newId();
  await a.write(id, 'x', 0.1);
  await sleep(200);
  t.is(await a.read(id), null);
  t.is(a.size, 0);
});

test('MemoryAdapter › write › rejects a TTL that is not a positive number', async (t) => {
  const a = new MemoryAdapter();
  for (const ttl of [0, -1, Number.NaN, Infinity]) {
    await t.throwsAsync(() => a.write(newId(), 'x', ttl), { code: 'ERR_SESSION_INVALID_OPTION' }, String(ttl));
  }
});

test('MemoryAdapter › options › an unknown key is refused, naming the one it misspells', (t) => {
  const err = t.throws(() => new MemoryAdapter({ maxEntry: 5 } as never), { code: 'ERR_SESSION_INVALID_OPTION' });
  t.regex(err!.message, /MemoryAdapter\.maxEntry.*maxEntries/);
});
