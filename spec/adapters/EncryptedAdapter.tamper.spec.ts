import test, { type ExecutionContext } from 'ava';
import Koa from 'koa';
import { EventEmitter } from 'node:events';
import { MOVE_MARKER_PREFIX } from '../../lib/adapters/Adapter';
import { EncryptedAdapter } from '../../lib/adapters/EncryptedAdapter';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import { Manager } from '../../lib/Manager';
import { session } from '../../lib/koa/middleware';
import { FakeTransport } from '../helpers/doubles';
import { listen, parseSetCookie } from '../helpers/http';

// What the Manager makes of a record that does not open through the EncryptedAdapter: every
// case is invalid data — a new empty session under a new id and `session:invalid` (reason
// 'data'), never a crash, never part of the data — and the record in the store is left alone.

const KEYS = [{ id: 'now', key: EncryptedAdapter.generateKey() }];

function setup(options: { keys?: typeof KEYS; acceptPlaintext?: boolean } = {}) {
  const inner = new MemoryAdapter();
  const adapter = new EncryptedAdapter(inner, { keys: options.keys ?? KEYS, acceptPlaintext: options.acceptPlaintext });
  const events = new EventEmitter();
  const seen: string[] = [];
  events.on('session:invalid', (e: { reason: string }) => seen.push(`invalid:${e.reason}`));
  events.on('session:expired', (e: { reason: string }) => seen.push(`expired:${e.reason}`));
  const manager = (cookie?: string, on: EncryptedAdapter = adapter) =>
    new Manager({ events }).setAdapter(on).setTransport(new FakeTransport(cookie));
  return { inner, adapter, seen, manager };
}

/** A signed-in session written through the wrapper; resolves its id and its stored text. */
async function signedIn(ctx: ReturnType<typeof setup>) {
  const s = ctx.manager();
  await s.start();
  s.set('userId', 7);
  s.set('name', 'Alice');
  await s.writeClose();
  const id = s.getId();
  return { id, stored: (await ctx.inner.read(id))! };
}

/** Start a request with cookie `id`: it must get a fresh, empty session and one invalid event. */
async function expectInvalid(t: ExecutionContext, ctx: ReturnType<typeof setup>, id: string, on?: EncryptedAdapter) {
  ctx.seen.length = 0;
  const s = ctx.manager(id, on);
  await t.notThrowsAsync(s.start());
  t.not(s.getId(), id, 'a new id');
  t.false(s.has('userId') || s.has('name'), 'none of the data');
  t.deepEqual(ctx.seen, ['invalid:data']);
}

/** `text` with the base64url character at `at` replaced by another (one to six bits flipped). */
function flip(text: string, at: number): string {
  const c = text[at]!;
  return text.slice(0, at) + (c === 'A' ? 'B' : 'A') + text.slice(at + 1);
}

for (const [where, at] of [['the key id', 4], ['the nonce', 9], ['the ciphertext', 60], ['the tag', -3], ['the last character', -1]] as const) {
  test(`EncryptedAdapter › tamper › a character changed in ${where} is invalid data`, async (t) => {
    const ctx = setup();
    const { id, stored } = await signedIn(ctx);
    const tampered = flip(stored, at < 0 ? stored.length + at : at);
    t.not(tampered, stored);
    await ctx.inner.write(id, tampered, 60);
    await expectInvalid(t, ctx, id);
    t.is(await ctx.inner.read(id), tampered, 'the record is left alone');
  });
}

test('EncryptedAdapter › tamper › a single bit flipped anywhere in the sealed bytes is invalid data', async (t) => {
  const ctx = setup();
  const { id, stored } = await signedIn(ctx);
  const dot = stored.indexOf('.') + 1;
  const bytes = Buffer.from(stored.slice(dot), 'base64url');
  for (const byte of [0, 11, 12, 20, bytes.length - 17, bytes.length - 16, bytes.length - 1]) {
    const copy = Buffer.from(bytes);
    copy[byte]! ^= 0x01;
    await ctx.inner.write(id, stored.slice(0, dot) + copy.toString('base64url'), 60);
    await expectInvalid(t, ctx, id);
  }
});

