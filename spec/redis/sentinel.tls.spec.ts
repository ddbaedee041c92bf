import test from 'ava';
import type { ExecutionContext } from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { TLSSocket } from 'node:tls';
import type { Redis } from 'ioredis';
import { RedisAdapter, type RedisAdapterOptions } from '../../lib/redis/RedisAdapter';
import { AdapterRuntimeError } from '../../lib/errors';
import { newId } from '../helpers/adapterContract';
import { startRedisSentinel, tlsCommand, type RedisSentinelSet } from '../helpers/redisSentinel';
import { count, increment } from '../helpers/sessionCounter';
import { checkFailoverWhileConnecting, killMasterUnderLoad } from '../helpers/failoverLoad';
import { makeTempDir, type TempDir } from '../helpers/tmp';
import { makeTlsCerts, type TlsCerts } from '../helpers/tlsCerts';

// Sentinel over TLS: a master, a replica and three sentinels that listen with TLS only (`port 0`,
// `tls-port`, `tls-auth-clients yes`, `tls-replication yes`), with certificates made by openssl
// when the file starts (the servers' hold IP:127.0.0.1: the sentinels report the master by IP).
// Every server is started here on a free 127.0.0.1 port and stopped (or killed) by PID. The tests
// run one at a time: at most five servers and one load share the machine's two cores.

/** Generous for a loaded 2-core machine: the adapter's own bound is its 1 s connect/command timeouts. */
const FAIL_WITHIN_MS = 5_000;

let dir: TempDir | undefined;
let certs: TlsCerts | undefined;
/** One deployment for the tests that leave it as it was; the failover test starts its own. */
let shared: RedisSentinelSet | undefined;

test.before(async () => {
  dir = await makeTempDir('sentinel-tls');
  certs = await makeTlsCerts(dir.path);
  shared = await startRedisSentinel({ tls: certs });
});

test.after.always(async () => {
  await shared?.stop();
  await dir?.remove();
});

function adapter(t: ExecutionContext, set: RedisSentinelSet, options: RedisAdapterOptions = {}): RedisAdapter {
  const a = new RedisAdapter({ sentinels: set.addresses, name: set.name, ...options });
  t.teardown(() => a.close());
  return a;
}

/** The CA that signed every server's certificate, and the client certificate they ask for. */
function trusted(): NonNullable<RedisAdapterOptions['tls']> {
  return { ca: certs!.ca.pem, cert: certs!.client.cert.pem, key: certs!.client.key.pem };
}

/** The data connection is TLS to `port`, and the server's certificate was verified. */
function verifiedTls(t: ExecutionContext, a: RedisAdapter, port: number): void {
  const stream = (a.client as Redis).stream;
  t.true(stream instanceof TLSSocket, 'the data connection is TLS');
  t.true((stream as TLSSocket).authorized, 'the server certificate was verified');
  t.is(stream.remotePort, port);
}

/** Clients subscribed to +switch-master on each sentinel (ioredis' failover detector). */
async function subscribers(set: RedisSentinelSet): Promise<number> {
  let n = 0;
  for (const sentinel of set.sentinels) {
    const list = String(await tlsCommand(sentinel.port, ['CLIENT', 'LIST'], certs!));
    n += list.split('\n').filter((line) => / sub=[1-9]/.test(line)).length;
  }
  return n;
}

/** A session start against `options` fails with an AdapterRuntimeError (503) within FAIL_WITHIN_MS. */
async function failsFast(t: ExecutionContext, options: RedisAdapterOptions, cause: RegExp): Promise<void> {
  const a = adapter(t, shared!, options);
  const started = performance.now();
  const err = await t.throwsAsync(() => increment(a, newId()), { instanceOf: AdapterRuntimeError });
  const elapsed = performance.now() - started;
  t.is((err as AdapterRuntimeError).status, 503);
  t.regex(err!.message, cause);
  t.true(elapsed < FAIL_WITHIN_MS, `failed after ${Math.round(elapsed)} ms`);
  t.log(`${Math.round(elapsed)} ms: ${err!.message}`);
}

