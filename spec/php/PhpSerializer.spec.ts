import test from 'ava';
import { randomBytes } from 'node:crypto';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { Manager } from '../../lib/Manager';
import { bytesOfText, textOfBytes } from '../../lib/php/bytes';
import { BYTES_PREFIX } from '../../lib/adapters/Adapter';
import { PhpSerializer } from '../../lib/php/PhpSerializer';
import { PhpFloat } from '../../lib/php/values';
import { FakeTransport } from '../helpers/doubles';
import { EncryptedAdapter } from '../../lib/adapters/EncryptedAdapter';
import { MigratingAdapter } from '../../lib/adapters/MigratingAdapter';
import { session } from '../../lib/koa/middleware';
import { resolvePhpStore } from '../../lib/php/store';
import { JsonSerializer } from '../../lib/serializers/JsonSerializer';

const ID = 'a'.repeat(32);

/** A Manager over `adapter` with PHP's format, started with the cookie `id`. */
async function started(adapter: MemoryAdapter, serializer: PhpSerializer, id = ID, uniqueId?: string): Promise<Manager> {
  const session = new Manager({ serializer, uniqueId }).setAdapter(adapter).setTransport(new FakeTransport(id));
  await session.start();
  return session;
}

test('php › PhpSerializer › reads PHP\'s session into the record; writes new keys as PHP would', (t) => {
  const s = new PhpSerializer();
  const record = s.parse('user|s:3:"ada";n|i:1;');
  t.deepEqual({ ...record.d }, { user: 'ada', n: 1 });
  t.is(typeof record.c, 'number');
  t.is(s.stringify({ c: 0, d: { user: 'Zoë', list: [1, 2.5] } }), 'user|s:4:"Zoë";list|a:2:{i:0;i:1;i:1;d:2.5;}');
  t.is(new PhpSerializer({ handler: 'php_serialize', envelope: 'phalcon' }).stringify({ c: 0, d: { n: 1 } }), 's:18:"a:1:{s:1:"n";i:1;}";');
  t.false(s.storesCreationTime);
});

test('php › PhpSerializer › bytes that are no UTF-8 travel as BYTES_PREFIX text and come back identical; a binary string reads as a Buffer', (t) => {
  const s = new PhpSerializer();
  const stored = Buffer.concat([Buffer.from('bin|s:3:"'), Buffer.from([0xff, 0x00, 0xfe]), Buffer.from('";t|d:3;')]);
  const text = textOfBytes(stored);
  t.true(text.startsWith(BYTES_PREFIX));
  const record = s.parse(text);
  t.deepEqual(record.d.bin, Buffer.from([0xff, 0x00, 0xfe]));
  record.d.n = 1;
  t.deepEqual(bytesOfText(s.stringifyOver(record, text)), Buffer.concat([stored, Buffer.from('n|i:1;')]));
  for (let i = 0; i < 500; i++) {
    const bytes = randomBytes(i % 40);
    t.deepEqual(bytesOfText(textOfBytes(bytes)), bytes);
  }
  t.is(textOfBytes(Buffer.from('n|i:1;')), 'n|i:1;', 'UTF-8 travels as itself');
});

test('php › PhpSerializer › check(): keys and values PHP cannot store are named; what it can store passes', (t) => {
  const php = new PhpSerializer();
  const whole = new PhpSerializer({ handler: 'php_serialize' });
  t.regex(php.check(1, 'a|b')!, /"\|"/);
  t.regex(php.check(1, '5')!, /numeric/);
  t.is(whole.check(1, '5'), undefined);
  t.is(whole.check(1, 'a|b'), undefined);
  t.regex(php.check(new Date(), 'when')!, /Date/);
  t.regex(php.check(new Map(), 'm')!, /Map/);
  t.regex(php.check({ f: () => 1 }, 'o')!, /function/);
  for (const ok of [1n << 62n, Buffer.from([0xff]), new PhpFloat(3), { a: [1, { b: null }] }, 'text']) t.is(php.check(ok, 'k'), undefined);
  t.throws(() => new PhpSerializer({ handeler: 'php' } as never), { code: 'ERR_SESSION_INVALID_OPTION', message: /php\.handeler.*handler/ });
});

test('php › Manager with PhpSerializer › set() refuses a key PHP would drop, with the uniqueId prefix counted as PHP sees the key', async (t) => {
  const adapter = new MemoryAdapter();
  const session = await started(adapter, new PhpSerializer());
  t.throws(() => session.set('5', 1), { code: 'ERR_SESSION_INVALID_VALUE', message: /numeric/ });
  t.throws(() => session.set('a|b', 1), { code: 'ERR_SESSION_INVALID_VALUE' });
  const namespaced = await started(adapter, new PhpSerializer(), 'b'.repeat(32), 'shop');
  t.notThrows(() => namespaced.set('5', 1), 'stored as "shop#5", which PHP keeps');
});

test('php › Manager with PhpSerializer › regenerateId() keeps PHP\'s bytes: the new id holds 3.0 as d:3, not i:3', async (t) => {
  const adapter = new MemoryAdapter();
  await adapter.write(ID, 'since|d:3;n|i:1;', 60);
  const session = await started(adapter, new PhpSerializer());
  t.is(session.get('since'), 3);
  await session.regenerateId();
  session.set('user', 'ada');
  await session.writeClose();
  t.not(session.getId(), ID);
  t.is(await adapter.read(session.getId()), 'since|d:3;n|i:1;user|s:3:"ada";');
});

