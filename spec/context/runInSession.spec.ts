import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { currentBag, currentFlash, currentSession } from '../../lib/context/current';
import { runInSession, SessionService } from '../../lib/context/current';
import { InvalidOption, SessionContextMissing, SessionModificationDenied } from '../../lib/errors';

/** A service as an app writes one: it gets the session from its constructor, never from a caller. */
class CartService {
  constructor(private readonly session: SessionService) {}
  add(product: string): number {
    const cart = this.session.bag<Record<string, number>>('cart');
    const n = (cart.get(product) ?? 0) + 1;
    cart.set(product, n);
    return n;
  }
  count(): number {
    return Object.values(this.session.bag('cart').toArray()).reduce((sum: number, n) => sum + Number(n), 0);
  }
}

const cart = new CartService(new SessionService());

test('runInSession › a service is unit-tested without HTTP: it reaches the session fn runs in', async (t) => {
  const result = await runInSession((s) => {
    cart.add('tea');
    cart.add('tea');
    return { count: cart.count(), same: currentSession() === s, stored: s.get('cart') };
  });
  t.deepEqual(result, { count: 2, same: true, stored: { tea: 2 } });
});

test('runInSession › data seeds a stored session, under any policy (read-only included)', async (t) => {
  const seen = await runInSession((s) => ({ count: cart.count(), stored: s.get('cart') }), { data: { cart: { tea: 3, jam: 1 } }, policy: { readOnly: true } });
  t.deepEqual(seen, { count: 4, stored: { tea: 3, jam: 1 } });
  await t.throwsAsync(runInSession(() => cart.add('tea'), { data: { cart: { tea: 1 } }, policy: { readOnly: true } }), { instanceOf: SessionModificationDenied });
});

test('runInSession › commits to the adapter: a later run with the id resumes the session', async (t) => {
  const adapter = new MemoryAdapter();
  const id = await runInSession((s) => { cart.add('jam'); currentFlash().notice('added'); return s.getId(); }, { adapter });
  t.is(adapter.size, 1);
  const next = await runInSession((s) => ({ id: s.getId(), count: cart.count(), flash: currentFlash().getMessages() }), { adapter, id });
  t.deepEqual(next, { id, count: 1, flash: { notice: ['added'] } });
});

test('runInSession › fn\'s error is thrown, after the session was committed (as the middleware does)', async (t) => {
  const adapter = new MemoryAdapter();
  let id = '';
  await t.throwsAsync(runInSession((s) => { id = s.getId(); cart.add('tea'); throw new Error('payment failed'); }, { adapter }), { message: 'payment failed' });
  t.is(await runInSession(() => cart.count(), { adapter, id }), 1);
});

test('runInSession › concurrent runs each see their own session across awaits', async (t) => {
  const results = await Promise.all(Array.from({ length: 50 }, (_, n) => runInSession(async () => {
    currentSession().set('n', n);
    await sleep(Math.random() * 10);
    return [currentSession().get('n'), currentBag('b') === currentBag('b')];
  })));
  t.deepEqual(results, Array.from({ length: 50 }, (_, n) => [n, true]));
});

test('runInSession › after the run, the accessors are outside a session again', async (t) => {
  await runInSession(() => currentSession());
  t.throws(() => currentSession(), { instanceOf: SessionContextMissing });
});

test('runInSession › options are closed: an unknown key throws InvalidOption naming it', async (t) => {
  await t.throwsAsync(runInSession(() => 1, { dta: {} } as never), { instanceOf: InvalidOption, message: /runInSession\.dta.*did you mean "data"/ });
});
