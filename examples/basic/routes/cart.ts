import type { Context } from 'koa';
import { Bag } from '../../../lib';
import { readForm } from '../form';
import { escapeHtml, page } from '../layout';
import type { AppRouter } from '../types';

const MAX_KINDS = 50;

/** The cart: item name → count, in a Bag under the session key 'cart' (Bag keys ignore case). */
function cartOf(ctx: Context): Bag<Record<string, number>> {
  return new Bag<Record<string, number>>(ctx.session, 'cart');
}

/** `/cart`: add items, clear the cart. */
export function cart(router: AppRouter): void {
  router.get('/cart', (ctx) => {
    const cart = cartOf(ctx);
    const rows = [...cart].map(([item, count]) => `<li>${escapeHtml(item)} × ${Number(count)}</li>`).join('\n');
    const total = [...cart].reduce((sum, [, count]) => sum + Number(count), 0);
    page(ctx, 'Cart', `<p>${total} item(s), ${cart.count()} kind(s).</p>
<ul>
${rows}
</ul>
<form method="post" action="/cart/add"><input name="item" required maxlength="40"> <button>Add</button></form>
<form method="post" action="/cart/clear"><button>Clear the cart</button></form>`);
  });

  router.post('/cart/add', async (ctx) => {
    const item = (await readForm(ctx)).get('item')?.trim() ?? '';
    const cart = cartOf(ctx);
    if (item === '' || item.length > 40) ctx.flash.error('An item name has 1 to 40 characters.');
    else if (!cart.has(item) && cart.count() >= MAX_KINDS) ctx.flash.error(`The cart holds at most ${MAX_KINDS} kinds of items.`);
    else cart.set(item, (cart.get(item) ?? 0) + 1);
    ctx.redirect('/cart');
  });

  router.post('/cart/clear', (ctx) => {
    cartOf(ctx).clear();
    ctx.flash.notice('The cart is empty.');
    ctx.redirect('/cart');
  });
}