const DAMAGE: Array<[string, (stored: string) => string]> = [
  ['truncated by one character', (s) => s.slice(0, -1)],
  ['truncated by its tag', (s) => s.slice(0, -22)],
  ['truncated to half', (s) => s.slice(0, s.length >> 1)],
  ['truncated to its header', (s) => s.slice(0, s.indexOf('.') + 1)],
  ['truncated to its NUL', (s) => s.slice(0, 1)],
  ['with a foreign character put in (base64 decoders skip it)', (s) => `${s.slice(0, 60)}*${s.slice(60)}`],
  ['with padding put at its end', (s) => `${s}=`],
];
for (const [what, cut] of DAMAGE) {
  test(`EncryptedAdapter › tamper › a record ${what} is invalid data`, async (t) => {
    const ctx = setup();
    const { id, stored } = await signedIn(ctx);
    await ctx.inner.write(id, cut(stored), 60);
    await expectInvalid(t, ctx, id);
  });
}

test('EncryptedAdapter › tamper › a record copied under another id is invalid data there, and still valid under its own', async (t) => {
  const ctx = setup();
  const { id, stored } = await signedIn(ctx);
  const other = 'attackerChosenSessionId123456789';
  await ctx.inner.write(other, stored, 60);
  await expectInvalid(t, ctx, other);
  const own = ctx.manager(id);
  await own.start();
  t.is(own.get('userId'), 7);
});

test('EncryptedAdapter › tamper › a record sealed with another key ring is invalid data, also under the same key id', async (t) => {
  const ctx = setup();
  const { id } = await signedIn(ctx);
  const foreign = new EncryptedAdapter(ctx.inner, { keys: [{ id: 'now', key: EncryptedAdapter.generateKey() }] });
  await expectInvalid(t, ctx, id, foreign);
  const unknownId = new EncryptedAdapter(ctx.inner, { keys: [{ id: 'other', key: EncryptedAdapter.generateKey() }] });
  await expectInvalid(t, ctx, id, unknownId);
});

test('EncryptedAdapter › tamper › a marker\'s sealed body pasted as a record is invalid data', async (t) => {
  const ctx = setup();
  const { id } = await signedIn(ctx);
  const s = ctx.manager(id);
  await s.start();
  await s.regenerateId();
  await s.writeClose();
  const marker = (await ctx.inner.read(id))!;
  t.true(marker.startsWith(MOVE_MARKER_PREFIX));
  await ctx.inner.write(id, `\u0000${marker.slice(MOVE_MARKER_PREFIX.length)}`, 60);
  await expectInvalid(t, ctx, id);
});

test('EncryptedAdapter › tamper › a marker whose target was altered is invalid data, and a logout follows nothing', async (t) => {
  const ctx = setup();
  const { id } = await signedIn(ctx);
  const s = ctx.manager(id);
  await s.start();
  await s.regenerateId();
  await s.writeClose();
  const marker = (await ctx.inner.read(id))!;
  await ctx.inner.write(id, flip(marker, marker.length - 5), 60);
  await expectInvalid(t, ctx, id);
  t.is(await ctx.adapter.destroy(id), EncryptedAdapter.UNREADABLE);
  const moved = ctx.manager(s.getId());
  await moved.start();
  t.is(moved.get('userId'), 7, 'the signed-in session is untouched');
});

test('EncryptedAdapter › a sealed marker works for the Manager: the pre-sign-in id is a throwaway session, a logout with it follows the move', async (t) => {
  const ctx = setup();
  const { id } = await signedIn(ctx);
  const s = ctx.manager(id);
  await s.start();
  await s.regenerateId();
  await s.writeClose();
  ctx.seen.length = 0;
  const late = ctx.manager(id);
  await late.start();
  t.deepEqual(ctx.seen, ['expired:regenerated']);
  await late.destroy();
  t.is(await ctx.inner.read(s.getId()), null, 'the session the sign-in made ended with the logout');
});

