// The strict consumers of spec/package/pack.spec.ts: one TypeScript file per entry point, as an
// app would write it, compiled against the installed tarball under every resolution mode. The
// `@ts-expect-error` lines are the typing promises: each must be an error, or tsc reports the
// directive as unused and the spec fails.

/** Module options per resolution mode (TypeScript's own names). */
export const RESOLUTIONS: Record<string, Record<string, unknown>> = {
  node10: { module: 'commonjs', moduleResolution: 'node10', ignoreDeprecations: '6.0' },
  node16: { module: 'node16', moduleResolution: 'node16' },
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  bundler: { module: 'preserve', moduleResolution: 'bundler' },
};

/** The flags of a strict consumer; decorators need the two legacy decorator flags. */
export const STRICT = {
  target: 'ES2022',
  strict: true,
  skipLibCheck: false,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  esModuleInterop: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  types: ['node'],
  noEmit: true,
};

export const CONSUMERS: Record<string, string> = {
  'main.ts': `
import Koa from 'koa';
import { Bag, Manager, MemoryAdapter, PeerDependencyMissing, session, StreamAdapter, type SessionEventMap } from 'koa-session-manager';

declare module 'koa-session-manager' {
  interface SessionData {
    visits: number;
    role: 'admin' | 'user';
  }
}

const app = new Koa();
const mw = session({ adapter: new MemoryAdapter(), lifetime: 1800 });
app.use(mw);
app.use(async (ctx) => {
  ctx.session.visits = (ctx.session.visits ?? 0) + 1;
  ctx.session.set('role', 'admin');
  const visits: number | null = ctx.session.get('visits');
  // @ts-expect-error: a key SessionData does not declare
  ctx.session.set('vists', 1);
  // @ts-expect-error: a value of the wrong type
  ctx.session.set('visits', 'x');
  // @ts-expect-error: reading an undeclared key
  ctx.session.get('vists');
  // @ts-expect-error: property access to an undeclared key
  void ctx.session.vists;
  // @ts-expect-error: a property of the wrong type
  ctx.session.role = 'root';
  ctx.persistent.set('theme', 'dark');
  ctx.flash.success('Saved');
  ctx.body = \`visit \${visits ?? 0} \${ctx.flash.output()}\`;
});

mw.events.on('session:storeError', ({ id, operation, error, session }) => {
  const op: string = operation;
  void [id, op, error, session.getId()];
});
mw.events.on('session:lockWaited', (payload: SessionEventMap['session:lockWaited']) => {
  const waited: number = payload.waitedMs;
  void waited;
});
// @ts-expect-error: session:created has no waitedMs
mw.events.on('session:created', (payload) => payload.waitedMs);

const manager = new Manager({ uniqueId: 'app' }).setAdapter(new StreamAdapter({ savePath: '/var/lib/app/sessions' }));
const bag: Bag = new Bag(manager, 'cart');
void bag;
void (PeerDependencyMissing satisfies new (...args: never[]) => Error);
`,
  'redis.ts': `
import { session } from 'koa-session-manager';
import { RedisAdapter, type RedisAdapterOptions } from 'koa-session-manager/redis';
import { Redis } from 'ioredis';

const options: RedisAdapterOptions = { url: 'rediss://user:secret@cache.example:6380/2', prefix: 'app:' };
export const fromUrl = session({ adapter: new RedisAdapter(options) });
export const own = new RedisAdapter({ client: new Redis({ lazyConnect: true }), lockingEnabled: true });
// @ts-expect-error: an option the adapter does not have
export const bad = new RedisAdapter({ maxAge: 1 });
`,
  'memcached.ts': `
import { session } from 'koa-session-manager';
import { MemcachedAdapter, type MemcachedAdapterOptions } from 'koa-session-manager/memcached';

const options: MemcachedAdapterOptions = { servers: [{ host: '127.0.0.1', port: 11211, weight: 1 }], lifetime: 1800 };
export const mw = session({ adapter: new MemcachedAdapter(options) });
`,
  'postgres.ts': `
import { session } from 'koa-session-manager';
import { PostgresAdapter, type PostgresAdapterOptions } from 'koa-session-manager/postgres';

const options: PostgresAdapterOptions = { url: 'postgres://app@db.example:5432/app', table: 'app.sessions', lockWait: 5 };
export const adapter = new PostgresAdapter(options);
export const mw = session({ adapter });
export const ready: Promise<void> = adapter.createTable();
// @ts-expect-error: connect-pg-simple's option name
export const bad = new PostgresAdapter({ tableName: 'x' });
`,
  'mysql.ts': `
import { session } from 'koa-session-manager';
import { MysqlAdapter, type MysqlAdapterOptions } from 'koa-session-manager/mysql';

const options: MysqlAdapterOptions = { url: 'mysql://app:secret@db.example:3306/app', table: 'sessions', max: 5 };
export const mw = session({ adapter: new MysqlAdapter(options) });
`,
  'token.ts': `
import { session } from 'koa-session-manager';
import { TokenStore, TokenTooLarge, type TokenStoreOptions } from 'koa-session-manager/token';

const options: TokenStoreOptions = { mode: 'encrypted', keys: [{ kid: '2026-12', secret: TokenStore.generateSecret() }], transport: 'bearer' };
export const mw = session({ adapter: new TokenStore(options), lifetime: 1800 });
export const tooLarge: number = new TokenTooLarge(5000, 4093, 'cookie').maxSize;
// @ts-expect-error: 'none' is no algorithm a TokenStore makes
export const none = new TokenStore({ algorithm: 'none', keys: [] });
`,
  'php.ts': `
import { session } from 'koa-session-manager';
import { RedisAdapter } from 'koa-session-manager/redis';
import { MemcachedAdapter } from 'koa-session-manager/memcached';
import { PhpSerializer, decodeSession, PhpFloat, type PhpSessionFormat } from 'koa-session-manager/php';

const format: PhpSessionFormat = { handler: 'php_serialize' };
export const mw = session({ adapter: new RedisAdapter({ url: 'redis://cache:6379/3', php: { flavor: 'phalcon', ...format } }) });
export const mc = session({ adapter: new MemcachedAdapter({ php: { handler: 'php' } }) });
export const serializer = new PhpSerializer(format);
export const data: Record<string, unknown> = decodeSession(Buffer.from('n|d:3;'));
export const float = new PhpFloat(3);
// @ts-expect-error: PHP's Redis handlers are phpredis and Phalcon
export const bad = new RedisAdapter({ php: { flavor: 'predis' } });
`,
  'file.ts': `
import { session } from 'koa-session-manager';
import { StreamAdapter, type StreamAdapterOptions } from 'koa-session-manager/file';

const options: StreamAdapterOptions = { savePath: '/var/lib/app/sessions' };
export const mw = session({ adapter: new StreamAdapter(options) });
`,
  'decorators.ts': `
import 'reflect-metadata';
import Koa from 'koa';
import { Controller, Get, useKoaServer } from 'routing-controllers';
import { session, type Bag, type Flash, type Manager } from 'koa-session-manager';
import { FlashSession, Persistent, Session, SessionPolicy } from 'koa-session-manager/decorators';

@Controller('/')
@SessionPolicy({ readOnly: true })
export class HomeController {
  @Get('')
  home(@Session() s: Manager, @Persistent() prefs: Bag, @FlashSession() flash: Flash): string {
    return \`\${s.getId()} \${String(prefs.get('theme'))} \${flash.output()}\`;
  }
}

const app = new Koa();
app.use(session({ start: 'lazy' }));
useKoaServer(app, { controllers: [HomeController] });
`,
};
