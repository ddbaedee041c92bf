/**
 * The error hierarchy. Every error the library throws is a {@link SessionError} with a stable
 * string `code`, so an app can map errors without matching messages:
 *
 * @example
 * app.use(async (ctx, next) => {
 *   try { await next(); } catch (err) {
 *     if (err instanceof AdapterRuntimeError) { ctx.status = 503; ctx.body = 'Try again'; return; }
 *     throw err;
 *   }
 * });
 *
 * Class names and messages follow Phalcon 5.18 (`Phalcon\Session\Exceptions\*`,
 * `Phalcon\Session\Adapter\Exceptions\*`); the lock and store errors are what Node needs beyond it.
 */
export class SessionError extends Error {
  /** A stable, machine-readable identifier of the failure. */
  readonly code: string;
  /** Suggested HTTP status when this error reaches a response (Koa reads `status`). */
  readonly status: number = 500;
  /** Koa: never show the message of a 5xx to the client. */
  readonly expose: boolean = false;

  constructor(message: string, code = 'ERR_SESSION', options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** `start()` without an adapter (Phalcon: "The session adapter is not valid"). */
export class InvalidSessionAdapter extends SessionError {
  constructor(message = 'The session adapter is not valid') {
    super(message, 'ERR_SESSION_INVALID_ADAPTER');
  }
}

/** An id outside `[a-zA-Z0-9,-]` or the length bound. */
export class InvalidSessionId extends SessionError {
  constructor(message = 'The session id contains invalid characters') {
    super(message, 'ERR_SESSION_INVALID_ID');
  }
}

/** A session name with characters other than letters, numbers, `_` and `-`, or only digits. */
export class InvalidSessionName extends SessionError {
  constructor(message = 'The name contains non alphanum characters') {
    super(message, 'ERR_SESSION_INVALID_NAME');
  }
}

/** `setId()` while the session is active. */
export class SessionAlreadyStarted extends SessionError {
  constructor(message = 'The session has already been started. To change the id, use regenerateId()') {
    super(message, 'ERR_SESSION_ALREADY_STARTED');
  }
}

/** `setName()` while active, or a write after `writeClose()` / `abort()` or on a read-only session. */
export class SessionModificationDenied extends SessionError {
  constructor(message = 'Cannot set session name after a session has started') {
    super(message, 'ERR_SESSION_MODIFICATION_DENIED');
  }
}

/** A storage failure: the backend is down, hung, full, or answered with an error. */
export class AdapterRuntimeError extends SessionError {
  override readonly status: number = 503;
  constructor(message: string, code = 'ERR_SESSION_ADAPTER', options?: { cause?: unknown }) {
    super(message, code, options);
  }
}

/** The session lock could not be acquired within the wait time. */
export class SessionLockTimeout extends AdapterRuntimeError {
  constructor(readonly key: string, readonly waitedMs: number) {
    super(`Could not acquire the session lock with key: ${key} (waited ${Math.round(waitedMs)} ms)`, 'ERR_SESSION_LOCK_TIMEOUT');
  }
}

/**
 * The request no longer holds its session lock (it expired and another request took it), so
 * its write was refused: the newer data is kept.
 */
export class SessionLockLost extends AdapterRuntimeError {
  constructor(readonly key: string) {
    super(`The session lock with key ${key} was lost; the write was refused so newer data is not overwritten`, 'ERR_SESSION_LOCK_LOST');
  }
}

/** `StreamAdapter` with an empty save path. */
export class InvalidSavePath extends SessionError {
  constructor(message = 'The session save path cannot be empty') {
    super(message, 'ERR_SESSION_INVALID_SAVE_PATH');
  }
}

/**
 * `StreamAdapter` with a save path that is not a writable directory (Phalcon's message), or one
 * that is not safe to keep sessions in (`reason` says why: its owner, its mode).
 */
export class SavePathUnavailable extends SessionError {
  constructor(readonly path: string, reason = 'is not writable') {
    super(`The session save path [${path}] ${reason}`, 'ERR_SESSION_SAVE_PATH_UNAVAILABLE');
  }
}

/** A bad option given to `session()` or an adapter, naming the option. */
export class InvalidOption extends SessionError {
  constructor(readonly option: string, reason: string) {
    super(`Invalid session option "${option}": ${reason}`, 'ERR_SESSION_INVALID_OPTION');
  }
}

/** `Flash` output of a message that is neither a string nor a list of strings. */
export class FlashMessageNotStringOrArray extends SessionError {
  constructor(message = 'The message must be an array or a string') {
    super(message, 'ERR_FLASH_MESSAGE_TYPE');
  }
}

/**
 * The session was read or written before it was started, with `session({ start: 'lazy' })`:
 * the route starts it (`sessionPolicy()`, a session decorator, or `await ctx.session.start()`).
 * Thrown instead of Phalcon's silent `null` / no-op, which would lose the write.
 */
export class SessionNotStarted extends SessionError {
  constructor(message = "The session is not started: with session({ start: 'lazy' }) the route starts it — put sessionPolicy() on the route, take it through a session decorator, or await ctx.session.start() first") {
    super(message, 'ERR_SESSION_NOT_STARTED');
  }
}

/** A route's session policy came after the session had started under another one. */
export class SessionPolicyConflict extends SessionError {
  constructor(message: string) {
    super(message, 'ERR_SESSION_POLICY_CONFLICT');
  }
}

/** `sessionPolicy()` (or a decorator) on a request that the session middleware did not see. */
export class SessionNotMounted extends SessionError {
  constructor(message = 'The session middleware is not mounted on this request: add app.use(session({ ... })) before the routers (and before useKoaServer() for routing-controllers)') {
    super(message, 'ERR_SESSION_NOT_MOUNTED');
  }
}

/**
 * `currentSession()`, `currentBag()`, `currentFlash()` or a `SessionService` called where no
 * request's session is current: the middleware was made without `context: true`, or the code runs
 * outside a request (at start-up, in a job started outside one). Never another request's session.
 */
export class SessionContextMissing extends SessionError {
  constructor(enabled = false) {
    super(enabled
      ? 'There is no current session here: this code runs outside a request that session({ context: true }) handles (at start-up, in a timer or job started outside a request, or before session() in the middleware chain); pass the session in, or in a unit test wrap the call in runInSession(fn)'
      : 'There is no current session: currentSession(), currentBag(), currentFlash() and SessionService need session({ context: true }), mounted before the routes (and before useKoaServer()); in a unit test wrap the call in runInSession(fn)', 'ERR_SESSION_CONTEXT_MISSING');
  }
}

/**
 * The serialized session is larger than `maxSize`: nothing was written (the stored session is
 * unchanged) and the lock was released. Raise `maxSize`, or keep large data elsewhere.
 */
export class SessionTooLarge extends SessionError {
  constructor(
    readonly size: number,
    readonly maxSize: number,
    message = `The session is ${size} bytes serialized, over maxSize (${maxSize}); nothing was written`,
    code = 'ERR_SESSION_TOO_LARGE',
  ) {
    super(message, code);
  }
}

/**
 * A value the serializer cannot keep as it is (a function, a symbol, a BigInt, a cycle, a class
 * instance, a non-finite number, a key such as `__proto__`): refused by `set()` instead of
 * coming back changed or lost after the next request.
 */
export class InvalidSessionValue extends SessionError {
  constructor(readonly key: string, reason: string) {
    super(`Session value "${key}" cannot be stored: ${reason}`, 'ERR_SESSION_INVALID_VALUE');
  }
}

/**
 * A backend's client library is not installed: `koa-session-manager/redis` needs `ioredis`,
 * `koa-session-manager/memcached` needs `memjs` (optional peer dependencies).
 */
export class PeerDependencyMissing extends SessionError {
  constructor(readonly peer: string, entry: string, options?: { cause?: unknown }) {
    super(`${entry} needs the package "${peer}": run npm install ${peer}`, 'ERR_SESSION_PEER_MISSING', options);
  }
}
