import type { Bag } from '../../lib';

/** One input of the checkout wizard and its check (a message when the value is refused). */
export interface WizardField {
  name: string;
  label: string;
  kind: 'text' | 'select' | 'checkbox';
  options?: readonly string[];
  max: number;
  check(value: string): string | null;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const between = (label: string, min: number, max: number) => (v: string) =>
  v.length >= min && v.length <= max ? null : `${label} needs ${min} to ${max} characters.`;

/**
 * The three steps. Inputs are plain text fields without `required`, so the server's checks
 * (and the inputs kept in the session across a refused submit) are what the visitor sees.
 */
export const STEPS: ReadonlyArray<{ title: string; fields: readonly WizardField[] }> = [
  {
    title: 'Contact',
    fields: [
      { name: 'name', label: 'Full name', kind: 'text', max: 60, check: between('The name', 1, 60) },
      { name: 'email', label: 'Email', kind: 'text', max: 100, check: (v) => (EMAIL.test(v) ? null : 'Enter an email address like ann@example.com.') },
    ],
  },
  {
    title: 'Address',
    fields: [
      { name: 'street', label: 'Street', kind: 'text', max: 100, check: between('The street', 1, 100) },
      { name: 'city', label: 'City', kind: 'text', max: 60, check: between('The city', 1, 60) },
      { name: 'postcode', label: 'Postcode', kind: 'text', max: 10, check: (v) => (/^[A-Za-z0-9 -]{3,10}$/.test(v) ? null : 'A postcode has 3 to 10 letters, digits, spaces or dashes.') },
    ],
  },
  {
    title: 'Delivery',
    fields: [
      { name: 'delivery', label: 'Delivery', kind: 'select', options: ['standard', 'express'], max: 10, check: (v) => (v === 'standard' || v === 'express' ? null : 'Choose standard or express delivery.') },
      { name: 'notes', label: 'Notes for the courier (optional)', kind: 'text', max: 200, check: between('The note', 0, 200) },
      { name: 'confirm', label: 'I confirm the order', kind: 'checkbox', max: 3, check: (v) => (v === 'yes' ? null : 'Tick the box to confirm the order.') },
    ],
  },
];

/** What the wizard keeps in its Bag: every input as typed (also refused ones), how far it got. */
export type WizardData = Record<string, string | number | boolean> & { reached?: number; done?: boolean };

/** The furthest step the visitor may open (1 until step 1 was accepted). */
export function reached(bag: Bag<WizardData>): number {
  const step = Number(bag.get('reached'));
  return Number.isInteger(step) && step >= 1 && step <= STEPS.length ? step : 1;
}

/** The stored value of one input, '' when none. */
export function valueOf(bag: Bag<WizardData>, name: string): string {
  const value = bag.get(name);
  return typeof value === 'string' ? value : '';
}
