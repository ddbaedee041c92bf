import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter } from '../../lib/adapters/Adapter';
import { MemcachedAdapter } from '../../lib/memcached/MemcachedAdapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { RedisAdapter } from '../../lib/redis/RedisAdapter';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { PostgresAdapter } from '../../lib/postgres/PostgresAdapter';
import { MysqlAdapter } from '../../lib/mysql/MysqlAdapter';
import { EncryptedAdapter } from '../../lib/adapters/EncryptedAdapter';
import { session } from '../../lib/koa/middleware';
import { sessionPolicy } from '../../lib/koa/policy';
import type { SessionOptions } from '../../lib/koa/options';
import { SessionError } from '../../lib/errors';
import { UserSessions, type UserSessionsOptions } from '../../lib/users/UserSessions';
import { TokenStore } from '../../lib/token';
import { Client, listen } from '../helpers/http';
import { useMemcached } from '../helpers/memcachedServer';
import { useRedis } from '../helpers/redisServer';
import { usePostgres } from '../helpers/postgresServer';
import { useMariadb } from '../helpers/mariadbServer';
import { tempDir } from '../helpers/tmp';
import { closing, withTable } from '../helpers/storeAdapters';

/**
 * Per-user sessions through real HTTP on every store: three clients (browsers, each with its own
 * cookie jar) sign in as one user; listing, "log out everywhere", "sign out other devices", the
 * cap. What each client's next request sees is the outcome.
 */

const redis = useRedis(test);
const memcached = useMemcached(test);
const postgres = usePostgres(test);
const mariadb = useMariadb(test);

type Make = (t: ExecutionContext) => Promise<Adapter>;
const ADAPTERS: Record<string, Make> = {
  Memory: async () => new MemoryAdapter(),
  Files: async (t) => new StreamAdapter({ savePath: await tempDir(t, 'users') }),
  Redis: async (t) => closing(t, new RedisAdapter({ port: redis().port, prefix: `users-${Math.random().toString(36).slice(2)}:` })),
  Memcached: async (t) => closing(t, new MemcachedAdapter({ servers: [{ host: '127.0.0.1', port: memcached().port }] })),
  PostgreSQL: async (t) => withTable(t, new PostgresAdapter({ url: postgres().url, max: 3 })),
  MySQL: async (t) => withTable(t, new MysqlAdapter({ url: mariadb().url, max: 3 })),
  'Encrypted Redis': async (t) => closing(t, new EncryptedAdapter(new RedisAdapter({ port: redis().port }), { keys: [{ id: 'users', key: EncryptedAdapter.generateKey() }] })),
};


let accounts = 0;

/**
 * The app: `/login` binds the account (named per test, so tests sharing a store never meet),
 * `/me` answers who is signed in, `/devices` lists, `/everywhere` ends all, `/others` all but
 * this one, `/end?h=` one, `/slow` holds its request at a gate. A SessionError answers its status
 * and code as JSON.
 */
