import { setTimeout as delay } from 'node:timers/promises';
import { isTokenStore, type StoreName } from '../../shared/serve';
import { escapeHtml, page } from '../layout';
import type { AppRouter } from '../types';

// Runs in the browser: 10 increments at once, then compare the counter before and after.
const SCRIPT = `
const result = document.getElementById('result');
const count = async () => (await (await fetch('/api/count')).json()).counter;
async function run() {
  result.textContent = 'Running…';
  const before = await count();
  const responses = await Promise.all(Array.from({ length: 10 }, () => fetch('/api/inc', { method: 'POST' })));
  if (responses.some((r) => !r.ok)) return void (result.textContent = 'A request failed.');
  const after = await count();
  const lost = before + 10 - after;
  result.textContent = '10 parallel increments: before ' + before + ', after ' + after + ' — ' + (lost === 0 ? 'none lost' : 'LOST ' + lost);
}
document.getElementById('again').onclick = run;
run();
`;

/**
 * What the page says about the lock: the increments of one session take turns on it; or there
 * is none (sessions in tokens keep nothing on the server to lock; `locking: false`) and the last
 * writer wins.
 */
function lockNote(store: StoreName | undefined, locking: boolean | undefined): string {
  if (isTokenStore(store)) {
    return `<p id="lock" data-lock="none">Sessions here are <b>${escapeHtml(store)}</b>, kept in the cookie and not on the server:
there is <b>no session lock</b>. Each increment answers with a new token and the browser keeps the last to arrive, so the
last writer wins and increments are lost.</p>`;
  }
  if (locking === false) return '<p id="lock" data-lock="off">Locking is off: the last writer wins and increments are lost.</p>';
  return '<p id="lock" data-lock="on">The session lock makes the increments take turns: none is lost.</p>';
}

/**
 * `/parallel` and its API: concurrent read-modify-write on one session, kept safe by the session
 * lock (none with sessions in tokens, or with `locking: false`: the page says so).
 */
export function parallel(router: AppRouter, { store, locking }: { store?: StoreName; locking?: boolean } = {}): void {
  const note = lockNote(store, locking);
  router.get('/parallel', (ctx) => {
    // The session must exist before the parallel requests, or each of them would start its own.
    ctx.session.counter ??= 0;
    page(ctx, 'Parallel requests', `${note}
<p id="result">Not run yet (needs JavaScript).</p>
<button id="again">Run again</button>
<script>${SCRIPT}</script>`);
  });

  router.post('/api/inc', async (ctx) => {
    const counter = ctx.session.counter ?? 0;
    await delay(5); // widens the read-modify-write window; the lock makes the others wait
    ctx.session.counter = counter + 1;
    ctx.body = { counter: counter + 1 };
  });

  router.get('/api/count', (ctx) => {
    ctx.body = { counter: ctx.session.counter ?? 0 };
  });
}
