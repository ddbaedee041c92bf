import { FlashMessageNotStringOrArray } from '../errors';
import type { FlashClasses } from './options';

/**
 * What the HTML of a message depends on: a Flash's current output settings.
 *
 * @example
 * const look: FlashLook = { autoescape: true, automaticHtml: true, cssClasses: { error: 'alert' }, cssIconClasses: {}, customTemplate: '' };
 */
export interface FlashLook {
  autoescape: boolean;
  automaticHtml: boolean;
  cssClasses: FlashClasses;
  cssIconClasses: FlashClasses;
  customTemplate: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#039;' };
/** Lone surrogates: the JS form of invalid UTF-8, which ENT_SUBSTITUTE turns into U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const PLACEHOLDER = /%(cssClass|cssIconClass|message)%/g;

/** PHP `htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8', true)`, as Phalcon's escaper `html()`. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!).replace(LONE_SURROGATE, '\uFFFD');
}

/**
 * The HTML of one message of `type`: escaped when `autoescape`, in the custom template or the
 * default `<div>` when `automaticHtml`. A stored message that is not a string throws
 * `FlashMessageNotStringOrArray`.
 *
 * @example
 * renderMessage('error', 'Not found', look); // '<div class="alert">Not found</div>\n'
 */
export function renderMessage(type: string, message: unknown, look: FlashLook): string {
  if (typeof message !== 'string') throw new FlashMessageNotStringOrArray();
  const text = look.autoescape ? escapeHtml(message) : message;
  if (!look.automaticHtml) return text;
  const cssClass = classString(look.cssClasses, type);
  const cssIconClass = classString(look.cssIconClasses, type);
  let template = look.customTemplate;
  if (template === '') {
    const div = cssClass === '' ? '' : ' class="%cssClass%"';
    const icon = cssClass !== '' && cssIconClass !== '' ? '<i class="%cssIconClass%"></i> ' : '';
    template = `<div${div}>${icon}%message%</div>\n`;
  }
  // One pass, so placeholder text inside a message or class is never expanded again (PHP strtr).
  const values: Record<string, string> = { cssClass, cssIconClass, message: text };
  return template.replace(PLACEHOLDER, (_, name: string) => values[name]!);
}

/** The class string of `type`: '' when missing, a list joined with spaces. */
function classString(classes: FlashClasses, type: string): string {
  const value = Object.hasOwn(classes, type) ? classes[type] : undefined;
  if (Array.isArray(value)) return value.join(' ');
  return typeof value === 'string' ? value : '';
}