async function serve(t: ExecutionContext, adapter: Adapter, options: UserSessionsOptions = {}, sessionOptions: SessionOptions = {}, name?: string) {
  const users = new UserSessions(options);
  const account = name ?? `ada-${++accounts}`;
  const gates: { reached: () => void; opened: Promise<void> }[] = [];
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof SessionError)) throw err;
      ctx.status = (err as SessionError & { status?: number }).status ?? 500;
      ctx.body = { code: err.code };
    }
  });
  const middleware = session({ gc: false, ...sessionOptions, adapter, users });
  const storeErrors: string[] = [];
  middleware.events.on('session:storeError', ({ operation }) => storeErrors.push(operation));
  app.use(middleware);
  app.use(async (ctx) => {
    if (sessionOptions.start === 'lazy' && ctx.path !== '/peek') await ctx.session.start();
    switch (ctx.path) {
      case '/login': await users.bind(ctx, account, { device: ctx.get('x-device') }); break;
      case '/login-slow': {
        await users.bind(ctx, account, { device: ctx.get('x-device') });
        const gate = gates.shift()!;
        gate.reached();
        await gate.opened;
        break;
      }
      case '/devices': ctx.body = await users.list(ctx); return;
      case '/everywhere': ctx.body = { ended: await users.endAll(ctx) }; return;
      case '/others': ctx.body = { ended: await users.endOthers(ctx) }; return;
      case '/end': ctx.body = { ended: await users.end(ctx, String(ctx.query.h)) }; return;
      case '/peek': {
        await sessionPolicy({ readOnly: true })(ctx, async () => undefined);
        ctx.body = { user: users.userOf(ctx) };
        return;
      }
      case '/slow': {
        const gate = gates.shift()!;
        gate.reached();
        await gate.opened;
        ctx.session.set('late', true);
        break;
      }
    }
    ctx.body = { user: users.userOf(ctx) };
  });
  const server = await listen(app);
  t.teardown(server.close);
  const browser = (device: string) => {
    const c = new Client(server.url);
    return {
      jar: c.jar,
      get: async <T = { user: string | null }>(path: string) => {
        const response = await c.fetch(path, { headers: { 'x-device': device } });
        return { status: response.status, body: await response.json() as T };
      },
    };
  };
  const gate = () => {
    let reached!: () => void;
    let open!: () => void;
    const promise = new Promise<void>((resolve) => { reached = resolve; });
    gates.push({ reached: () => reached(), opened: new Promise<void>((resolve) => { open = resolve; }) });
    return { reached: promise, open: () => open() };
  };
  return { users, account, browser, gate, storeErrors };
}

type Device = { handle: string; current: boolean; boundAt: number; info: { device: string } };

