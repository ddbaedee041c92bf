/**
 * One text field of a parsed urlencoded body (koa-bodyparser's `ctx.request.body`, or
 * routing-controllers' `@Body()`): '' when missing or not a string (`a[]=x` parses to an
 * array), trimmed, and cut to `max` characters so nothing unbounded reaches the session.
 */
export function field(body: unknown, name: string, max = 200): string {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, name)) return '';
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value.trim().slice(0, max) : '';
}

/**
 * A local path to go back to after sign-in, or null: only `/…`, never `//host` or `/\host`,
 * which browsers take for another site (no open redirect).
 */
export function localPath(value: string): string | null {
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(value) ? value : null;
}
