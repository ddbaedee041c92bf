import { SessionError } from '../errors';
import { rc } from './routingControllers';

const { HttpError } = rc;

/**
 * An `HttpError` routing-controllers answers with its own status, that Koa also understands
 * (`status`, `expose`) when the app turned the default error handler off.
 */
abstract class SessionHttpError extends HttpError {
  abstract readonly code: string;
  readonly status: number;
  /**
   * The messages are written for the client (they name no store, host or id), and
   * routing-controllers shows them for the parameter decorators anyway. Exposed, Koa answers the
   * same text when the error comes from `@SessionPolicy()`'s middleware, whose errors
   * routing-controllers leaves to Koa, or when the default error handler is off.
   */
  readonly expose = true;

  constructor(httpCode: number, message: string) {
    super(httpCode, message);
    Object.setPrototypeOf(this, new.target.prototype); // HttpError resets the prototype to its own
    this.name = new.target.name;
    this.status = httpCode;
  }
}

/** A session decorator on a request the session middleware did not see. */
export class SessionNotMountedError extends SessionHttpError {
  readonly code = 'ERR_SESSION_NOT_MOUNTED';
  constructor() {
    super(500, 'The session middleware is not mounted: call app.use(session({ ... })) before useKoaServer(app, ...)');
  }
}

/**
 * The session could not be started for a decorator (the store is down or hung, the lock wait
 * timed out, ...). Status 503 for store failures, 500 otherwise; the message says nothing of the
 * store, the original error is the `cause` (and was emitted as `session:storeError`).
 */
export class SessionUnavailableError extends SessionHttpError {
  readonly code: string;
  constructor(cause: unknown) {
    const status = cause instanceof SessionError ? cause.status : 500;
    super(status, status === 503 ? 'The session store is unavailable; please try again' : 'The session could not be started');
    this.code = cause instanceof SessionError ? cause.code : 'ERR_SESSION';
    Object.defineProperty(this, 'cause', { value: cause, enumerable: false });
  }
}
