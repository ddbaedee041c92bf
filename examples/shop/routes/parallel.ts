import type { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Context, Next } from 'koa';
import { sessionPolicy } from '../../../lib';
import { csrf, csrfToken } from '../../../lib/csrf';
import { isTokenStore, type StoreName } from '../../shared/serve';
import { html, raw, type Html } from '../html';
import { page, type Demo } from '../layout';
import type { ShopRouter } from '../types';

/** Increments the page sends at once. */
export const WRITES = 20;

const DEMO: Demo = {
  api: html`<code>sessionPolicy({ readOnly: true })</code> (no lock), <code>sessionPolicy()</code> (locked read-modify-write), <code>writeClose()</code> before slow work, and the <code>session:lockWaited</code> event: each request's lock wait, measured on the server; <code>csrf()</code> takes the token from the <code>X-CSRF-Token</code> header`,
  source: 'examples/shop/routes/parallel.ts',
};

/** The same routes on sessions kept in tokens: the policies hold, but nothing takes turns. */
const TOKEN_DEMO: Demo = {
  api: html`<code>sessionPolicy({ readOnly: true })</code>, <code>sessionPolicy()</code> and <code>writeClose()</code> on a <code>TokenStore</code>, which keeps no session on the server and so has no lock: overlapping writes are last-writer-wins`,
  source: 'examples/shop/routes/parallel.ts',
};

// Runs in the browser: a slow report (writeClose() first), WRITES increments and read-only polls
// in between, all at once; then the counter must be exactly WRITES higher. Each request's lock
// wait comes from the server (Server-Timing); its total time is the browser's own measure.
const SCRIPT = `
const N = ${WRITES};
const result = document.getElementById('result');
const details = document.getElementById('details');
const timings = document.querySelector('#timings tbody');
const button = document.getElementById('again');
// The session's CSRF token, masked for this page: the API's POSTs send it as X-CSRF-Token.
const CSRF = button.dataset.csrf;
const POST = { method: 'POST', headers: { 'X-CSRF-Token': CSRF } };
const LOCK = /(?:^|,)\\s*lock(?:;[^,]*?)?;dur=([0-9.]+)/;
// One API call: its JSON, the server's lock wait (Server-Timing: lock;dur=…) and the browser's total.
async function call(kind, url, init) {
  const t0 = performance.now();
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(r.status + ' from ' + r.url);
  const body = await r.json();
  const lock = LOCK.exec(r.headers.get('Server-Timing') || '');
  return { kind, body, server: lock ? lock[1] : '', browser: performance.now() - t0 };
}
const count = () => call('poll', '/api/parallel/count');
function line(text) { const li = document.createElement('li'); li.textContent = text; details.append(li); }
function row(c, what) {
  const tr = document.createElement('tr');
  tr.className = c.kind;
  const server = c.server === '' ? 'missing' : Number(c.server).toFixed(1) + ' ms';
  for (const [cls, text] of [['what', what], ['server', server], ['browser', c.browser.toFixed(1) + ' ms']]) {
    const td = document.createElement('td'); td.className = cls; td.textContent = text; tr.append(td);
  }
  tr.dataset.server = c.server;
  tr.dataset.browser = String(c.browser);
  timings.append(tr);
}
async function run() {
  button.disabled = true;
  result.dataset.state = 'running';
  result.textContent = 'Running…';
  details.textContent = '';
  timings.textContent = '';
  try {
    const before = (await count()).body.count;
    const report = call('report', '/api/parallel/report', POST);
    const writes = [], polls = [];
    for (let i = 0; i < N; i++) {
      writes.push(call('write', '/api/parallel/inc', POST));
      if (i % 2 === 1) polls.push(count());
    }
    const [written, seen, slow] = await Promise.all([Promise.all(writes), Promise.all(polls), report]);
    const after = (await count()).body.count;
    const expected = before + N;
    result.dataset.state = after === expected ? 'ok' : 'lost';
    result.textContent = N + ' parallel writes: before ' + before + ', after ' + after + ', expected ' + expected +
      ' — ' + (after === expected ? 'no update lost' : 'LOST ' + (expected - after));
    const values = written.map((w) => w.body.count).sort((a, b) => a - b);
    line('The writes answered ' + values.join(', ') + (new Set(values).size === N
      ? ' (each value once: they took turns).' : ' (some values repeat: they overwrote each other).'));
    const waited = written.filter((w) => Number(w.server) > 0).length;
    line(waited + ' of ' + N + ' writes waited for the session lock on the server (longest ' +
      Math.max(...written.map((w) => Number(w.server) || 0)).toFixed(1) + ' ms); the rest of each browser total is the network, the work, and the browser queueing its requests.');
    line('Read-only polls took no lock and saw counts ' + seen.map((p) => p.body.count).join(', ') + '.');
    line('Report #' + slow.body.report + ' saw ' + slow.body.count + ', released the session with writeClose() and worked ' + slow.body.ms + ' ms while the writes went on.');
    written.forEach((w) => row(w, 'write, answered ' + w.body.count));
    seen.forEach((p) => row(p, 'read-only poll, saw ' + p.body.count));
    row(slow, 'report #' + slow.body.report);
  } catch (err) {
    result.dataset.state = 'error';
    result.textContent = 'A request failed: ' + err.message;
  }
  button.disabled = false;
}
button.onclick = run;
run();
`;

/** Milliseconds of pretend work from `?work=`, 0 to 2000, else `fallback`. */
function workOf(ctx: Context, fallback: number): number {
  const ms = Number(ctx.query.work);
  return Number.isInteger(ms) && ms >= 0 && ms <= 2000 ? ms : fallback;
}

