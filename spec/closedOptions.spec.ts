import test, { type ExecutionContext } from 'ava';
import { checkOptionKeys } from '../lib/closedOptions';
import { InvalidOption } from '../lib/errors';

const KNOWN = ['path', 'domain', 'httpOnly', 'sameSite'] as const;

/** The InvalidOption `fn` throws (the spec fails when it throws nothing or something else). */
function refusal(t: ExecutionContext, fn: () => void): InvalidOption {
  return t.throws(fn, { instanceOf: InvalidOption, code: 'ERR_SESSION_INVALID_OPTION' }) as InvalidOption;
}

test('checkOptionKeys › known keys, and an empty object, pass', (t) => {
  t.notThrows(() => checkOptionKeys('cookie', { path: '/', httpOnly: true }, KNOWN));
  t.notThrows(() => checkOptionKeys('cookie', {}, KNOWN));
});

test('checkOptionKeys › an unknown key throws InvalidOption naming its full path, with the hint', (t) => {
  const err = refusal(t, () => checkOptionKeys('cookie', { path: '/', maxAge: 60_000 }, KNOWN, { maxAge: 'use `lifetime`, in seconds' }));
  t.is(err.code, 'ERR_SESSION_INVALID_OPTION');
  t.is(err.option, 'cookie.maxAge');
  t.is(err.message, 'Invalid session option "cookie.maxAge": use `lifetime`, in seconds');
});

test('checkOptionKeys › at the top level (where is empty) the path is the key itself', (t) => {
  t.is(refusal(t, () => checkOptionKeys('', { store: {} }, ['adapter'], { store: 'use `adapter`' })).option, 'store');
});

test('checkOptionKeys › names the first unknown key in the object\'s order', (t) => {
  t.is(refusal(t, () => checkOptionKeys('', { path: '/', b: 1, a: 2 }, KNOWN)).option, 'b');
});

test('checkOptionKeys › a key set to undefined is still refused: the name is the mistake', (t) => {
  t.is(refusal(t, () => checkOptionKeys('', { secret: undefined }, KNOWN)).option, 'secret');
});

test('checkOptionKeys › without a hint › suggests the known key it misspells (case or up to 2 edits)', (t) => {
  t.regex(refusal(t, () => checkOptionKeys('cookie', { httponly: true }, KNOWN)).message, /did you mean "httpOnly"\?/);
  t.regex(refusal(t, () => checkOptionKeys('cookie', { samSite: 'lax' }, KNOWN)).message, /did you mean "sameSite"\?/);
  t.regex(refusal(t, () => checkOptionKeys('locking', { wiat: 5 }, ['wait', 'expiry'])).message, /did you mean "wait"\?/, 'two letters swapped');
  t.regex(refusal(t, () => checkOptionKeys('RedisAdapter', { prefx: 'a-' }, ['host', 'prefix'])).message, /"RedisAdapter\.prefx": unknown option; did you mean "prefix"\?/);
});

test('checkOptionKeys › without a hint or a near key › lists the known keys', (t) => {
  const err = refusal(t, () => checkOptionKeys('cookie', { priority: 'high' }, KNOWN));
  t.is(err.message, 'Invalid session option "cookie.priority": unknown option; the options here are: path, domain, httpOnly, sameSite');
});

test('checkOptionKeys › keys named like Object.prototype members find no hint by accident', (t) => {
  const err = refusal(t, () => checkOptionKeys('', JSON.parse('{"constructor": 1}'), KNOWN, { store: 'use `adapter`' }));
  t.is(err.option, 'constructor');
  t.regex(err.message, /unknown option/);
  t.is(refusal(t, () => checkOptionKeys('', JSON.parse('{"__proto__": {}}'), KNOWN)).option, '__proto__');
});
