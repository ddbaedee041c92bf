import test, { type ExecutionContext } from 'ava';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MOVE_MARKER_PREFIX, type Adapter } from '../../lib/adapters/Adapter';
import { EncryptedAdapter, type EncryptedAdapterOptions } from '../../lib/adapters/EncryptedAdapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { NoopAdapter } from '../../lib/adapters/NoopAdapter';
import { StreamAdapter } from '../../lib/file/StreamAdapter';
import { RedisAdapter } from '../../lib/redis/RedisAdapter';
import { adapterContract, newId } from '../helpers/adapterContract';
import { makeTempDir, tempDir } from '../helpers/tmp';
import { useRedis } from '../helpers/redisServer';

const redis = useRedis(test);
const KEYS = [{ id: 'k2', key: EncryptedAdapter.generateKey() }, { id: 'k1', key: EncryptedAdapter.generateKey() }];
const wrap = (inner: Adapter, options: Partial<EncryptedAdapterOptions> = {}) => new EncryptedAdapter(inner, { keys: KEYS, ...options });
const INVALID_OPTION = { code: 'ERR_SESSION_INVALID_OPTION' };

adapterContract(test, 'EncryptedAdapter(MemoryAdapter)', async () => ({ adapter: wrap(new MemoryAdapter()) }), { locking: true, persistent: true });

adapterContract(test, 'EncryptedAdapter(StreamAdapter)', async () => {
  const dir = await makeTempDir('encrypted');
  return { adapter: wrap(new StreamAdapter({ savePath: dir.path })), cleanup: dir.remove };
}, {
  locking: true,
  persistent: true,
  lockLoss: {
    lose: (adapter, id) => unlink(join(((adapter as EncryptedAdapter).inner as StreamAdapter).savePath, `sess_${id}.lock`)),
    twin: async (adapter) => wrap(new StreamAdapter({ savePath: ((adapter as EncryptedAdapter).inner as StreamAdapter).savePath })),
  },
});

adapterContract(test, 'EncryptedAdapter(RedisAdapter)', async () => {
  const a = wrap(new RedisAdapter({ port: redis().port }));
  return { adapter: a, cleanup: () => a.close!() };
}, {
  locking: true,
  persistent: true,
  lockLoss: {
    lose: async (_adapter, id) => void (await redis().cli('DEL', `sess-reds-{${id}}.lock`)),
    twin: async () => wrap(new RedisAdapter({ port: redis().port })),
  },
});

adapterContract(test, 'EncryptedAdapter(NoopAdapter)', async () => ({ adapter: wrap(new NoopAdapter()) }), { locking: false, persistent: false });

// ---- options -------------------------------------------------------------------------------

const hex = Buffer.alloc(32, 7).toString('hex');
for (const [what, options, option] of [
  ['an unknown option', { keys: KEYS, key: 'x' }, 'EncryptedAdapter.key'],
  ['a misspelt option', { keys: KEYS, acceptPlainText: true }, 'EncryptedAdapter.acceptPlainText'],
  ['no keys', {}, 'keys'],
  ['an empty ring', { keys: [] }, 'keys'],
  ['a key entry that is no object', { keys: ['abc'] }, 'keys[0]'],
  ['an unknown key field', { keys: [{ id: 'a', key: hex, kid: 'a' }] }, 'keys[0].kid'],
  ['a key id outside [A-Za-z0-9_-]', { keys: [{ id: 'a.b', key: hex }] }, 'keys[0].id'],
  ['a key id over 32 characters', { keys: [{ id: 'x'.repeat(33), key: hex }] }, 'keys[0].id'],
  ['a duplicate key id', { keys: [{ id: 'a', key: hex }, { id: 'a', key: hex }] }, 'keys[1].id'],
  ['a 16-byte key', { keys: [{ id: 'a', key: Buffer.alloc(16) }] }, 'keys[0].key'],
  ['a passphrase for a key', { keys: [{ id: 'a', key: 'correct horse battery staple' }] }, 'keys[0].key'],
  ['a number for a key', { keys: [{ id: 'a', key: 42 }] }, 'keys[0].key'],
  ['acceptPlaintext that is no boolean', { keys: KEYS, acceptPlaintext: 'yes' }, 'acceptPlaintext'],
] as const) {
  test(`EncryptedAdapter › options › ${what} throws InvalidOption naming ${option}`, (t) => {
    const err = t.throws(() => new EncryptedAdapter(new MemoryAdapter(), options as unknown as EncryptedAdapterOptions), INVALID_OPTION);
    t.is((err as Error & { option: string }).option, option);
  });
}