for (const [name, make] of Object.entries(ADAPTERS)) {
  const title = (what: string) => `users › ${name} › ${what}`;

  test.serial(title('three browsers sign in as one user; "log out everywhere" from one ends all three within one request'), async (t) => {
    const { browser, account } = await serve(t, await make(t));
    const [a, b, c] = ['laptop', 'phone', 'tablet'].map(browser);
    for (const x of [a!, b!, c!]) {
      const before = (await x.get('/me')).body;
      t.deepEqual(before, { user: null });
      t.deepEqual((await x.get('/login')).body, { user: account });
    }
    const { body: devices } = await b!.get<Device[]>('/devices');
    t.deepEqual(devices.map((d) => d.info.device), ['laptop', 'phone', 'tablet']);
    t.deepEqual(devices.map((d) => d.current), [false, true, false]);
    t.true(devices.every((d) => /^[A-Za-z0-9_-]{22}$/.test(d.handle)), 'handles, not session ids');
    const ids = [a!, b!, c!].map((x) => x.jar.get('sid'));
    t.false(JSON.stringify(devices).includes(ids[0]!), 'no other session id leaks');

    t.deepEqual((await a!.get('/everywhere')).body, { ended: 3 });
    for (const x of [a!, b!, c!]) t.deepEqual((await x.get('/me')).body, { user: null });
    t.deepEqual((await a!.get('/devices')).body, []);
  });

  test.serial(title('"sign out other devices" ends the others and keeps this one; end(handle) ends one'), async (t) => {
    const { browser, account } = await serve(t, await make(t));
    const [a, b, c] = ['laptop', 'phone', 'tablet'].map(browser);
    for (const x of [a!, b!, c!]) await x.get('/login');
    const phone = (await a!.get<Device[]>('/devices')).body.find((d) => d.info.device === 'phone')!;
    t.deepEqual((await a!.get(`/end?h=${phone.handle}`)).body, { ended: true });
    t.deepEqual((await b!.get('/me')).body, { user: null });
    t.deepEqual((await a!.get(`/end?h=${phone.handle}`)).body, { ended: false }, 'gone already');
    t.deepEqual((await c!.get('/others')).body, { ended: 1 });
    t.deepEqual((await a!.get('/me')).body, { user: null });
    t.deepEqual((await c!.get('/me')).body, { user: account });
    t.deepEqual((await c!.get<Device[]>('/devices')).body.map((d) => d.info.device), ['tablet']);
  });

  test.serial(title('a cap of 2 ends the oldest session at the third sign-in'), async (t) => {
    const { browser, account } = await serve(t, await make(t), { max: 2 });
    const [a, b, c] = ['laptop', 'phone', 'tablet'].map(browser);
    for (const x of [a!, b!, c!]) await x.get('/login');
    t.deepEqual((await a!.get('/me')).body, { user: null }, 'the oldest was ended');
    t.deepEqual((await b!.get('/me')).body, { user: account });
    t.deepEqual((await c!.get('/me')).body, { user: account });
    t.deepEqual((await c!.get<Device[]>('/devices')).body.map((d) => d.info.device), ['phone', 'tablet']);
  });

  test.serial(title('a cap of 2 with onLimit "refuse": the third sign-in gets 403 ERR_SESSION_LIMIT and nothing changes'), async (t) => {
    const { browser, account } = await serve(t, await make(t), { max: 2, onLimit: 'refuse' });
    const [a, b, c] = ['laptop', 'phone', 'tablet'].map(browser);
    for (const x of [a!, b!]) await x.get('/login');
    const refused = await c!.get<{ code: string }>('/login');
    t.is(refused.status, 403);
    t.is(refused.body.code, 'ERR_SESSION_LIMIT');
    t.deepEqual((await c!.get('/me')).body, { user: null });
    t.deepEqual((await a!.get('/me')).body, { user: account });
    t.deepEqual((await b!.get('/me')).body, { user: account });
    await a!.get('/others');
    t.deepEqual((await c!.get('/login')).body, { user: account }, 'room again once one is ended');
  });

  test.serial(title('a request of another device in flight during "log out everywhere" cannot bring its session back'), async (t) => {
    const { browser, gate } = await serve(t, await make(t));
    const [a, b] = ['laptop', 'phone'].map(browser);
    for (const x of [a!, b!]) await x.get('/login');
    const held = gate();
    const slow = b!.get('/slow');
    await held.reached;
    t.deepEqual((await a!.get('/everywhere')).body, { ended: 2 });
    held.open();
    await slow;
    t.deepEqual((await b!.get('/me')).body, { user: null });
  });

  test.serial(title('a sign-in still committing when "log out everywhere" runs is ended at its commit'), async (t) => {
    const { browser, gate, account } = await serve(t, await make(t));
    const [a, b] = ['laptop', 'phone'].map(browser);
    await a!.get('/login');
    const held = gate();
    const signingIn = b!.get('/login-slow'); // bound, not yet committed
    await held.reached;
    t.deepEqual((await a!.get('/everywhere')).body, { ended: 1 });
    held.open();
    t.deepEqual((await signingIn).body, { user: account }, 'the route saw its sign-in');
    t.deepEqual((await b!.get('/me')).body, { user: null }, 'but the commit ended it');
    t.deepEqual((await a!.get('/me')).body, { user: null });
  });

  test.serial(title('four sign-ins at once with a cap of 1: one session survives, whatever the order'), async (t) => {
    for (const onLimit of ['refuse', 'endOldest'] as const) {
      const { browser, account } = await serve(t, await make(t), { max: 1, onLimit });
      const clients = ['a', 'b', 'c', 'd'].map(browser);
      const answers = await Promise.all(clients.map((c) => c.get<{ user?: string; code?: string }>('/login')));
      if (onLimit === 'refuse') {
        t.is(answers.filter((x) => x.status === 200).length, 1, 'refuse: one sign-in succeeds');
        t.true(answers.filter((x) => x.status !== 200).every((x) => x.status === 403 && x.body.code === 'ERR_SESSION_LIMIT'));
      }
      const signedIn = (await Promise.all(clients.map((c) => c.get('/me')))).filter((x) => x.body.user === account);
      t.is(signedIn.length, 1, `${onLimit}: one session is signed in`);
    }
  });
}