test.serial('Sentinel TLS › the adapter finds the master through TLS sentinels and keeps sessions on it over verified TLS', async (t) => {
  const set = shared!;
  const a = adapter(t, set, { tls: trusted() });
  const id = newId();
  await Promise.all(Array.from({ length: 30 }, () => increment(a, id)));
  t.is(await count(a, id), 30);
  verifiedTls(t, a, set.master.port);
  // The servers have no plain-text port: the sentinels were asked over TLS, and the failover
  // detector holds a TLS subscription on them.
  const deadline = Date.now() + 5_000;
  while ((await subscribers(set)) === 0 && Date.now() < deadline) await sleep(100);
  t.true((await subscribers(set)) > 0, 'the failover detector subscribed to +switch-master over TLS');
  // The data is on the master, and replicated over TLS.
  t.regex(await set.master.cli('GET', `sess-reds-{${id}}`), /"n":30/);
});

test.serial('Sentinel TLS › sentinelTls for the sentinels, and servername a name every data node\'s certificate holds', async (t) => {
  const set = shared!;
  // `servername` applies to the master although the sentinels report it by IP; the sentinels
  // get their own settings, whole.
  const a = adapter(t, set, { tls: { ...trusted(), servername: 'localhost' }, sentinelTls: trusted() });
  t.is(await increment(a, newId()), 1);
  verifiedTls(t, a, set.master.port);
});

test.serial('Sentinel TLS › a client that does not trust the sentinels\' CA fails with AdapterRuntimeError naming the certificate, no hang', async (t) => {
  const { otherCa, client } = certs!;
  await failsFast(t, { tls: { ca: otherCa.pem, cert: client.cert.pem, key: client.key.pem } }, /not reachable.*sentinels.*certificate/i);
});

test.serial('Sentinel TLS › the master\'s certificate is verified too: a wrong CA or a name it does not hold for the master fails', async (t) => {
  const { otherCa, client } = certs!;
  // The sentinels are trusted and answer; the master they name is not.
  await failsFast(t, { tls: { ca: otherCa.pem, cert: client.cert.pem, key: client.key.pem }, sentinelTls: trusted() }, /not reachable.*certificate/i);
  await failsFast(t, { tls: { ...trusted(), servername: 'redis.other.test' }, sentinelTls: trusted() }, /not reachable.*(altnames|does not match)/i);
});

test.serial('Sentinel TLS › without a client certificate, the TLS sentinels refuse the client: a bounded error', async (t) => {
  // TLS 1.3: the server refuses after the client's side of the handshake is done, so the client
  // reads its alert or finds the connection reset, whichever comes first.
  await failsFast(t, { tls: { ca: certs!.ca.pem } }, /not reachable.*sentinels.*(certificate required|ECONNRESET)/i);
});

test.serial('Sentinel TLS › the master is killed mid-load: bounded 503s, then sessions go on over TLS on the new master', async (t) => {
  t.timeout(90_000);
  const set = await startRedisSentinel({ tls: certs! });
  t.teardown(() => set.stop());
  // lockExpiry 5 s: locks held on the dead master reach the replica (see sentinel.spec.ts).
  const a = adapter(t, set, { tls: trusted(), lockExpiry: 5 });
  await killMasterUnderLoad(t, set, a, 100);
  verifiedTls(t, a, set.replica.port);
});

test.serial('Sentinel TLS › +switch-master heard while the client asks the sentinels: the client reconnects, never ends', async (t) => {
  t.timeout(60_000);
  const set = await startRedisSentinel({ tls: certs! });
  t.teardown(() => set.stop());
  const a = adapter(t, set, { tls: trusted() });
  const newMaster = await checkFailoverWhileConnecting(t, set, a);
  verifiedTls(t, a, newMaster);
});
