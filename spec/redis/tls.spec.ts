import test from 'ava';
import type { ExecutionContext } from 'ava';
import { TLSSocket } from 'node:tls';
import type { Redis } from 'ioredis';
import { RedisAdapter, type RedisAdapterOptions } from '../../lib/redis/RedisAdapter';
import { AdapterRuntimeError } from '../../lib/errors';
import { newId } from '../helpers/adapterContract';
import { startRedisTls, useRedisTls } from '../helpers/redisServer';
import { increment } from '../helpers/sessionCounter';

// A private redis-server with TLS (Debian's redis-server 7 is built with it), its CA, server,
// client and wrong-name certificates made with openssl in a temp dir when the file starts.
// Clients must present a certificate (tls-auth-clients yes, Redis' default).
const redis = useRedisTls(test);

/** Generous for a loaded 2-core machine: the adapter's own bound is its 1 s connect/command timeouts. */
const FAIL_WITHIN_MS = 5_000;

function adapter(t: ExecutionContext, options: RedisAdapterOptions): RedisAdapter {
  const a = new RedisAdapter(options);
  t.teardown(() => a.close());
  return a;
}

/** The client certificate and key, and the CA that signed the server's certificate. */
function trusted(): NonNullable<RedisAdapterOptions['tls']> {
  const { ca, client } = redis().certs;
  return { ca: ca.pem, cert: client.cert.pem, key: client.key.pem };
}

/** A session start against `options` fails with an AdapterRuntimeError (503) within FAIL_WITHIN_MS. */
async function failsFast(t: ExecutionContext, options: RedisAdapterOptions, cause: RegExp): Promise<void> {
  const a = adapter(t, options);
  const started = performance.now();
  const err = await t.throwsAsync(() => increment(a, newId()), { instanceOf: AdapterRuntimeError });
  const elapsed = performance.now() - started;
  t.is((err as AdapterRuntimeError).status, 503);
  t.regex(err!.message, cause);
  t.true(elapsed < FAIL_WITHIN_MS, `failed after ${Math.round(elapsed)} ms`);
  t.log(`${Math.round(elapsed)} ms: ${err!.message}`);
}

test('TLS › sessions work over rediss:// with a private CA and a client certificate, verified', async (t) => {
  const a = adapter(t, { url: redis().tlsUrl, tls: trusted() });
  const id = newId();
  t.is(await increment(a, id), 1);
  t.is(await increment(a, id), 2);
  const stream = (a.client as Redis).stream;
  t.true(stream instanceof TLSSocket, 'the connection is TLS');
  t.true((stream as TLSSocket).authorized, 'the server certificate was verified');
  // Seen from the server's plain control port: the data is there, locked writes and all.
  t.regex(await redis().cli('GET', `sess-reds-{${id}}`), /"n":2/);
});

test('TLS › host and port with tls, and servername naming the certificate\'s DNS name', async (t) => {
  const a = adapter(t, { host: '127.0.0.1', port: redis().tlsPort, tls: { ...trusted(), servername: 'localhost' } });
  t.is(await increment(a, newId()), 1);
  t.true((a.client as Redis).stream instanceof TLSSocket);
});

test('TLS › a client that does not trust the server\'s CA fails with AdapterRuntimeError, no hang', async (t) => {
  const { otherCa, client } = redis().certs;
  await failsFast(t, { url: redis().tlsUrl, tls: { ca: otherCa.pem, cert: client.cert.pem, key: client.key.pem } }, /not reachable.*certificate/i);
  // Without `ca`, Node's bundled authorities are trusted, and none signed the private CA.
  await failsFast(t, { url: redis().tlsUrl, tls: { cert: client.cert.pem, key: client.key.pem } }, /not reachable.*(certificate|issuer)/i);
});

test('TLS › a server certificate for another name fails, though its CA is trusted', async (t) => {
  const wrong = await startRedisTls({ certs: redis().certs, serve: 'wrongName' });
  t.teardown(() => wrong.stop());
  await failsFast(t, { url: wrong.tlsUrl, tls: trusted() }, /not reachable.*(altnames|does not match)/i);
  // And the right server asked for a name its certificate does not hold.
  await failsFast(t, { url: redis().tlsUrl, tls: { ...trusted(), servername: 'redis.other.test' } }, /not reachable.*(altnames|does not match)/i);
});

test('TLS › plain redis:// to the TLS port fails fast', async (t) => {
  await failsFast(t, { url: `redis://127.0.0.1:${redis().tlsPort}` }, /not reachable/);
});

test('TLS › without a client certificate, a server that asks for one refuses the session', async (t) => {
  await failsFast(t, { url: redis().tlsUrl, tls: { ca: redis().certs.ca.pem } }, /not reachable/);
});

test('TLS › after its TLS server crashed and came back, the same adapter serves sessions again', async (t) => {
  // A server of its own: the others' tests share theirs concurrently.
  const own = await startRedisTls({ certs: redis().certs });
  t.teardown(() => own.stop());
  const a = adapter(t, { url: own.tlsUrl, tls: trusted() });
  const id = newId();
  t.is(await increment(a, id), 1);
  await own.kill();
  await t.throwsAsync(() => increment(a, id), { instanceOf: AdapterRuntimeError });
  await own.restart();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      t.is(await increment(a, newId()), 1);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
});
