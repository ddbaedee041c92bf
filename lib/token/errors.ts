import { SessionTooLarge } from '../errors';

/**
 * The session's token would be longer than its transport carries: a cookie's name and value
 * together are kept by browsers up to 4096 bytes (a longer cookie is dropped silently, and the
 * session with it); a bearer token up to `maxTokenSize`. Thrown at the commit, before the
 * response: nothing was sent, and the client keeps the token it had. Keep less in the session,
 * or use a store adapter. A `SessionTooLarge` (catch either), not reported as a store error.
 */
export class TokenTooLarge extends SessionTooLarge {
  constructor(size: number, maxSize: number, transport: 'cookie' | 'bearer') {
    super(
      size,
      maxSize,
      `The session token would be ${size} bytes, over the ${maxSize} a ${transport === 'cookie' ? 'cookie (with its name) keeps in a browser' : 'bearer token may have (maxTokenSize)'}; nothing was sent`,
      'ERR_SESSION_TOKEN_TOO_LARGE',
    );
  }
}
