import Module from 'node:module';

/**
 * Make every later `require('jose')` of this process load jose 5 (the devDependency `jose5`,
 * `npm:jose@5.10.0`) instead of jose 6: both majors are in the peer range, and jose 5's Node
 * build does its cryptography with node:crypto where jose 6 uses WebCrypto. Import it before
 * anything that loads jose (the token entry): the specs that re-run the token specs on jose 5,
 * and the bench's jose 5 contenders.
 *
 * @example
 * import '../helpers/jose5';           // first
 * import { TokenStore } from '../../lib/token';
 */
const resolver = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
const original = resolver._resolveFilename;
resolver._resolveFilename = function resolveJose5(request: string, ...rest: unknown[]): string {
  if (request === 'jose' || request.startsWith('jose/')) return original.call(this, `jose5${request.slice(4)}`, ...rest);
  return original.call(this, request, ...rest);
};

/** The jose version `require('jose')` now loads. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const joseVersion: string = (require('jose/package.json') as { version: string }).version;
