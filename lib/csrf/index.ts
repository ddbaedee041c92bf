/**
 * CSRF tokens kept in the session (Phalcon `Security::getToken()` / `checkToken()`): one token
 * per session and id, masked afresh for every response, checked by `csrf()` on every request
 * that may change state. Docs: docs/csrf.md.
 *
 * @example
 * app.use(session()).use(bodyParser()).use(csrf());
 * router.get('/form', (ctx) => { ctx.body = `<input type="hidden" name="_csrf" value="${csrfToken(ctx)}">`; });
 */
export { csrf, csrfToken, checkCsrfToken, submittedToken } from './csrf';
export { InvalidCsrfToken, type CsrfRejection } from './errors';
export { CSRF_FIELD, CSRF_HEADER, type CsrfOptions } from './options';
export { CSRF_SESSION_KEY } from './token';
