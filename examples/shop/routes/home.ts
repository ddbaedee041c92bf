import { sessionPolicy } from '../../../lib';
import { isTokenStore, type StoreName } from '../../shared/serve';
import { html } from '../html';
import { page, type Demo } from '../layout';
import type { ShopRouter } from '../types';

const DEMO: Demo = {
  api: html`<code>sessionPolicy()</code> on a koa-router route under <code>session({ start: 'lazy' })</code>: a visitor who only looks gets no record and no cookie`,
  source: ['examples/shop/routes/home.ts', 'examples/shop/app.ts'],
};

/**
 * `/`: what the shop shows, and who is signed in. A visitor who only reads it gets no cookie.
 * `store` (examples/shared/serve.ts's name) changes what the parallel page is said to show: with
 * tokens there is no lock.
 */
export function home(router: ShopRouter, { store }: { store?: StoreName } = {}): void {
  const parallel = isTokenStore(store)
    ? html`<li><a href="/parallel">Parallel requests</a>: read-only, writing and writeClose() requests at once; sessions in ${store} have no lock, so the last writer wins and updates are lost.</li>`
    : html`<li><a href="/parallel">Parallel requests</a>: read-only, locked and writeClose() requests at once; no update lost; each request's lock wait as the server measured it.</li>`;
  router.get('/', sessionPolicy(), (ctx) => {
    const account = ctx.session.account;
    page(ctx, 'Shop', DEMO, html`
<p id="who">${account ? html`Signed in as <b>${account.name}</b> (${account.role}).` : 'Not signed in.'}</p>
<ul>
<li><a href="/account/signin">Sign in</a>: a new session id at sign-in, the role kept in the session.</li>
<li><a href="/account/profile">Profile</a> (any signed-in user) and <a href="/account/admin">Admin</a> (role admin).</li>
<li><a href="/cart">Cart</a>: a Bag under the session key <code>cart</code>.</li>
<li><a href="/wizard">Checkout wizard</a>: three steps whose inputs survive a validation error.</li>
<li><a href="/preferences">Preferences</a>: theme and language.</li>
${parallel}
</ul>`);
  });
}
