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
