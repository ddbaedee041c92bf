import { Service } from 'typedi';
import { SessionService, type Bag } from '../../../lib';
import { CATALOG, isProduct, MAX_QUANTITY } from '../catalog';

/** One line of the cart, priced. */
export interface CartLine {
  id: string;
  n: number;
  name: string;
  cents: number;
}

/** What `add()` did: the new quantity, or why it refused. */
export type Added = { quantity: number } | { refused: string };

/**
 * The cart, as a service: product id → quantity in a Bag under the session key `cart`. One
 * instance serves every request (typedi's default scope: a singleton); no controller passes it a
 * session. It holds the injected `SessionService`, whose members resolve to the current request's
 * session (`session({ context: true })` in app.ts), so `this.session.bag('cart')` is this
 * visitor's cart — the same Bag `@SessionBag('cart')` would give the action. The route starts
 * the session first (`@SessionPolicy()` on the controller).
 *
 * @example
 * const cart = Container.get(CartService);
 * cart.add('tea', 2);   // in a request, or in runInSession() in a unit test
 */
@Service()
export class CartService {
  constructor(private readonly session: SessionService) {}

  /** This visitor's cart. */
  get #bag(): Bag<Record<string, number>> {
    return this.session.bag<Record<string, number>>('cart');
  }

  /** The products in the cart, priced (unknown ids left out). */
  lines(): CartLine[] {
    return [...this.#bag].filter(([id]) => isProduct(id)).map(([id, n]) => ({ id, n: Number(n), ...CATALOG[id]! }));
  }

  /** The cart's total, in cents. */
  total(): number {
    return this.lines().reduce((sum, l) => sum + l.n * l.cents, 0);
  }

  /** Add `quantity` of `id` (at most MAX_QUANTITY of one product). */
  add(id: string, quantity: number): Added {
    if (!isProduct(id)) return { refused: 'There is no such product.' };
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) {
      return { refused: `The quantity is a whole number from 1 to ${MAX_QUANTITY}.` };
    }
    const now = Math.min((this.#bag.get(id) ?? 0) + quantity, MAX_QUANTITY);
    this.#bag.set(id, now);
    return { quantity: now };
  }

  /** Remove `id`; false when it was not in the cart. */
  remove(id: string): boolean {
    if (!this.#bag.has(id)) return false;
    this.#bag.remove(id);
    return true;
  }

  /** Empty the cart (removes the session key `cart`). */
  clear(): void {
    this.#bag.clear();
  }
}
