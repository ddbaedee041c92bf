// The token specs again, on jose 5 (both majors are in the peer range): the helper below makes
// this process's `require('jose')` load jose 5.10, then the spec files register their tests here.
import '../helpers/jose5';
import test from 'ava';
import * as jose from 'jose';
import { joseVersion } from '../helpers/jose5';
import './tokens.spec';
import './keys.spec';
import './transport.spec';
import './compact.spec';

test('this process runs the token specs on jose 5 (its Node build, node:crypto)', (t) => {
  t.regex(joseVersion, /^5\./);
  t.is((jose as unknown as { cryptoRuntime?: string }).cryptoRuntime, 'node:crypto');
});