test('EncryptedAdapter › plain text › a record from before encryption is refused by default: the session restarts once', async (t) => {
  const ctx = setup();
  const id = 'writtenBeforeEncryption123456789';
  await ctx.inner.write(id, JSON.stringify({ c: Date.now(), d: { userId: 7 } }), 60);
  await expectInvalid(t, ctx, id);
  await ctx.inner.write(id, MOVE_MARKER_PREFIX + 'targetOfAPlainMarker12345678901', 60);
  await expectInvalid(t, ctx, id);
});

test('EncryptedAdapter › plain text › with acceptPlaintext a plain record is read, and sealed at its next write', async (t) => {
  const ctx = setup({ acceptPlaintext: true });
  const id = 'writtenBeforeEncryption123456789';
  await ctx.inner.write(id, JSON.stringify({ c: Date.now(), d: { userId: 7 } }), 60);
  const s = ctx.manager(id);
  await s.start();
  t.is(s.getId(), id);
  t.is(s.get('userId'), 7);
  s.set('seen', true);
  await s.writeClose();
  const stored = (await ctx.inner.read(id))!;
  t.is(ctx.adapter.keyIdOf(stored), 'now');
  t.false(stored.includes('userId'));
  // A sealed record that does not open is still refused: acceptPlaintext is no bypass.
  await ctx.inner.write(id, flip(stored, 40), 60);
  await expectInvalid(t, ctx, id);
});

test('EncryptedAdapter › rotation through the Manager › a lazy write touches the record under the old key, a change re-encrypts it', async (t) => {
  const old = { id: 'old', key: EncryptedAdapter.generateKey() };
  const ctx = setup({ keys: [old] });
  const { id } = await signedIn(ctx);
  const rotated = new EncryptedAdapter(ctx.inner, { keys: [{ id: 'new', key: EncryptedAdapter.generateKey() }, old] });
  const reader = ctx.manager(id, rotated);
  await reader.start();
  t.is(reader.get('userId'), 7);
  await reader.writeClose();
  t.is(rotated.keyIdOf((await ctx.inner.read(id))!), 'old', 'unchanged data: only touched');
  const writer = ctx.manager(id, rotated);
  await writer.start();
  writer.set('cart', ['book']);
  await writer.writeClose();
  t.is(rotated.keyIdOf((await ctx.inner.read(id))!), 'new', 'changed data: sealed with the new key');
});

test('EncryptedAdapter › tamper over HTTP › a tampered record answers 200 with an empty session and a new cookie', async (t) => {
  const inner = new MemoryAdapter();
  const adapter = new EncryptedAdapter(inner, { keys: KEYS });
  const app = new Koa();
  const mw = session({ adapter, gc: false });
  const invalid: string[] = [];
  mw.events.on('session:invalid', (e) => invalid.push(e.reason));
  app.use(mw);
  app.use(async (ctx) => {
    if (ctx.path === '/login') ctx.session.set('userId', 7);
    ctx.body = { userId: ctx.session.get('userId') };
  });
  const server = await listen(app);
  t.teardown(server.close);
  const get = async (path: string, sid?: string) => {
    const response = await fetch(server.url + path, { headers: sid ? { cookie: `sid=${sid}` } : {} });
    const cookie = response.headers.getSetCookie().map(parseSetCookie).find((c) => c.name === 'sid');
    return { status: response.status, body: await response.json() as { userId?: number }, cookie: cookie?.value };
  };
  const sid = (await get('/login')).cookie!;
  t.is((await get('/', sid)).body.userId, 7);
  const stored = (await inner.read(sid))!;
  await inner.write(sid, flip(stored, 50), 60);
  const after = await get('/login', sid);
  t.is(after.status, 200);
  t.truthy(after.cookie);
  t.not(after.cookie, sid);
  t.deepEqual(invalid, ['data']);
});
