import { setTimeout as delay } from 'node:timers/promises';
import { page } from '../layout';
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

/** `/parallel` and its API: concurrent read-modify-write on one session, kept safe by the session lock. */
export function parallel(router: AppRouter): void {
  router.get('/parallel', (ctx) => {
    // The session must exist before the parallel requests, or each of them would start its own.
    ctx.session.counter ??= 0;
    page(ctx, 'Parallel requests', `<p id="result">Not run yet (needs JavaScript).</p>
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
