import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { InvalidOption } from '../../lib/errors';
import { session } from '../../lib/koa/middleware';
import { resolveOptions, type SessionOptions } from '../../lib/koa/options';
import { Client, listen } from '../helpers/http';

/** The InvalidOption that session(options) throws (over a MemoryAdapter unless options say otherwise). */
function refusal(t: ExecutionContext, options: Record<string, unknown>): InvalidOption {
  return t.throws(() => session({ adapter: new MemoryAdapter(), ...options } as SessionOptions), { instanceOf: InvalidOption }) as InvalidOption;
}

// [what the user wrote, the option named, what the message must say]
const habits: Array<[Record<string, unknown>, string, RegExp]> = [
  [{ store: new MemoryAdapter() }, 'store', /use `adapter`.*StreamAdapter.*RedisAdapter/],
  [{ maxAge: 86_400_000 }, 'maxAge', /use `lifetime`, in seconds.*milliseconds/],
  [{ key: 'koa.sess' }, 'key', /use `name`/],
  [{ secret: 'keyboard cat' }, 'secret', /not needed: nothing is signed.*random/],
  [{ secrets: ['a', 'b'] }, 'secrets', /not needed: nothing is signed/],
  [{ keys: ['a'] }, 'keys', /not needed: nothing is signed/],
  [{ signed: true }, 'signed', /not needed: nothing is signed/],
  [{ rolling: true }, 'rolling', /not needed: every request .*refreshes the store TTL and sends the cookie again/],
  [{ renew: true }, 'renew', /not needed: the idle `lifetime` starts again at every request/],
  [{ resave: false }, 'resave', /not needed: changed data is written.*`lazyWrite/],
  [{ saveUninitialized: false }, 'saveUninitialized', /not needed: a new session that holds nothing is never stored and gets no cookie/],
  [{ genid: () => 'x' }, 'genid', /from node:crypto.*no generator option/],
  [{ proxy: true }, 'proxy', /app\.proxy = true/],
  [{ httpOnly: true }, 'httpOnly', /cookie: \{ httpOnly \}/],
  [{ savePath: '/tmp' }, 'savePath', /an adapter option.*StreamAdapter/],
  [{ gc_maxlifetime: 1440 }, 'gc_maxlifetime', /use `lifetime`/],
  [{ cache_expire: 180 }, 'cache_expire', /`cacheExpire`, in seconds.*minutes/],
  [{ cookie: { maxAge: 60_000 } }, 'cookie.maxAge', /`lifetime`, in seconds.*`cookie\.browserSession: true`/],
  [{ cookie: { expires: new Date() } }, 'cookie.expires', /`lifetime`, in seconds.*`cookie\.browserSession: true`/],
  [{ cookie: { signed: true } }, 'cookie.signed', /not needed: nothing is signed/],
  [{ cookie: { httponly: true } }, 'cookie.httponly', /did you mean "httpOnly"/],
  [{ locking: { timeout: 5 } }, 'locking.timeout', /use `wait`/],
  [{ locking: { wiat: 5 } }, 'locking.wiat', /did you mean "wait"/],
  [{ gc: { probability: 1, divisor: 100 } }, 'gc.divisor', /share from 0 to 1/],
  [{ gc: { interval: 60, every: 1 } }, 'gc.every', /the options here are: probability, interval/],
  [{ lifeTime: 60 }, 'lifeTime', /did you mean "lifetime"/],
];
for (const [options, option, message] of habits) {
  test(`session() options › closed › refuses ${option}, naming it with what to use instead`, (t) => {
    const err = refusal(t, options);
    t.is(err.option, option);
    t.regex(err.message, message);
    t.true(err.message.includes(`"${option}"`));
  });
}

test('session() options › closed › every documented option is still accepted', (t) => {
  t.notThrows(() => session({
    adapter: new MemoryAdapter(), name: 'sid', cookie: { path: '/', httpOnly: true, sameSite: 'lax', secure: 'auto', browserSession: false },
    lifetime: 60, absoluteLifetime: 600, strict: true, lazyWrite: true, uniqueId: 'app', serializer: JSON, locking: { wait: 1, expiry: 5, renew: true },
    gc: { interval: 60 }, events: new Koa(), flash: {}, persistentName: 'p', start: 'lazy', maxSize: 1000, cacheLimiter: 'private', cacheExpire: 60,
  }));
});

test('session() options › locking.renew must be a boolean; gc takes probability or interval, not both', (t) => {
  t.is(refusal(t, { locking: { renew: 'yes' } }).option, 'locking.renew');
  t.is(refusal(t, { gc: { probability: 0.1, interval: 60 } }).option, 'gc');
});

test('session() options › lifetime › over 400 days is refused as probably milliseconds, with the seconds it meant', (t) => {
  const err = refusal(t, { lifetime: 86_400_000 });
  t.is(err.option, 'lifetime');
  t.regex(err.message, /seconds, not milliseconds/);
  t.regex(err.message, /34560000 \(400 days/);
  t.regex(err.message, /did you mean 86400\?/);
  t.is(refusal(t, { lifetime: 34_560_001 }).option, 'lifetime');
  t.notThrows(() => session({ adapter: new MemoryAdapter(), lifetime: 34_560_000 }));
});

test('session() options › absoluteLifetime › over 400 days is refused the same way', (t) => {
  const err = refusal(t, { absoluteLifetime: 604_800_000 });
  t.is(err.option, 'absoluteLifetime');
  t.regex(err.message, /did you mean 604800\?/);
  t.notThrows(() => session({ adapter: new MemoryAdapter(), absoluteLifetime: 34_560_000 }));
});

test('session() options › lifetime › a lifetime taken from the adapter is held to the same cap', (t) => {
  const adapter = Object.assign(new MemoryAdapter(), { lifetime: 3_600_000_000 });
  const err = t.throws(() => session({ adapter }), { instanceOf: InvalidOption });
  t.is(err?.option, 'lifetime');
  t.regex(err!.message, /taken from the adapter's lifetime.*did you mean 3600000\?/);
});

test('session() options › maxSize › defaults to 1 MiB and reaches the Manager', (t) => {
  t.is(resolveOptions({ adapter: new MemoryAdapter() }).manager.maxSize, 1_048_576);
  t.is(resolveOptions({ adapter: new MemoryAdapter(), maxSize: 4096 }).manager.maxSize, 4096);
});

for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1024']) {
  test(`session() options › maxSize › ${String(bad)} (${typeof bad}) is refused`, (t) => {
    t.is(refusal(t, { maxSize: bad }).option, 'maxSize');
  });
}

test('session() options › maxSize › a session over it is not written (through HTTP)', async (t) => {
  const adapter = new MemoryAdapter();
  const app = new Koa();
  app.silent = true;
  const errors: string[] = [];
  app.on('error', (err: { code?: string }) => errors.push(err.code ?? 'unknown'));
  app.use(session({ adapter, gc: false, maxSize: 200 }));
  app.use((ctx) => { ctx.session.set('big', 'x'.repeat(Number(ctx.query.size))); ctx.body = 'ok'; });
  const server = await listen(app);
  t.teardown(() => server.close());
  const client = new Client(server.url);
  t.is((await client.fetch('/?size=10')).status, 200);
  t.is((await client.fetch('/?size=300')).status, 500);
  t.deepEqual(errors, ['ERR_SESSION_TOO_LARGE']);
  t.is(adapter.size, 1, 'only the small session was stored');
});

test('session() options › cacheLimiter › \'public\' is refused, saying why', (t) => {
  const err = refusal(t, { cacheLimiter: 'public' });
  t.is(err.option, 'cacheLimiter');
  t.regex(err.message, /shared cache/);
});

test('session() options › cacheLimiter and cacheExpire › other bad values are refused', (t) => {
  t.is(refusal(t, { cacheLimiter: 'no-store' }).option, 'cacheLimiter');
  t.is(refusal(t, { cacheLimiter: false }).option, 'cacheLimiter');
  t.is(refusal(t, { cacheExpire: -1 }).option, 'cacheExpire');
  t.is(refusal(t, { cacheExpire: 1.5 }).option, 'cacheExpire');
  t.is(refusal(t, { cacheExpire: '180' }).option, 'cacheExpire');
});

test('resolveOptions › flash options are checked when the middleware is made, not at the first flash', (t) => {
  const err = t.throws(() => resolveOptions({ flash: { maxMessage: 5 } as never }), { code: 'ERR_SESSION_INVALID_OPTION' });
  t.regex(err!.message, /flash\.maxMessage.*maxMessages/);
});
