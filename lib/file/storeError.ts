import { AdapterRuntimeError } from '../errors';
import { redactId } from '../id';

/**
 * The error of a failed session file operation. `path` names a file of session `id` (the
 * session, its lock, a temp file); the id is replaced by its tag in the message and in the
 * cause (an fs error repeats the path in its message, `path` and `dest`), since messages end up
 * in logs and a session id in a log is a session anyone reading the log can take over.
 *
 * @example
 * throw storeError('read', '/var/sessions/sess_kX3v…', err, 'kX3v…');
 * // Session file read failed for /var/sessions/sess_id#Qm3f0aZ1: EIO
 */
export function storeError(operation: string, path: string, err: unknown, id?: string): AdapterRuntimeError {
  const code = (err as NodeJS.ErrnoException).code;
  const cause = redactCause(err, id);
  return new AdapterRuntimeError(`Session file ${operation} failed for ${hide(path, id)}: ${code ?? (cause as Error).message}`, 'ERR_SESSION_STORE', { cause });
}

/** {@link storeError} for a lock or claim file. */
export function lockError(path: string, err: unknown, id?: string): AdapterRuntimeError {
  const cause = redactCause(err, id);
  return new AdapterRuntimeError(`Session lock file ${hide(path, id)}: ${(cause as Error).message}`, 'ERR_SESSION_STORE', { cause });
}

function hide(text: string, id: string | undefined): string {
  return id === undefined ? text : redactId(text, id);
}

/**
 * `err` with the id replaced in every text field a logger prints. The fs error was made for
 * this one call and nobody else holds it: it is changed in place, keeping its class and code.
 */
function redactCause(err: unknown, id: string | undefined): unknown {
  if (id === undefined || !(err instanceof Error)) return err;
  const fields = err as Error & { path?: unknown; dest?: unknown };
  // The stack repeats the message as it was when the stack was first read.
  if (typeof err.stack === 'string') err.stack = redactId(err.stack, id);
  err.message = redactId(err.message, id);
  if (typeof fields.path === 'string') fields.path = redactId(fields.path, id);
  if (typeof fields.dest === 'string') fields.dest = redactId(fields.dest, id);
  return err;
}
