import { Body, ContentType, Controller, Get, Post, Redirect } from 'routing-controllers';
import { Service } from 'typedi';
import type { Flash, Manager } from '../../../lib';
import { CsrfProtected, FlashSession, Session, SessionPolicy } from '../../../lib/decorators';
import { CATALOG, money } from '../catalog';
import { csrfField } from '../csrf';
import { field } from '../form';
import { html } from '../html';
import { HTML, view, type Demo } from '../layout';
import { CartService } from '../services/CartService';

const DEMO: Demo = {
  api: html`a singleton <code>CartService</code> that reads the cart through the injected <code>SessionService</code> (<code>this.session.bag('cart')</code>: this request's Bag, no session passed in), and <code>@FlashSession()</code>: a message after every change, shown once after the redirect`,
  source: ['examples/shop/controllers/CartController.ts', 'examples/shop/services/CartService.ts'],
};

/**
 * `/cart`: the cart is a `CartService` that typedi gives the controller (and the same instance to
 * every request); the controller never hands it the session. Every change is a POST that
 * redirects back, with a flash message shown once on the next page.
 */
@Service()
@Controller('/cart')
@SessionPolicy() // starts the session before each action: the service reads it
@CsrfProtected()
export class CartController {
  constructor(private readonly cart: CartService) {}

  @Get('/')
  @ContentType(HTML)
  show(@Session() session: Manager, @FlashSession() flash: Flash): string {
    const lines = this.cart.lines();
    const token = csrfField(session); // one masked token per page: each form gets the same bytes
    return view(session, flash, 'Cart', DEMO, html`<h2>Products</h2>
<table>${Object.entries(CATALOG).map(([id, p]) => html`<tr><td>${p.name}</td><td>${money(p.cents)}</td><td>
<form method="post" action="/cart/add">${token}<input type="hidden" name="product" value="${id}">
<input name="quantity" value="1" size="2" aria-label="Quantity"> <button id="add-${id}">Add to cart</button></form></td></tr>`)}</table>
<h2>In your cart</h2>
${lines.length === 0 ? html`<p id="cart-empty">Your cart is empty.</p>` : html`<table id="cart">
${lines.map((l) => html`<tr><td>${l.n} × ${l.name}</td><td>${money(l.n * l.cents)}</td><td>
<form method="post" action="/cart/remove">${token}<input type="hidden" name="product" value="${l.id}"><button>Remove</button></form></td></tr>`)}
<tr><th>Total</th><th id="cart-total">${money(this.cart.total())}</th><td></td></tr></table>
<form method="post" action="/cart/clear">${token}<button>Empty the cart</button></form>`}`);
  }

  @Post('/add')
  @Redirect('/cart')
  add(@Body() body: unknown, @FlashSession() flash: Flash): void {
    const id = field(body, 'product', 20);
    const quantity = Number(field(body, 'quantity', 3) || 1);
    const added = this.cart.add(id, quantity);
    if ('refused' in added) return void flash.error(added.refused);
    flash.success(`Added ${quantity} × ${CATALOG[id]!.name} to your cart.`);
  }

  @Post('/remove')
  @Redirect('/cart')
  remove(@Body() body: unknown, @FlashSession() flash: Flash): void {
    const id = field(body, 'product', 20);
    if (!this.cart.remove(id)) return void flash.warning('That product was not in your cart.');
    flash.notice(`Removed ${CATALOG[id]?.name ?? id} from your cart.`);
  }

  @Post('/clear')
  @Redirect('/cart')
  clear(@FlashSession() flash: Flash): void {
    this.cart.clear();
    flash.notice('Your cart is empty.');
  }
}