test('EncryptedAdapter › options › a key may be a Buffer, 64 hex digits, base64 or base64url', (t) => {
  const bytes = Buffer.alloc(32, 0xfb);
  for (const key of [bytes, new Uint8Array(bytes), bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')]) {
    t.notThrows(() => new EncryptedAdapter(new MemoryAdapter(), { keys: [{ id: 'a', key }] }));
  }
  t.is(Buffer.from(EncryptedAdapter.generateKey(), 'base64url').length, 32);
});

test('EncryptedAdapter › options › the inner adapter must be an adapter', (t) => {
  t.throws(() => new EncryptedAdapter({} as Adapter, { keys: KEYS }), { code: 'ERR_SESSION_INVALID_ADAPTER' });
});

test('EncryptedAdapter › pass-through › optional methods exist exactly when the inner adapter has them', (t) => {
  const full = wrap(new MemoryAdapter());
  t.is(typeof full.lock, 'function');
  t.is(typeof full.validateId, 'function');
  t.is(typeof full.updateTimestamp, 'function');
  const bare = wrap({ read: async () => null, write: async () => undefined, destroy: async () => undefined, gc: async () => 0 });
  t.is(bare.lock, undefined);
  t.is(bare.validateId, undefined);
  t.is(bare.updateTimestamp, undefined);
  t.is(bare.close, undefined);
  t.deepEqual(full.keyIds, ['k2', 'k1']);
});

test('EncryptedAdapter › pass-through › touchesOnRead, lifetime, locks and gc are the inner adapter\'s', async (t) => {
  const calls: unknown[][] = [];
  const inner: Adapter = {
    touchesOnRead: true,
    lifetime: 1234,
    read: async (...args) => (calls.push(['read', ...args]), null),
    write: async () => undefined,
    destroy: async () => null,
    gc: async (max) => (calls.push(['gc', max]), 3),
    lock: async (id, options) => (calls.push(['lock', id, options]), { id, waitedMs: 0, release: async () => undefined }),
    validateId: async (id) => (calls.push(['validateId', id]), true),
    close: async () => void calls.push(['close']),
  };
  const a = wrap(inner);
  t.true(a.touchesOnRead);
  t.is(a.lifetime, 1234);
  const handle = await a.lock!('abc', { wait: 1 });
  t.is(await a.read('abc', handle, 60), null);
  t.true(await a.validateId!('abc'));
  t.is(await a.gc(99), 3);
  await a.close!();
  t.deepEqual(calls, [['lock', 'abc', { wait: 1 }], ['read', 'abc', handle, 60], ['validateId', 'abc'], ['gc', 99], ['close']]);
});

test('EncryptedAdapter › pass-through › a touch hands the inner adapter sealed data, never the plain text', async (t) => {
  const seen: string[] = [];
  const inner = new MemoryAdapter();
  const touch = inner.updateTimestamp.bind(inner);
  inner.updateTimestamp = async (id, data, ttl) => (seen.push(data), touch(id, data, ttl));
  const a = wrap(inner);
  await a.write('abc', '{"secret":"hunter2"}', 60);
  t.true(await a.updateTimestamp!('abc', '{"secret":"hunter2"}', 60));
  t.is(seen.length, 1);
  t.false(seen[0]!.includes('hunter2'));
  t.is(a.keyIdOf(seen[0]!), 'k2');
});

// ---- the stored format -----------------------------------------------------------------

test('EncryptedAdapter › format › a record is \\0e1:<key id>.<base64url(12-byte nonce ‖ ciphertext ‖ 16-byte tag)>', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  const data = 'x'.repeat(1024);
  await a.write('abc', data, 60);
  const stored = (await inner.read('abc'))!;
  const match = /^\u0000e1:k2\.([A-Za-z0-9_-]+)$/.exec(stored);
  t.truthy(match, JSON.stringify(stored.slice(0, 20)));
  t.is(Buffer.from(match![1]!, 'base64url').length, 12 + 1024 + 16);
  t.is(stored.length, 7 + Math.ceil((12 + 1024 + 16) * 4 / 3), '4/3 of the data plus 42 characters and the key id');
});

test('EncryptedAdapter › format › a move marker keeps its prefix for the inner adapter, its target sealed', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  const target = newId();
  await a.write('old', MOVE_MARKER_PREFIX + target, 60);
  const stored = (await inner.read('old'))!;
  t.true(stored.startsWith(`${MOVE_MARKER_PREFIX}e1:k2.`));
  t.false(stored.includes(target));
  t.is(await a.read('old'), MOVE_MARKER_PREFIX + target);
  // The inner adapter still knows it for a marker: an update does not replace it.
  t.is(await a.write('old', '{"c":1,"d":{}}', 60, undefined, { existing: true }), false);
  t.is(await a.destroy('old'), MOVE_MARKER_PREFIX + target, 'destroy gives the plain marker back, to be followed');
});