for (const [name, make] of [['Redis', ADAPTERS.Redis!], ['PostgreSQL', ADAPTERS.PostgreSQL!]] as const) {
  test.serial(`users › ${name} › a session kept alive by read-only requests only (the store refreshes its TTL on read) keeps its index alive too`, async (t) => {
    const { browser, account, users } = await serve(t, await make(t), {}, { lifetime: 1, start: 'lazy' });
    const a = browser('laptop');
    await a.get('/login');
    const until = Date.now() + 3500; // more than three lifetimes: the index (two) would have expired
    while (Date.now() < until) {
      t.deepEqual((await a.get('/peek')).body, { user: account });
      await sleep(250);
    }
    t.is(await users.endAll(account), 1, 'the index still lists the session');
    t.deepEqual((await a.get('/me')).body, { user: null });
  });
}

test.serial('a sign-in bound in the very millisecond of "log out everywhere" counts as before it: it is ended at its commit', async (t) => {
  const { browser, gate, account } = await serve(t, new MemoryAdapter());
  const [a, b] = ['laptop', 'phone'].map(browser);
  await a!.get('/login');
  const realNow = Date.now;
  const frozen = realNow();
  Date.now = () => frozen; // the binding and the end get the same millisecond, as a fast loopback can
  t.teardown(() => { Date.now = realNow; });
  const held = gate();
  const signingIn = b!.get('/login-slow');
  await held.reached;
  t.deepEqual((await a!.get('/everywhere')).body, { ended: 1 });
  Date.now = realNow;
  held.open();
  t.deepEqual((await signingIn).body, { user: account });
  t.deepEqual((await b!.get('/me')).body, { user: null });
});

test.serial('an adapter without locks is refused: concurrent sign-ins would overwrite index entries', (t) => {
  const memory = new MemoryAdapter();
  const unlocked: Adapter = { read: (id) => memory.read(id), write: (id, data, ttl) => memory.write(id, data, ttl), destroy: (id) => memory.destroy(id), gc: () => memory.gc() };
  t.throws(() => session({ gc: false, adapter: unlocked, users: new UserSessions() }), { message: /users.*needs an adapter with locks/ });
});

test.serial('two apps with their own uniqueId on one store keep their own indexes', async (t) => {
  const adapter = new MemoryAdapter();
  const one = await serve(t, adapter, {}, { uniqueId: 'shop' }, 'shared');
  const two = await serve(t, adapter, {}, { uniqueId: 'admin' }, 'shared');
  await one.browser('x').get('/login');
  await two.browser('y').get('/login');
  await two.browser('z').get('/login');
  t.is((await one.users.list('shared')).length, 1);
  t.is((await two.users.list('shared')).length, 2);
  t.is(await one.users.endAll('shared'), 1);
  t.is((await two.users.list('shared')).length, 2, "the other app's sessions are untouched");
});

test.serial('an index write that fails fails a sign-in (nothing stored) but only reports a refresh', async (t) => {
  const memory = new MemoryAdapter();
  let failIndex = false;
  const flaky: Adapter = {
    read: (id) => memory.read(id),
    write: (id, data, ttl, lock, options) => (failIndex && id.startsWith('ksm-') ? Promise.reject(new Error('index down')) : memory.write(id, data, ttl, lock, options)),
    updateTimestamp: (id, data, ttl) => memory.updateTimestamp(id, data, ttl),
    destroy: (id) => memory.destroy(id),
    gc: () => memory.gc(),
    lock: (id, options) => memory.lock(id, options),
  };
  const { browser, account, storeErrors } = await serve(t, flaky, {}, { lifetime: 2 });
  const a = browser('laptop');
  failIndex = true;
  const refused = await a.get('/login').catch(() => ({ status: 500, body: null }));
  t.is(refused.status, 500);
  t.deepEqual((await a.get('/me')).body, { user: null }, 'the sign-in stored nothing');
  failIndex = false;
  await a.get('/login');
  await sleep(1000);
  await a.get('/me'); // keeps the session alive (idle lifetime 2 s)
  await sleep(1100); // the entry is now older than the lifetime: the next commit refreshes it
  failIndex = true;
  storeErrors.length = 0;
  t.deepEqual((await a.get('/me')).body, { user: account }, 'a failed refresh does not fail the request');
  t.deepEqual(storeErrors, ['user index'], 'it is reported');
  failIndex = false;
});