test('php › Manager with PhpSerializer › an unchanged session is written back as it was read (lazy write sees no change)', async (t) => {
  const adapter = new MemoryAdapter();
  const text = 'obj|O:3:"Foo":1:{s:6:"\u0000Foo\u0000p";d:1;}t|d:3;';
  await adapter.write(ID, text, 60);
  const session = await started(adapter, new PhpSerializer());
  t.like(session.get('obj'), { __PHP_Incomplete_Class_Name: 'Foo', '\u0000Foo\u0000p': 1 });
  await session.writeClose();
  t.is(await adapter.read(ID), text);
});

test('php › Manager › an adapter that names its format refuses a Manager with another serializer, at start', async (t) => {
  const serializer = new PhpSerializer();
  const adapter = Object.assign(new MemoryAdapter(), { sharedFormat: { serializer, cookieName: 'PHPSESSID' } });
  const json = new Manager().setAdapter(adapter).setTransport(new FakeTransport());
  await t.throwsAsync(json.start(), { code: 'ERR_SESSION_INVALID_OPTION', message: /serializer/ });
  const php = new Manager({ serializer }).setAdapter(adapter).setTransport(new FakeTransport());
  t.true(await php.start());
  const absolute = new Manager({ serializer, absoluteLifetime: 60 }).setAdapter(adapter).setTransport(new FakeTransport());
  await t.throwsAsync(absolute.start(), { code: 'ERR_SESSION_INVALID_OPTION', message: /absoluteLifetime/ });
});

/** A MemoryAdapter shared with PHP (its `sharedFormat`), counting writes and touches. */
class SharedStore extends MemoryAdapter {
  readonly sharedFormat = { serializer: new PhpSerializer(), cookieName: 'PHPSESSID' };
  writes = 0;
  touches = 0;
  override write(...args: Parameters<MemoryAdapter['write']>): Promise<boolean> {
    this.writes++;
    return super.write(...args);
  }
  override updateTimestamp(...args: Parameters<MemoryAdapter['updateTimestamp']>): Promise<boolean> {
    this.touches++;
    return super.updateTimestamp(...args);
  }
}

test('php › Manager › an unchanged PHP session is not written, only its TTL refreshed', async (t) => {
  const adapter = new SharedStore();
  await adapter.write(ID, 'obj|O:3:"Foo":0:{}t|d:3;', 60);
  adapter.writes = 0;
  const session = new Manager({ serializer: adapter.sharedFormat.serializer }).setAdapter(adapter).setTransport(new FakeTransport(ID));
  await session.start();
  t.is(session.get('t'), 3);
  await session.writeClose();
  t.deepEqual([adapter.writes, adapter.touches], [0, 1]);
});

test('php › Manager › a PHP record Node cannot read is kept, and so is the user\'s cookie: nothing stored, nothing sent', async (t) => {
  const adapter = new SharedStore();
  const latin1 = textOfBytes(Buffer.from('caf\u00e9|s:1:"x";', 'latin1')); // a key PHP wrote in Latin-1: not UTF-8, no JS key
  await adapter.write(ID, latin1, 60);
  const transport = new FakeTransport(ID);
  const session = new Manager({ serializer: adapter.sharedFormat.serializer }).setAdapter(adapter).setTransport(transport);
  await session.start();
  session.set('n', 1);
  await session.writeClose();
  t.deepEqual([transport.written, transport.cleared], [[], []], 'PHP\'s cookie is neither replaced nor cleared');
  t.is(await adapter.read(ID), latin1);
  t.is(await adapter.read(session.getId()), null, 'no other session was made for it either');
});

test('php › Manager › an unchanged PHP session over maxSize still works (PHP has no such limit); bytes that are no UTF-8 are counted once', async (t) => {
  const adapter = new MemoryAdapter();
  const serializer = new PhpSerializer();
  const big = `big|s:2000:"${'x'.repeat(2000)}";`;
  await adapter.write(ID, big, 60);
  const session = new Manager({ serializer, maxSize: 1000 }).setAdapter(adapter).setTransport(new FakeTransport(ID));
  await session.start();
  await t.notThrowsAsync(session.writeClose());
  const binary = textOfBytes(Buffer.concat([Buffer.from('b|s:900:"'), Buffer.alloc(900, 0xff), Buffer.from('";')]));
  await adapter.write('c'.repeat(32), binary, 60);
  const other = new Manager({ serializer, maxSize: 1000 }).setAdapter(adapter).setTransport(new FakeTransport('c'.repeat(32)));
  await other.start();
  other.set('n', 1); // 917 bytes: under 1000, though its text has 1836 UTF-8 bytes
  await t.notThrowsAsync(other.writeClose());
});

test('php › options › an explicit envelope: undefined keeps Phalcon\'s envelope', (t) => {
  const serializer = resolvePhpStore({ flavor: 'phalcon', envelope: undefined }, ['phpredis', 'phalcon']).serializer;
  t.is(serializer.stringify({ c: 0, d: { user: 'ada' } }), 's:15:"user|s:3:"ada";";');
});

test('php › options › wrappers that would hide PHP\'s format from session() refuse a shared store', (t) => {
  const shared = new SharedStore();
  t.throws(() => new EncryptedAdapter(shared, { keys: [{ id: 'k', key: EncryptedAdapter.generateKey() }] }), { code: 'ERR_SESSION_INVALID_OPTION', message: /PHP app/ });
  t.throws(() => new MigratingAdapter({ from: new MemoryAdapter(), to: shared, phase: 'copy' }), { code: 'ERR_SESSION_INVALID_OPTION', message: /PHP app/ });
});

test('php › options › an adapter with a serializer field of its own (the connect-redis pattern) is not taken for a shared store', async (t) => {
  const own = Object.assign(new MemoryAdapter(), { serializer: JSON, cookieName: 'x' });
  const app = session({ adapter: own, serializer: new JsonSerializer() });
  t.is(typeof app, 'function');
  const manager = new Manager().setAdapter(own).setTransport(new FakeTransport());
  t.true(await manager.start());
});
