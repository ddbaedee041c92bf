import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';

/** The form field `csrf()` reads from the parsed body (Phalcon's `getTokenKey()`, fixed here). */
export const CSRF_FIELD = '_csrf';
/** The request header `csrf()` reads (for `fetch()` and JSON APIs). */
export const CSRF_HEADER = 'X-CSRF-Token';

/** Options of `csrf()` and `@CsrfProtected()`; closed: an unknown key is an `InvalidOption`. */
export interface CsrfOptions {
  /** The form field of the token in the parsed body (`ctx.request.body`). @default '_csrf' */
  field?: string;
  /** The request header of the token; tried before the field. @default 'X-CSRF-Token' */
  header?: string;
  /**
   * The methods never checked: they must not change anything. Every other method (POST, PUT,
   * PATCH, DELETE, and any other) is checked. @default ['GET', 'HEAD', 'OPTIONS']
   */
  ignoreMethods?: readonly string[];
}

/** {@link CsrfOptions} checked, with the defaults filled in. */
export interface ResolvedCsrfOptions {
  readonly field: string;
  /** Lower case, as Koa's `ctx.get()` takes it. */
  readonly header: string;
  readonly ignore: ReadonlySet<string>;
}

const KEYS = ['field', 'header', 'ignoreMethods'];
const HINTS: Record<string, string> = {
  cookie: 'the token is kept in the session (a synchronizer token), not in a cookie of its own',
  value: 'the token is read from the header, else from the form field: set `header` or `field`',
  sessionKey: 'the token has a fixed, namespaced session key (CSRF_SESSION_KEY)',
  key: 'the form field is `field`, the header is `header`',
  ignoredMethods: 'the option is `ignoreMethods`',
};

const DEFAULTS: ResolvedCsrfOptions = Object.freeze({
  field: CSRF_FIELD,
  header: CSRF_HEADER.toLowerCase(),
  ignore: new Set(['GET', 'HEAD', 'OPTIONS']),
});

/** Check `options` (closed, like every option object here) and fill in the defaults. */
export function resolveCsrfOptions(options: CsrfOptions = {}): ResolvedCsrfOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOption('csrf', 'must be an object');
  checkOptionKeys('csrf', options, KEYS, HINTS);
  const { field, header, ignoreMethods } = options;
  if (field === undefined && header === undefined && ignoreMethods === undefined) return DEFAULTS;
  for (const [name, value] of [['field', field], ['header', header]] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === '')) throw new InvalidOption(`csrf.${name}`, 'must be a non-empty string');
  }
  if (header !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) throw new InvalidOption('csrf.header', 'must be a header name');
  let ignore = DEFAULTS.ignore;
  if (ignoreMethods !== undefined) {
    if (!Array.isArray(ignoreMethods) || !ignoreMethods.every((m) => typeof m === 'string' && m !== '')) {
      throw new InvalidOption('csrf.ignoreMethods', 'must be a list of method names');
    }
    ignore = new Set(ignoreMethods.map((m: string) => m.toUpperCase()));
    for (const unsafe of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      if (ignore.has(unsafe)) throw new InvalidOption('csrf.ignoreMethods', `${unsafe} changes state: it must be checked`);
    }
  }
  return { field: field ?? DEFAULTS.field, header: (header ?? CSRF_HEADER).toLowerCase(), ignore };
}
