import test from 'ava';
import * as errors from '../lib/errors';

const cases: Array<[Error, string, string, number]> = [
  [new errors.InvalidSessionAdapter(), 'ERR_SESSION_INVALID_ADAPTER', 'The session adapter is not valid', 500],
  [new errors.InvalidSessionId(), 'ERR_SESSION_INVALID_ID', 'The session id contains invalid characters', 500],
  [new errors.InvalidSessionName(), 'ERR_SESSION_INVALID_NAME', 'The name contains non alphanum characters', 500],
  [new errors.SessionAlreadyStarted(), 'ERR_SESSION_ALREADY_STARTED', 'The session has already been started. To change the id, use regenerateId()', 500],
  [new errors.SessionModificationDenied(), 'ERR_SESSION_MODIFICATION_DENIED', 'Cannot set session name after a session has started', 500],
  [new errors.AdapterRuntimeError('Unexpected gc error'), 'ERR_SESSION_ADAPTER', 'Unexpected gc error', 503],
  [new errors.SessionLockTimeout('sess-1-lock', 5000), 'ERR_SESSION_LOCK_TIMEOUT', 'Could not acquire the session lock with key: sess-1-lock (waited 5000 ms)', 503],
  [new errors.SessionLockLost('sess-1-lock'), 'ERR_SESSION_LOCK_LOST', 'The session lock with key sess-1-lock was lost; the write was refused so newer data is not overwritten', 503],
  [new errors.InvalidSavePath(), 'ERR_SESSION_INVALID_SAVE_PATH', 'The session save path cannot be empty', 500],
  [new errors.SavePathUnavailable('/nope'), 'ERR_SESSION_SAVE_PATH_UNAVAILABLE', 'The session save path [/nope] is not writable', 500],
  [new errors.InvalidOption('lifetime', 'must be positive'), 'ERR_SESSION_INVALID_OPTION', 'Invalid session option "lifetime": must be positive', 500],
  [new errors.FlashMessageNotStringOrArray(), 'ERR_FLASH_MESSAGE_TYPE', 'The message must be an array or a string', 500],
];

for (const [error, code, message, status] of cases) {
  test(`errors › ${error.constructor.name} › code ${code}, Phalcon's message, status ${status}, never exposed`, (t) => {
    t.true(error instanceof errors.SessionError);
    t.true(error instanceof Error);
    t.is(error.name, error.constructor.name);
    t.is((error as errors.SessionError).code, code);
    t.is(error.message, message);
    t.is((error as errors.SessionError).status, status);
    t.false((error as errors.SessionError).expose);
  });
}

test('errors › lock errors are AdapterRuntimeErrors, so one catch maps every store failure to 503', (t) => {
  t.true(new errors.SessionLockTimeout('k', 1) instanceof errors.AdapterRuntimeError);
  t.true(new errors.SessionLockLost('k') instanceof errors.AdapterRuntimeError);
});

test('errors › an AdapterRuntimeError keeps its cause', (t) => {
  const cause = new Error('ECONNREFUSED');
  t.is(new errors.AdapterRuntimeError('down', 'ERR_SESSION_STORE', { cause }).cause, cause);
});
