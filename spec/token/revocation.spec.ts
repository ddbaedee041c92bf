import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import type { Adapter } from '../../lib/adapters/Adapter';
import { RedisAdapter } from '../../lib/redis/RedisAdapter';
import { DownAdapter } from '../helpers/doubles';
import { useRedis } from '../helpers/redisServer';
import { claimsOf, gate, serveTokens } from '../helpers/tokenApp';

const redis = useRedis(test);

test('without a revocation list a copied token lives until its exp: replayed after logout, it still opens the session', async (t) => {
  const { client } = await serveTokens(t);
  await client.fetch('/login?user=dana');
  const copied = client.jar.get('sid')!;
  t.like(await client.json('/logout'), { out: true });
  t.false(client.jar.has('sid'), 'the browser forgot it');
  client.jar.set('sid', copied);
  t.like(await client.json('/inc'), { user: 'dana', n: 1 }, 'the copy still works: the trade-off the docs state');
});

/** The revocation lists the specs run with: memory, and a real Redis started by the spec. */
const LISTS: Array<[string, () => Adapter]> = [
  ['memory', () => new MemoryAdapter()],
  ['Redis', () => new RedisAdapter({ port: redis().port, prefix: `revoked-spec-${Math.random().toString(36).slice(2)}:` })],
];

/** `inner`, recording the TTL of each write. */
function recordingTtls(inner: Adapter): { list: Adapter; ttls: Map<string, number> } {
  const ttls = new Map<string, number>();
  const list: Adapter = {
    read: (id) => inner.read(id),
    write: (id, data, ttl) => { ttls.set(id, ttl); return inner.write(id, data, ttl); },
    destroy: (id) => inner.destroy(id),
    gc: (max) => inner.gc(max),
    close: () => inner.close?.() ?? Promise.resolve(),
  };
  return { list, ttls };
}

for (const [name, make] of LISTS) {
  test(`${name} revocation list: a token replayed after logout is refused, reported as revoked`, async (t) => {
    const { list: revocation, ttls } = recordingTtls(make());
    t.teardown(() => revocation.close?.());
    const { client, events } = await serveTokens(t, { revocation });
    await client.fetch('/login?user=erin');
    const copied = client.jar.get('sid')!;
    const { jti, exp } = claimsOf(copied);
    await client.fetch('/logout');
    client.jar.set('sid', copied);
    const replay = await client.json('/inc');
    t.like(replay, { user: null, n: 1 });
    t.not(replay.id, jti);
    t.like(events.find((e) => e.event === 'session:invalid'), { id: jti, reason: 'token', cause: 'revoked' });
    t.is(await revocation.read(`revoked-${jti}`), '1');
    // Listed as long as the token could be used (its exp and the clock tolerance), not longer.
    const ttl = ttls.get(`revoked-${jti}`)!;
    const left = exp - Date.now() / 1000 + 5;
    t.true(Math.abs(ttl - left) <= 2, `ttl ${ttl}, token left ${left}`);
  });

  test(`${name} revocation list: regenerateId() gives a new jti and ends the old one; a request with the old token cannot sign the user out`, async (t) => {
    const revocation = make();
    t.teardown(() => revocation.close?.());
    const { client, events } = await serveTokens(t, { revocation });
    const before = await client.json('/inc');
    const anonymous = client.jar.get('sid')!;
    const after = await client.json('/login?user=finn');
    t.not(after.id, before.id);
    t.is(claimsOf(client.jar.get('sid')!).jti, after.id);
    t.like(after, { n: 1, user: 'finn' });
    const signedIn = client.jar.get('sid')!;
    // A request of the same browser that left with the pre-sign-in token (a slow tab, a
    // prefetch): a throwaway session that is neither stored nor sent, as a store's move marker
    // gives, so its response cannot replace the signed-in token.
    client.jar.set('sid', anonymous);
    t.like(await client.json('/inc'), { n: 1, user: null });
    t.deepEqual(client.lastCookies, [], 'no cookie: the browser keeps the signed-in token');
    t.like(events.find((e) => e.event === 'session:expired'), { id: before.id, reason: 'regenerated' });
    client.jar.set('sid', signedIn);
    t.like(await client.json('/inc'), { n: 2, user: 'finn' });
  });
}

test('with a revocation list a logout sticks: a slow request that read the session before it sends no token afterwards', async (t) => {
  const { client, gates, url, events } = await serveTokens(t, { revocation: new MemoryAdapter() });
  await client.fetch('/login?user=gus');
  const cookie = `sid=${client.jar.get('sid')}`;
  const slow = fetch(`${url}/wait`, { headers: { cookie } });
  await gates.reached.opened; // it has read the session
  await fetch(`${url}/logout`, { headers: { cookie } });
  gates.wait.open();
  const late = await slow;
  t.deepEqual(late.headers.getSetCookie(), [], 'no token: the logout is not undone');
  t.like(events.find((e) => e.event === 'session:discarded'), { reason: 'gone' });
});

test('without a revocation list the same slow request undoes the logout (what the list is for)', async (t) => {
  const { client, gates, url } = await serveTokens(t);
  await client.fetch('/login?user=gus');
  const cookie = `sid=${client.jar.get('sid')}`;
  const slow = fetch(`${url}/wait`, { headers: { cookie } });
  await gates.reached.opened; // it has read the session
  await fetch(`${url}/logout`, { headers: { cookie } });
  gates.wait.open();
  const late = await slow;
  t.is(late.headers.getSetCookie().length, 1, 'the late response sends the signed-in session again');
  t.is(claimsOf(late.headers.getSetCookie()[0]!.split(';')[0]!.slice(4)).d.user, 'gus');
});