test.serial('signing in as another user moves the session to a new id; the same user again keeps it', async (t) => {
  const adapter = new MemoryAdapter();
  const users = new UserSessions();
  const app = new Koa();
  app.use(session({ gc: false, adapter, users }));
  app.use(async (ctx) => {
    if (ctx.query.as !== undefined) await users.bind(ctx, String(ctx.query.as));
    ctx.body = { user: users.userOf(ctx) };
  });
  const server = await listen(app);
  t.teardown(server.close);
  const c = new Client(server.url);
  await c.fetch('/?as=ada');
  const first = c.jar.get('sid');
  t.is((await users.list('ada')).length, 1, 'indexed under ada');
  await c.fetch('/?as=ada');
  t.is(c.jar.get('sid'), first);
  t.deepEqual(await c.json('/?as=bob'), { user: 'bob' });
  t.not(c.jar.get('sid'), first);
  t.deepEqual(await users.list('ada'), [], "ada's index no longer lists the session bob holds");
  t.is((await users.list('bob')).length, 1);
});

test.serial('the index record is no session: a cookie naming it gets a new session and leaves the index intact', async (t) => {
  const adapter = new MemoryAdapter();
  const { browser, account, users } = await serve(t, adapter);
  const a = browser('laptop');
  await a.get('/login');
  const index = await findIndexId(account);
  t.not(await adapter.read(index), null);
  const thief = browser('thief');
  thief.jar.set('sid', index);
  t.deepEqual((await thief.get('/me')).body, { user: null });
  t.not(thief.jar.get('sid'), index);
  t.is((await users.list(account)).length, 1);
});

/** The index id, recomputed as the library makes it (for stores whose keys cannot be listed). */
async function findIndexId(account: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return `ksm-user-${createHash('sha256').update(`\u0000${account}`).digest('hex').slice(0, 40)}`;
}

test.serial('the index lives as long as its sessions: refreshed by an active session past two lifetimes, gone within two lifetimes of the last', async (t) => {
  const adapter = new MemoryAdapter();
  const { browser, account, users } = await serve(t, adapter, {}, { lifetime: 1 });
  const a = browser('laptop');
  await a.get('/login');
  const index = await findIndexId(account);
  // Active for 3.3 s (more than three lifetimes, beyond the index's first TTL of 2 s).
  for (let i = 0; i < 5; i++) {
    await sleep(700);
    t.deepEqual((await a.get('/me')).body, { user: account }, `request ${i}`);
  }
  t.not(await adapter.read(index), null, 'refreshed while the session is active');
  t.is((await users.list(account)).length, 1);
  await sleep(2300);
  t.deepEqual((await a.get('/me')).body, { user: null }, 'the session expired');
  t.is(await adapter.read(index), null, 'and the index with it');
});

test('options are checked; a token store is refused; one UserSessions per middleware', (t) => {
  t.throws(() => new UserSessions({ max: -1 }), { message: /UserSessions\.max/ });
  t.throws(() => new UserSessions({ onLimit: 'oldest' as never }), { message: /onLimit/ });
  t.throws(() => new UserSessions({ maximum: 2 } as never), { message: /UserSessions\.maximum/ });
  t.throws(() => session({ gc: false, adapter: new MemoryAdapter(), users: {} as never }), { message: /must be a UserSessions/ });
  const tokens = new TokenStore({ keys: [{ kid: 'k', secret: TokenStore.generateSecret() }] });
  t.throws(() => session({ gc: false, adapter: tokens, users: new UserSessions() }), { message: /users.*needs a session store/ });
  const users = new UserSessions();
  session({ gc: false, adapter: new MemoryAdapter(), users });
  t.throws(() => session({ gc: false, adapter: new MemoryAdapter(), users }), { message: /already given/ });
});
