import { Bag, type Manager } from '../../lib';

/** What the shop sells: id → name and price in cents. */
export const CATALOG: Readonly<Record<string, { name: string; cents: number }>> = {
  tea: { name: 'Green tea', cents: 450 },
  coffee: { name: 'Coffee beans', cents: 600 },
  mug: { name: 'Mug', cents: 990 },
  biscuits: { name: 'Biscuits', cents: 275 },
};

/** Most of one product a cart holds. */
export const MAX_QUANTITY = 99;

export function isProduct(id: string): boolean {
  return Object.hasOwn(CATALOG, id);
}

/** `1234` → `€12.34`. */
export function money(cents: number): string {
  return `€${(cents / 100).toFixed(2)}`;
}

/**
 * The cart: product id → quantity, a Bag under the session key `cart` (the one `CartService`
 * keeps, services/CartService.ts); read here by the page shell, which is handed the session.
 *
 * @example
 * const items = [...cartBag(session)].reduce((sum, [, n]) => sum + Number(n), 0);
 */
export function cartBag(session: Manager): Bag<Record<string, number>> {
  return new Bag<Record<string, number>>(session, 'cart');
}
