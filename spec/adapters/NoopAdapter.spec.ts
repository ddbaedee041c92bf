import test from 'ava';
import type { Adapter } from '../../lib/adapters/Adapter';
import { NoopAdapter } from '../../lib/adapters/NoopAdapter';
import { adapterContract, HOSTILE_IDS } from '../helpers/adapterContract';

adapterContract(test, 'NoopAdapter', async () => ({ adapter: new NoopAdapter() }), { locking: false, persistent: false });

/** Through the contract's type: the class declares its methods without parameters. */
const noop = (): Required<Omit<Adapter, 'lock' | 'close'>> => new NoopAdapter() as never;

test('NoopAdapter › read › is always null, even right after a write', async (t) => {
  const a = noop();
  await a.write('abc', 'data', 60);
  t.is(await a.read('abc'), null);
});

test('NoopAdapter › every method resolves', async (t) => {
  const a = noop();
  await t.notThrowsAsync(a.write('abc', 'data', 60));
  await t.notThrowsAsync(a.updateTimestamp('abc', 'data', 60));
  await t.notThrowsAsync(a.destroy('abc'));
  await t.notThrowsAsync(a.gc(1440));
});

test('NoopAdapter › validateId › accepts every id (Phalcon)', async (t) => {
  const a = noop();
  for (const id of ['abc', 'never-written', ...HOSTILE_IDS]) t.true(await a.validateId(id), JSON.stringify(id));
});

test('NoopAdapter › gc › removes nothing and resolves 0', async (t) => {
  t.is(await noop().gc(0), 0);
});

test('NoopAdapter › offers no locking', (t) => {
  t.false('lock' in new NoopAdapter());
});