test('a sign-in that a logout overtook is undone: the new token is revoked and not sent', async (t) => {
  const revocation = new MemoryAdapter();
  const { client, gates, url, events } = await serveTokens(t, { revocation });
  await client.fetch('/inc');
  const cookie = `sid=${client.jar.get('sid')}`;
  // The sign-in reads the session (its token passes the check), then waits; the logout revokes.
  const signIn = fetch(`${url}/login?wait=1&user=hal`, { headers: { cookie } });
  await gates.reached.opened; // it has read the session
  await fetch(`${url}/logout`, { headers: { cookie } });
  gates.wait.open();
  const response = await signIn;
  t.deepEqual(response.headers.getSetCookie(), [], 'no token for the signed-in session');
  const regenerated = events.find((e) => e.event === 'session:regenerated')!;
  t.truthy(regenerated.id);
  t.is(await revocation.read(`revoked-${regenerated.id}`), '1', 'its new jti is revoked');
  t.like(events.find((e) => e.event === 'session:discarded'), { reason: 'gone' });
});

test('a logout with the pre-sign-in token, after the sign-in committed, ends the signed-in session too', async (t) => {
  const { client, url } = await serveTokens(t, { revocation: new MemoryAdapter() });
  await client.fetch('/inc');
  const anonymous = client.jar.get('sid')!;
  await client.fetch('/login?user=kim');
  const signedIn = client.jar.get('sid')!;
  const out = await fetch(`${url}/logout`, { headers: { cookie: `sid=${anonymous}` } });
  t.is(out.status, 200);
  client.jar.set('sid', signedIn);
  t.like(await client.json('/inc'), { user: null, n: 1 }, 'the signed-in token is ended with it');
});

test('a revocation outlives every token of the session, also one renewed after the token that logs out', async (t) => {
  const { list: revocation, ttls } = recordingTtls(new MemoryAdapter());
  const { client, url } = await serveTokens(t, { revocation, clockTolerance: 0 }, { lifetime: 4 });
  await client.fetch('/inc');
  const older = client.jar.get('sid')!;
  await sleep(1100);
  await client.fetch('/inc'); // another tab renews it: same jti, a later exp
  const renewed = client.jar.get('sid')!;
  t.true(claimsOf(renewed).exp > claimsOf(older).exp);
  await fetch(`${url}/logout`, { headers: { cookie: `sid=${older}` } });
  const { jti, exp } = claimsOf(renewed);
  t.true(ttls.get(`revoked-${jti}`)! >= exp - Date.now() / 1000, 'listed at least as long as the renewed token lives');
  await sleep(Math.max(0, (claimsOf(older).exp + 0.2) * 1000 - Date.now()));
  client.jar.set('sid', renewed);
  t.like(await client.json('/inc'), { n: 1 }, 'after the older token expired, the renewed one is still refused');
});

test('a logout and a sign-in racing on one token: whichever order their list writes take, nobody stays signed in', async (t) => {
  // The logout's write is held until the sign-in has committed: the interleaving where both
  // read the list before either wrote (a read-then-write on one key would lose the sign-in's entry).
  const inner = new MemoryAdapter();
  const hold = gate();
  const writing = gate();
  let holding = false;
  const revocation: Adapter = {
    read: (id) => inner.read(id),
    write: async (id, data, ttl) => {
      if (holding && id.startsWith('revoked-') && data === '1') {
        writing.open();
        await hold.opened;
      }
      return inner.write(id, data, ttl);
    },
    destroy: (id) => inner.destroy(id),
    gc: () => inner.gc(),
  };
  const { client, url } = await serveTokens(t, { revocation });
  await client.fetch('/inc');
  const cookie = `sid=${client.jar.get('sid')}`;
  holding = true;
  const logout = fetch(`${url}/logout`, { headers: { cookie } });
  await writing.opened; // the logout has read the list and waits to write
  const signIn = await fetch(`${url}/login?user=lee`, { headers: { cookie } });
  const signedIn = signIn.headers.getSetCookie()[0]?.split(';')[0]?.slice(4);
  hold.open();
  await logout;
  if (signedIn !== undefined) {
    client.jar.set('sid', signedIn);
    t.like(await client.json('/inc'), { user: null }, 'the session the sign-in made ended with the logout');
  } else {
    t.pass('the sign-in saw the logout and sent nothing');
  }
});

test('a revocation list that is down: 503 for requests with a token, never a session without the check', async (t) => {
  const { client, url, events } = await serveTokens(t, { revocation: new DownAdapter() });
  const fresh = await client.fetch('/inc');
  t.is(fresh.status, 200, 'a visitor without a token needs no check');
  const response = await fetch(`${url}/inc`, { headers: { cookie: `sid=${client.jar.get('sid')}` } });
  t.is(response.status, 503);
  t.deepEqual(await response.json(), { error: 'ERR_SESSION_STORE' });
  t.like(events.find((e) => e.event === 'session:storeError'), { operation: 'revocation read' });
});

test('gc() of the store runs the revocation list\'s gc', async (t) => {
  const revocation = new MemoryAdapter();
  const { store } = await serveTokens(t, { revocation });
  await revocation.write('revoked-abc', '1', 0.05);
  await sleep(120);
  t.is(await store.gc(3600), 1);
});
