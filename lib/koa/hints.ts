/**
 * What `InvalidOption` says for the options users bring from koa-session, express-session,
 * @fastify/session and PHP/Phalcon: the option to use here instead, or why none is needed.
 * Kept apart from the checks in options.ts and cookie.ts, which stay readable.
 */

const NOT_SIGNED = 'not needed: nothing is signed; session ids are 32 random characters (about 191 bits) from the CSPRNG, checked against the store on the server (strict mode)';
const IN_COOKIE = (key: string) => `a cookie attribute: use \`cookie: { ${key} }\``;

/** Options of koa-session, express-session, @fastify/session and PHP/Phalcon, and what to use here. */
export const SESSION_HINTS: Readonly<Record<string, string>> = {
  store: 'use `adapter`: an adapter instance such as new StreamAdapter({ savePath }), new RedisAdapter({ … }) or new MemcachedAdapter({ … }) (express-session\'s `store`)',
  maxAge: 'use `lifetime`, in seconds (koa-session\'s and express-session\'s maxAge is in milliseconds): it is the idle lifetime, the store TTL and the cookie Max-Age',
  expires: 'use `lifetime` (idle seconds: store TTL and cookie Max-Age), or `cookie.browserSession: true` for a cookie that ends with the browser',
  key: 'use `name`: the cookie name (koa-session\'s `key`)',
  cookieName: 'use `name`: the cookie name',
  secret: NOT_SIGNED,
  secrets: NOT_SIGNED,
  keys: NOT_SIGNED,
  signed: NOT_SIGNED,
  genid: 'ids are always 32 characters (about 191 bits) from node:crypto (see generateId()); there is no generator option',
  idLength: 'ids are always 32 characters (about 191 bits) from node:crypto; there is no length option',
  rolling: 'not needed: every request that starts the session (unless read-only) refreshes the store TTL and sends the cookie again with a full Max-Age; `absoluteLifetime` caps the whole session',
  renew: 'not needed: the idle `lifetime` starts again at every request that starts the session (unless read-only), in the store and in the cookie',
  resave: 'not needed: changed data is written, unchanged data only refreshes the TTL (`lazyWrite: true`); `lazyWrite: false` writes every time',
  saveUninitialized: 'not needed: a new session that holds nothing is never stored and gets no cookie; it is saved once something is set',
  unset: 'not needed: ctx.session.remove(key) removes a key, ctx.session.destroy() removes the session',
  autoCommit: 'not needed: the middleware always commits after the route, also when it throws; `await ctx.session.writeClose()` commits early',
  proxy: 'set `app.proxy = true` on the Koa app: with `cookie.secure: \'auto\'` a request a trusted proxy marks as HTTPS (X-Forwarded-Proto) gets a Secure cookie',
  encode: 'use `serializer`: { stringify, parse }',
  decode: 'use `serializer`: { stringify, parse }',
  path: IN_COOKIE('path'),
  domain: IN_COOKIE('domain'),
  httpOnly: IN_COOKIE('httpOnly'),
  secure: IN_COOKIE('secure'),
  sameSite: IN_COOKIE('sameSite'),
  overwrite: 'not needed: the middleware replaces its own Set-Cookie and keeps every other one',
  savePath: 'an adapter option: `adapter: new StreamAdapter({ savePath })`',
  prefix: 'an adapter option (the key prefix in the store): e.g. `adapter: new RedisAdapter({ prefix })`',
  host: 'an adapter option: e.g. `adapter: new RedisAdapter({ host, port })`',
  port: 'an adapter option: e.g. `adapter: new RedisAdapter({ host, port })`',
  use_strict_mode: 'use `strict`',
  lazy_write: 'use `lazyWrite`',
  gc_maxlifetime: 'use `lifetime` (seconds)',
  gc_probability: 'use `gc: { probability: gc_probability / gc_divisor }`',
  gc_divisor: 'use `gc: { probability: gc_probability / gc_divisor }`',
  cookie_lifetime: 'the cookie follows `lifetime`; `cookie.browserSession: true` is PHP\'s cookie_lifetime = 0',
  cache_limiter: 'use `cacheLimiter`',
  cache_expire: 'use `cacheExpire`, in seconds (PHP\'s is in minutes)',
};

export const LOCKING_HINTS: Readonly<Record<string, string>> = {
  timeout: 'use `wait`: the longest wait for the lock, in seconds',
  ttl: 'use `expiry`: seconds after which a dead holder\'s lock is taken over',
  retries: 'not needed: a waiter gets the lock when it is released; `wait` bounds the wait, in seconds',
  retryDelay: 'not needed: a waiter gets the lock when it is released; `wait` bounds the wait, in seconds',
};

export const GC_HINTS: Readonly<Record<string, string>> = {
  divisor: '`probability` is a share from 0 to 1: PHP\'s gc_probability / gc_divisor',
  maxLifetime: 'expired means idle for longer than the top-level `lifetime`',
};

const LIFETIME_HINT = 'the cookie lives as long as the session: top-level `lifetime`, in seconds (the store TTL and the cookie Max-Age alike); `cookie.browserSession: true` for a cookie that ends with the browser';
export const COOKIE_HINTS: Readonly<Record<string, string>> = {
  maxAge: LIFETIME_HINT,
  expires: LIFETIME_HINT,
  signed: NOT_SIGNED,
  overwrite: 'not needed: the middleware replaces its own Set-Cookie and keeps every other one',
  name: 'use the top-level `name`',
};
