import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from 'koa';
import { sessionPolicy } from '../../../lib';
import { html, raw } from '../html';
import { page } from '../layout';
import type { ShopRouter } from '../types';

/** Increments the page sends at once. */
export const WRITES = 20;

// Runs in the browser: a slow report (writeClose() first), WRITES increments and read-only polls
// in between, all at once; then the counter must be exactly WRITES higher.
const SCRIPT = `
const N = ${WRITES};
const result = document.getElementById('result');
const details = document.getElementById('details');
const button = document.getElementById('again');
const json = async (r) => { if (!r.ok) throw new Error(r.status + ' from ' + r.url); return r.json(); };
const count = () => fetch('/api/parallel/count').then(json);
function line(text) { const li = document.createElement('li'); li.textContent = text; details.append(li); }
async function run() {
  button.disabled = true;
  result.dataset.state = 'running';
  result.textContent = 'Running…';
  details.textContent = '';
  try {
    const before = (await count()).count;
    const t0 = performance.now();
    const report = fetch('/api/parallel/report', { method: 'POST' }).then(json);
    const writes = [], polls = [];
    for (let i = 0; i < N; i++) {
      writes.push(fetch('/api/parallel/inc', { method: 'POST' }).then(json));
      if (i % 2 === 1) polls.push(count().then((r) => r.count + ' at ' + Math.round(performance.now() - t0) + ' ms'));
    }
    const [written, seen, slow] = await Promise.all([Promise.all(writes), Promise.all(polls), report]);
    const after = (await count()).count;
    const expected = before + N;
    result.dataset.state = after === expected ? 'ok' : 'lost';
    result.textContent = N + ' parallel writes: before ' + before + ', after ' + after + ', expected ' + expected +
      ' — ' + (after === expected ? 'no update lost' : 'LOST ' + (expected - after));
    const values = written.map((w) => w.count).sort((a, b) => a - b);
    line('The writes answered ' + values.join(', ') + (new Set(values).size === N
      ? ' (each value once: they took turns).' : ' (some values repeat: they overwrote each other).'));
    line('Read-only polls, answered without waiting for the lock: ' + seen.join('; ') + '.');
    line('Report #' + slow.report + ' saw ' + slow.count + ', released the session with writeClose() and worked ' + slow.ms + ' ms while the writes went on.');
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

/**
 * `/parallel` and its API, three policies side by side: read-only polls (no lock, no write, run
 * in parallel with everything), locked increments (read-modify-write, one at a time), and a
 * report that stores its change and calls `writeClose()` before its slow part.
 */
export function parallel(router: ShopRouter, work: (ms: number) => Promise<void> = delay): void {
  router.get('/parallel', sessionPolicy(), (ctx) => {
    // The session must exist before the parallel requests, or each of them would start its own.
    ctx.session.tally ??= 0;
    page(ctx, 'Parallel requests', html`<p id="result" data-state="idle">Not run yet (needs JavaScript).</p>
<ul id="details"></ul>
<button id="again">Run again</button>
<script>${raw(SCRIPT)}</script>`);
  });

  router.get('/api/parallel/count', sessionPolicy({ readOnly: true }), (ctx) => {
    ctx.body = { count: ctx.session.tally ?? 0, reports: ctx.session.reports ?? 0 };
  });

  router.post('/api/parallel/inc', sessionPolicy(), async (ctx) => {
    const count = ctx.session.tally ?? 0;
    await work(workOf(ctx, 5)); // the read-modify-write window; the lock makes the others wait
    ctx.session.tally = count + 1;
    ctx.body = { count: count + 1 };
  });

  router.post('/api/parallel/report', sessionPolicy(), async (ctx) => {
    const report = (ctx.session.reports ?? 0) + 1;
    ctx.session.reports = report;
    const count = ctx.session.tally ?? 0;
    await ctx.session.writeClose(); // stored and unlocked now: the session's other requests go on
    const started = Date.now();
    await work(workOf(ctx, 300)); // slow work; the session can still be read, not written
    ctx.body = { report, count, ms: Date.now() - started };
  });
}
