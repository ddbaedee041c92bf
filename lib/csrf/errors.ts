import { SessionError } from '../errors';

/** Why a request's CSRF token was refused (for logs; the response says only that it was). */
export type CsrfRejection =
  /** No token in the header or the form field. */
  | 'missing'
  /** Not a masked token: wrong length, characters outside base64url, more than one value. */
  | 'malformed'
  /** A well-formed token that is not this session's: another session's, a tampered one, an old one. */
  | 'mismatch'
  /** The session holds no token for its current id (none was made, or the id changed since). */
  | 'no-token';

/**
 * A request that changes state (POST, PUT, PATCH, DELETE …) without this session's CSRF token,
 * refused by `csrf()` or `@CsrfProtected()` before the route ran: status 403, code
 * `ERR_CSRF_TOKEN_INVALID`; `reason` says why, for the log. Nothing of the session was changed.
 * The message names no token and is safe to show (`expose`).
 *
 * @example
 * app.use(async (ctx, next) => {
 *   try { await next(); } catch (err) {
 *     if (!(err instanceof InvalidCsrfToken)) throw err;
 *     ctx.status = 403;
 *     ctx.body = 'This form has expired: reload the page and send it again.';
 *   }
 * });
 */
export class InvalidCsrfToken extends SessionError {
  override readonly status: number = 403;
  override readonly expose: boolean = true;

  constructor(readonly reason: CsrfRejection) {
    super(reason === 'missing'
      ? 'The request carries no CSRF token: send the form field or the X-CSRF-Token header'
      : 'The CSRF token of the request is not valid for this session: reload the page and try again', 'ERR_CSRF_TOKEN_INVALID');
  }
}
