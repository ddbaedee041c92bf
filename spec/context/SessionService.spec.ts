import 'reflect-metadata';
import test from 'ava';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import { BodyParam, Get, JsonController, Param, Post, useContainer, useKoaServer } from 'routing-controllers';
import { Container, Service } from 'typedi';
import { MemoryAdapter } from '../../lib/adapters/MemoryAdapter';
import type { Bag } from '../../lib/Bag';
import { SessionService } from '../../lib/context/current';
import { Session, SessionBag } from '../../lib/decorators';
import { SessionContextMissing } from '../../lib/errors';
import { session } from '../../lib/koa/middleware';
import type { Manager } from '../../lib/Manager';
import { Client, listen } from '../helpers/http';

// routing-controllers resolves controllers through typedi, and typedi resolves their
// constructor parameters: the one SessionService instance, and singleton services built on it.
useContainer(Container);
Container.set(SessionService, new SessionService());

/** How many requests are inside the handler at once, and a gate that opens when all are. */
const overlap = { inside: 0, most: 0, expected: 0, open: (): void => undefined, opened: Promise.resolve() };
function expectOverlapping(count: number): void {
  overlap.inside = 0;
  overlap.most = 0;
  overlap.expected = count;
  overlap.opened = new Promise<void>((resolve) => { overlap.open = resolve; });
}
/** Waits, inside a request, until `expected` requests are inside (at most 20 s: a broken run fails, not hangs). */
async function allInside(): Promise<void> {
  overlap.most = Math.max(overlap.most, ++overlap.inside);
  if (overlap.inside === overlap.expected) overlap.open();
  await Promise.race([overlap.opened, sleep(20_000)]);
}

/** A singleton (typedi's default scope) that reads and writes "its" session: always the current request's. */
@Service()
class OwnerService {
  static made = 0;
  constructor(private readonly session: SessionService) { OwnerService.made++; }

  claim(owner: number): void {
    this.session.manager.set('owner', owner);
    this.session.bag<{ owner: number }>('tag').set('owner', owner);
  }

  read(): { owner: unknown; tag: unknown; id: string } {
    return { owner: this.session.manager.get('owner'), tag: this.session.bag('tag').get('owner'), id: this.session.manager.getId() };
  }
}

@Service()
@JsonController('/owner')
class OwnerController {
  constructor(private readonly owners: OwnerService) {}

  @Post('/:n')
  async claim(@Param('n') n: number, @Session() _started: Manager) {
    this.owners.claim(n);
    await allInside();
    await sleep(Math.random() * 5); // shuffle the order in which they go on
    return { n, ...this.owners.read() };
  }

  @Get('/:n')
  async check(@Param('n') n: number, @Session() _started: Manager) {
    const before = this.owners.read();
    await allInside();
    await nextTurn();
    return { n, before, after: this.owners.read() };
  }
}

@Service()
class NotesService {
  constructor(private readonly session: SessionService) {}
  add(note: string): void {
    const notes = this.session.persistent;
    notes.set('notes', [...(notes.get<string[]>('notes') ?? []), note]);
    this.session.flash.success(`Noted: ${note}`);
  }
}

@Service()
@JsonController('/notes')
class NotesController {
  constructor(private readonly notes: NotesService, private readonly sessions: SessionService) {}

  @Post('/')
  add(@BodyParam('note') note: string, @SessionBag('persistent') persistent: Bag) {
    this.notes.add(note);
    return { same: this.sessions.persistent === persistent, notes: persistent.get('notes'), flash: this.sessions.flash.getMessages('success', false) };
  }
}

async function shop(t: { teardown(fn: () => unknown): void }) {
  const app = new Koa();
  app.silent = true;
  app.use(session({ adapter: new MemoryAdapter(), context: true, start: 'lazy', gc: false }));
  useKoaServer(app, { controllers: [OwnerController, NotesController], development: false, classTransformer: false });
  const server = await listen(app);
  t.teardown(() => server.close());
  return server.url;
}

test.serial('SessionService › 200 overlapping requests through one singleton service each see only their own session, new and stored', async (t) => {
  const url = await shop(t);
  const N = 200;
  const clients = Array.from({ length: N }, () => new Client(url));

  expectOverlapping(N);
  const made = await Promise.all(clients.map((c, n) => c.json(`/owner/${n}`, { method: 'POST' })));
  t.is(overlap.most, N, 'every request was inside the handler at once');
  const ids = new Set<string>();
  for (const [n, body] of made.entries()) {
    t.deepEqual(body, { n, owner: n, tag: n, id: clients[n]!.jar.get('sid') }, `request ${n}`);
    ids.add(body.id);
  }
  t.is(ids.size, N);

  expectOverlapping(N);
  const checked = await Promise.all(clients.map((c, n) => c.json(`/owner/${n}`)));
  t.is(overlap.most, N);
  for (const [n, body] of checked.entries()) {
    const own = { owner: n, tag: n, id: clients[n]!.jar.get('sid') };
    t.deepEqual(body, { n, before: own, after: own }, `request ${n}`);
  }
  t.is(OwnerService.made, 1, 'one instance served every request');
});

test('SessionService › persistent and flash are this request\'s ctx.persistent and ctx.flash', async (t) => {
  const client = new Client(await shop(t));
  const form = { method: 'POST', headers: { 'content-type': 'application/json' } };
  t.deepEqual(await client.json('/notes', { ...form, body: JSON.stringify({ note: 'a' }) }), { same: true, notes: ['a'], flash: ['Noted: a'] });
  const second = await client.json('/notes', { ...form, body: JSON.stringify({ note: 'b' }) });
  t.deepEqual(second.notes, ['a', 'b']);
});

test('SessionService › outside a request › available is false and every member throws SessionContextMissing', (t) => {
  const service = Container.get(SessionService);
  t.false(service.available);
  for (const reach of [() => service.manager, () => service.bag('x'), () => service.persistent, () => service.flash]) {
    t.throws(reach, { instanceOf: SessionContextMissing, code: 'ERR_SESSION_CONTEXT_MISSING' });
  }
});
