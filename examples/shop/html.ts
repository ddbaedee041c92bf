/**
 * A tagged template that escapes every interpolated value (the "light template engine" of the
 * shop): only values made by `html` itself or by `raw()` pass through unescaped, and arrays are
 * joined after escaping each item.
 *
 * @example
 * html`<p>Hello ${name}</p>`;               // name "<b>" gives <p>Hello &lt;b&gt;</p>
 * html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`;
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => { out += render(value) + strings[i + 1]!; });
  return new Html(out);
}

/** Markup that is already safe (made by `html`, or trusted text passed to `raw`). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Trust `markup` as HTML: only for text the app made itself (e.g. `flash.output()`, which escapes). */
export function raw(markup: string): Html {
  return new Html(markup);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for an HTML element or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(value);
}
