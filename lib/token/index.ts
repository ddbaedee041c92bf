/**
 * `koa-session-manager/token`: stateless sessions, the whole session in a signed (JWS) or
 * encrypted (JWE) token that the client carries in the session cookie or an
 * `Authorization: Bearer` header, made and verified by `jose` (an optional peer dependency:
 * `npm install jose`). Importing this entry loads jose; the main entry never does.
 *
 * @example
 * import { session } from 'koa-session-manager';
 * import { TokenStore } from 'koa-session-manager/token';
 * app.use(session({ adapter: new TokenStore({ keys: [{ kid: '2026-12', secret: process.env.SESSION_KEY! }] }) }));
 *
 * @module koa-session-manager/token
 */
export { TokenStore } from './TokenStore';
export type { TokenStoreOptions } from './TokenStore';
export type { TokenKey, TokenJwk, TokenMode, TokenAlgorithm } from './keys';
export { TokenTooLarge } from './errors';