test('EncryptedAdapter › format › nothing of the data or a marker\'s target is in the files or in Redis', async (t) => {
  const secret = '{"c":1,"d":{"email":"alice@example.com","card":"4111111111111111"}}';
  const target = newId();
  const dir = await tempDir(t, 'encrypted');
  const redisAdapter = wrap(new RedisAdapter({ port: redis().port }));
  t.teardown(() => redisAdapter.close!());
  for (const a of [wrap(new StreamAdapter({ savePath: dir })), redisAdapter]) {
    await a.write('plainCheck1', secret, 60);
    await a.write('plainCheck2', MOVE_MARKER_PREFIX + target, 60);
  }
  const files = await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f), 'latin1')));
  const keys = [`sess-reds-{plainCheck1}`, `sess-reds-{plainCheck2}.moved`]; // (a marker's own key)
  const values = await Promise.all(keys.map(async (k) => redis().cli('GET', k)));
  t.is(files.length, 2);
  for (const raw of [...files, ...values]) {
    t.true(raw.length > 40, 'read something');
    for (const leak of ['alice', '4111', target, Buffer.from('alice').toString('base64'), Buffer.from(target).toString('base64url').slice(0, 12)]) {
      t.false(raw.includes(leak), `found ${leak}`);
    }
  }
});

// ---- nonces ------------------------------------------------------------------------------

test('EncryptedAdapter › nonces › 20 000 writes of the same data under one id and key never repeat a nonce', async (t) => {
  const inner = new MemoryAdapter({ maxEntries: 1 });
  const a = wrap(inner);
  const nonces = new Set<string>();
  const bodies = new Set<string>();
  for (let n = 0; n < 20_000; n++) {
    await a.write('same', '{"same":true}', 60);
    const stored = (await inner.read('same'))!;
    const bytes = Buffer.from(stored.slice(stored.indexOf('.') + 1), 'base64url');
    nonces.add(bytes.subarray(0, 12).toString('hex'));
    bodies.add(stored);
  }
  t.is(nonces.size, 20_000);
  t.is(bodies.size, 20_000, 'the same data never seals to the same text');
});

test('EncryptedAdapter › nonces › are random, not a counter: consecutive ones differ in about half their bits', async (t) => {
  const inner = new MemoryAdapter();
  const a = wrap(inner);
  const nonce = async () => {
    await a.write('n', 'x', 60);
    const stored = (await inner.read('n'))!;
    return Buffer.from(stored.slice(stored.indexOf('.') + 1), 'base64url').subarray(0, 12);
  };
  let bits = 0;
  let previous = await nonce();
  for (let n = 0; n < 500; n++) {
    const next = await nonce();
    for (let i = 0; i < 12; i++) for (let x = previous[i]! ^ next[i]!; x; x &= x - 1) bits++;
    previous = next;
  }
  const mean = bits / 500;
  t.true(mean > 44 && mean < 52, `mean Hamming distance ${mean} of 96 bits`);
});

// ---- rotation -----------------------------------------------------------------------------

test('EncryptedAdapter › rotation › an old key opens, the next write seals with the new one, the old key can then go', async (t) => {
  const [k1, k2] = [{ id: 'k1', key: EncryptedAdapter.generateKey() }, { id: 'k2', key: EncryptedAdapter.generateKey() }];
  const inner = new MemoryAdapter();
  const before = new EncryptedAdapter(inner, { keys: [k1] });
  const rotated = new EncryptedAdapter(inner, { keys: [k2, k1] });
  const retired = new EncryptedAdapter(inner, { keys: [k2] });
  await before.write('abc', 'one', 60);
  t.is(rotated.keyIdOf((await inner.read('abc'))!), 'k1');
  t.is(await rotated.read('abc'), 'one', 'the old key opens');
  t.is(await retired.read('abc'), EncryptedAdapter.UNREADABLE, 'not without the old key');
  t.true(await rotated.updateTimestamp!('abc', 'one', 60));
  t.is(rotated.keyIdOf((await inner.read('abc'))!), 'k1', 'a touch does not rewrite the record');
  await rotated.write('abc', 'two', 60, undefined, { existing: true });
  t.is(rotated.keyIdOf((await inner.read('abc'))!), 'k2', 're-encrypted by its next write');
  t.is(await retired.read('abc'), 'two');
  t.is(await before.read('abc'), EncryptedAdapter.UNREADABLE, 'the old ring cannot read the new key');
});
