import { Body, ContentType, Controller, Get, Post, Redirect } from 'routing-controllers';
import type { Bag, Flash, Manager } from '../../../lib';
import { CsrfProtected, FlashSession, Session, SessionBag } from '../../../lib/decorators';
import { CATALOG, isProduct, MAX_QUANTITY, money } from '../catalog';
import { csrfField } from '../csrf';
import { field } from '../form';
import { html } from '../html';
import { HTML, view, type Demo } from '../layout';

/** Product id → quantity. */
type Cart = Bag<Record<string, number>>;

const DEMO: Demo = {
  api: html`<code>@SessionBag('cart')</code> (a <code>Bag</code> under the session key <code>cart</code>) and <code>@FlashSession()</code>: a message after every change, shown once after the redirect`,
  source: 'examples/shop/controllers/CartController.ts',
};

/**
 * `/cart`: a Bag under the session key `cart` (`@SessionBag('cart')`). Every change is a POST
 * that redirects back, with a flash message shown once on the next page.
 */
@Controller('/cart')
@CsrfProtected()
export class CartController {
  @Get('/')
  @ContentType(HTML)
  show(@Session() session: Manager, @SessionBag('cart') cart: Cart, @FlashSession() flash: Flash): string {
    const lines = [...cart].filter(([id]) => isProduct(id)).map(([id, n]) => ({ id, n: Number(n), ...CATALOG[id]! }));
    const total = lines.reduce((sum, l) => sum + l.n * l.cents, 0);
    const token = csrfField(session); // one masked token per page: each form gets the same bytes
    return view(session, flash, 'Cart', DEMO, html`<h2>Products</h2>
<table>${Object.entries(CATALOG).map(([id, p]) => html`<tr><td>${p.name}</td><td>${money(p.cents)}</td><td>
<form method="post" action="/cart/add">${token}<input type="hidden" name="product" value="${id}">
<input name="quantity" value="1" size="2" aria-label="Quantity"> <button id="add-${id}">Add to cart</button></form></td></tr>`)}</table>
<h2>In your cart</h2>
${lines.length === 0 ? html`<p id="cart-empty">Your cart is empty.</p>` : html`<table id="cart">
${lines.map((l) => html`<tr><td>${l.n} × ${l.name}</td><td>${money(l.n * l.cents)}</td><td>
<form method="post" action="/cart/remove">${token}<input type="hidden" name="product" value="${l.id}"><button>Remove</button></form></td></tr>`)}
<tr><th>Total</th><th id="cart-total">${money(total)}</th><td></td></tr></table>
<form method="post" action="/cart/clear">${token}<button>Empty the cart</button></form>`}`);
  }

  @Post('/add')
  @Redirect('/cart')
  add(@Body() body: unknown, @SessionBag('cart') cart: Cart, @FlashSession() flash: Flash): void {
    const id = field(body, 'product', 20);
    const quantity = Number(field(body, 'quantity', 3) || 1);
    if (!isProduct(id)) return void flash.error('There is no such product.');
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) {
      return void flash.error(`The quantity is a whole number from 1 to ${MAX_QUANTITY}.`);
    }
    const now = Math.min((cart.get(id) ?? 0) + quantity, MAX_QUANTITY);
    cart.set(id, now);
    flash.success(`Added ${quantity} × ${CATALOG[id]!.name} to your cart.`);
  }

  @Post('/remove')
  @Redirect('/cart')
  remove(@Body() body: unknown, @SessionBag('cart') cart: Cart, @FlashSession() flash: Flash): void {
    const id = field(body, 'product', 20);
    if (!cart.has(id)) return void flash.warning('That product was not in your cart.');
    cart.remove(id);
    flash.notice(`Removed ${CATALOG[id]?.name ?? id} from your cart.`);
  }

  @Post('/clear')
  @Redirect('/cart')
  clear(@SessionBag('cart') cart: Cart, @FlashSession() flash: Flash): void {
    cart.clear(); // removes the session key `cart`
    flash.notice('Your cart is empty.');
  }
}