/** Each request's wait for its session lock, as the lock measured it (`session:lockWaited`). */
const lockWaits = new WeakMap<object, number>();

/** How long this request waited for the session lock, in ms: 0 when it took no lock or got it at once. */
export function lockWaitOf(ctx: Context): number {
  return lockWaits.get(ctx) ?? 0;
}

/**
 * After `sessionPolicy()`, whose start emitted `session:lockWaited` if the request waited: the
 * wait as `Server-Timing: lock;dur=<ms>`, which the page's `fetch()` reads next to its own timing.
 */
async function serverTiming(ctx: Context, next: Next): Promise<void> {
  ctx.set('Server-Timing', `lock;desc="session lock wait";dur=${lockWaitOf(ctx).toFixed(3)}`);
  await next();
}

export interface ParallelOptions {
  /** Where the session middleware emits its events (`session({ events })`). */
  events: EventEmitter;
  /** How the API spends its `?work=` milliseconds. @default a timer */
  work?: (ms: number) => Promise<void>;
  /** What the sessions are kept in (examples/shared/serve.ts): tokens have no lock, and the page says so. */
  store?: StoreName;
  /** The session() option: `false` turns the lock off, and the page says so. */
  locking?: boolean;
}

/**
 * What the page says about the lock: the writes of one session take turns on it; or there is
 * none (a TokenStore: nothing on the server to lock; `locking: false`), and the last writer wins.
 */
function lockNote(store: StoreName | undefined, locking: boolean | undefined): Html {
  if (isTokenStore(store)) {
    return html`<p id="lock" data-lock="none">The sessions here are <b>${store}</b>: the whole session travels in the cookie and nothing
is kept on the server, so <b>there is no session lock</b>. Each request reads the token its browser sent and answers
with a new one, and the browser keeps whichever arrives last: of writes that overlap, <b>the last writer wins</b> and
the others' updates are lost. Expect the result line to say LOST, and every lock wait to be 0. A counter that must not
lose updates belongs in a store with locking (<code>REDIS_URL</code>, <code>DATABASE_URL</code>, or the file store).</p>`;
  }
  if (locking === false) {
    return html`<p id="lock" data-lock="off">Locking is off (<code>session({ locking: false })</code>): the writes of one session
do not take turns, and of writes that overlap <b>the last writer wins</b>; expect the result line to say LOST.</p>`;
  }
  return html`<p id="lock" data-lock="on">The writes of one session take turns on its lock (<code>sessionPolicy()</code>), so
none is lost; read-only requests take no lock and run beside them.</p>`;
}

/**
 * `/parallel` and its API, three policies side by side: read-only polls (no lock, no write, run
 * in parallel with everything), locked increments (read-modify-write, one at a time), and a
 * report that stores its change and calls `writeClose()` before its slow part. Every API answer
 * says how long it waited for the session lock (`lockWaitedMs`, `Server-Timing: lock`).
 *
 * @example
 * const app = new Koa();
 * app.use(session({ start: 'lazy', events: app }));
 * parallel(router, { events: app });
 */
export function parallel(router: ShopRouter, { events, work = delay, store, locking }: ParallelOptions): void {
  const demo = isTokenStore(store) ? TOKEN_DEMO : DEMO;
  const note = lockNote(store, locking);
  events.on('session:lockWaited', ({ context, waitedMs }: { context: unknown; waitedMs: number }) => {
    if (typeof context === 'object' && context !== null) lockWaits.set(context, waitedMs);
  });

  router.get('/parallel', sessionPolicy(), (ctx) => {
    // The session must exist before the parallel requests, or each of them would start its own.
    ctx.session.tally ??= 0;
    page(ctx, 'Parallel requests', demo, html`${note}
<p id="result" data-state="idle">Not run yet (needs JavaScript).</p>
<ul id="details"></ul>
<table id="timings"><thead><tr><th>Request (in the order sent)</th><th>Waited for the session lock (measured by the server)</th>
<th>Total time (measured by the browser)</th></tr></thead><tbody></tbody></table>
<p>The server measures how long each request waited for the session lock and sends it back as
<code>Server-Timing: lock;dur=…</code>. The browser's total also counts the network, the work and
the time the request waited in the browser itself, which opens only a few connections per site
(6 in Chrome and Firefox) and queues the other requests.</p>
<button id="again" data-csrf="${csrfToken(ctx)}">Run again</button>
<script>${raw(SCRIPT)}</script>`);
  });

  router.get('/api/parallel/count', sessionPolicy({ readOnly: true }), serverTiming, (ctx) => {
    ctx.body = { count: ctx.session.tally ?? 0, reports: ctx.session.reports ?? 0, lockWaitedMs: lockWaitOf(ctx) };
  });

  // The JSON API takes the CSRF token in the X-CSRF-Token header (csrf() after the policy).
  router.post('/api/parallel/inc', sessionPolicy(), csrf(), serverTiming, async (ctx) => {
    const count = ctx.session.tally ?? 0;
    await work(workOf(ctx, 5)); // the read-modify-write window; the lock makes the others wait
    ctx.session.tally = count + 1;
    ctx.body = { count: count + 1, lockWaitedMs: lockWaitOf(ctx) };
  });

  router.post('/api/parallel/report', sessionPolicy(), csrf(), serverTiming, async (ctx) => {
    const report = (ctx.session.reports ?? 0) + 1;
    ctx.session.reports = report;
    const count = ctx.session.tally ?? 0;
    await ctx.session.writeClose(); // stored and unlocked now: the session's other requests go on
    const started = Date.now();
    await work(workOf(ctx, 300)); // slow work; the session can still be read, not written
    ctx.body = { report, count, ms: Date.now() - started, lockWaitedMs: lockWaitOf(ctx) };
  });
}
