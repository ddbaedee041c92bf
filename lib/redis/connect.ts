import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { InvalidOption } from '../errors';
import { checkOptionKeys, positive } from '../closedOptions';
import { checkUrl, clientOptions, connection, credentials, type RedisAdapterOptions, type RedisTlsOptions } from './options';

/**
 * The keys of `tls`: what an app needs to reach a Redis with a private CA or client
 * certificates. Certificate verification cannot be turned off here (docs/redis-ha.md).
 */
const TLS_KEYS: readonly (keyof RedisTlsOptions)[] = ['ca', 'cert', 'key', 'passphrase', 'servername'];

/** Which TLS option is checked: `tls` (the data connection; with Sentinel, the sentinels too) or `sentinelTls`. */
export type TlsOptionName = 'tls' | 'sentinelTls';

const noVerifyOff = (where: TlsOptionName): string => 'certificate verification cannot be turned off: trust the CA that signed the server\'s certificate '
  + `with \`${where}.ca\`, or name the certificate's host with \`${where}.servername\` (an app that must do otherwise passes its own ioredis \`client\`)`;

function tlsHints(where: TlsOptionName): Readonly<Record<string, string>> {
  const address = where === 'tls' ? ['put the host in `url` or `host`', 'put the port in `url` or `port`'] : ['put the sentinels\' addresses in `sentinels`', 'put the sentinels\' addresses in `sentinels`'];
  return { rejectUnauthorized: noVerifyOff(where), checkServerIdentity: noVerifyOff(where), host: address[0], port: address[1] };
}

const pem = (value: unknown): boolean => typeof value === 'string' || Buffer.isBuffer(value);

/**
 * The `tls` (or `sentinelTls`) option, checked: a closed object of PEM strings or Buffers;
 * certificate verification stays on (Node's default, never overridden). Errors name `where`.
 *
 * @example
 * checkTls({ ca: readFileSync('ca.pem') }); // { ca: <Buffer …> }
 * checkTls({ rejectUnauthorized: false }, 'sentinelTls'); // throws InvalidOption "sentinelTls.rejectUnauthorized"
 */
export function checkTls(tls: unknown, where: TlsOptionName = 'tls'): ConnectionOptions {
  if (typeof tls !== 'object' || tls === null || Array.isArray(tls)) throw new InvalidOption(where, 'must be an object: { ca, cert, key, passphrase, servername }');
  checkOptionKeys(where, tls, TLS_KEYS, tlsHints(where));
  const { ca, cert, key, passphrase, servername } = tls as RedisTlsOptions;
  if (ca !== undefined && !(pem(ca) || (Array.isArray(ca) && ca.length > 0 && ca.every(pem)))) throw new InvalidOption(`${where}.ca`, 'must be PEM text or a Buffer, or a non-empty array of them');
  for (const [name, value] of [['cert', cert], ['key', key]] as const) {
    if (value !== undefined && !pem(value)) throw new InvalidOption(`${where}.${name}`, 'must be PEM text or a Buffer');
  }
  if ((cert === undefined) !== (key === undefined)) throw new InvalidOption(`${where}.${cert === undefined ? 'key' : 'cert'}`, 'a client certificate needs both `cert` and `key`');
  if (passphrase !== undefined && (typeof passphrase !== 'string' || key === undefined)) throw new InvalidOption(`${where}.passphrase`, 'must be a string, with `key`');
  if (servername !== undefined && (typeof servername !== 'string' || servername === '')) throw new InvalidOption(`${where}.servername`, 'must be a host name');
  const result: ConnectionOptions = {};
  for (const name of TLS_KEYS) if ((tls as RedisTlsOptions)[name] !== undefined) (result as Record<string, unknown>)[name] = (tls as RedisTlsOptions)[name];
  return result;
}

/**
 * `tls` and `sentinelTls` with `sentinels`, as ioredis options: with `tls`, the connections to
 * the master (`tls`, `enableTLSForSentinelMode`) and to the sentinels (`sentinelTLS`: a copy of
 * `tls`, or `sentinelTls` in its place, whole) all use TLS, verified. Neither: plain text.
 *
 * @example
 * sentinelTlsOptions({ tls: { ca } }); // { tls: { ca }, enableTLSForSentinelMode: true, sentinelTLS: { ca } }
 */
export function sentinelTlsOptions(options: RedisAdapterOptions): RedisOptions {
  if (options.tls === undefined) {
    if (options.sentinelTls !== undefined) {
      throw new InvalidOption('sentinelTls', 'needs `tls`: TLS to the sentinels comes with TLS to the master (`tls` alone applies to both; `sentinelTls` replaces it for the sentinels)');
    }
    return {};
  }
  const tls = checkTls(options.tls);
  const sentinelTLS = options.sentinelTls === undefined ? { ...tls } : checkTls(options.sentinelTls, 'sentinelTls');
  return { tls, enableTLSForSentinelMode: true, sentinelTLS };
}

/**
 * The `sentinels`, `name`, `sentinelAuth`, `tls` and `sentinelTls` options, checked, as ioredis
 * options: the master is found by name through the sentinels and followed across a failover.
 *
 * @example
 * sentinelOptions({ sentinels: [{ host: '10.0.0.7' }], name: 'mymaster' }, 1000);
 * // { sentinels: [{ host: '10.0.0.7', port: 26379 }], name: 'mymaster', role: 'master', … }
 */
export function sentinelOptions(options: RedisAdapterOptions, timeoutMs: number): RedisOptions {
  const { sentinels, name } = options;
  if (!Array.isArray(sentinels) || sentinels.length === 0) throw new InvalidOption('sentinels', 'must be a non-empty array of { host, port }');
  const addresses = sentinels.map((sentinel, i) => {
    const where = `sentinels[${i}]`;
    if (typeof sentinel !== 'object' || sentinel === null) throw new InvalidOption(where, 'must be { host, port }');
    checkOptionKeys(where, sentinel, ['host', 'port']);
    if (typeof sentinel.host !== 'string' || sentinel.host === '') throw new InvalidOption(`${where}.host`, 'must be a host name or address');
    return { host: sentinel.host, port: positive(`${where}.port`, sentinel.port, 26379, true) };
  });
  if (typeof name !== 'string' || name === '') throw new InvalidOption('name', 'must be the master name the sentinels monitor (`sentinel monitor <name> …`)');
  for (const other of ['url', 'host', 'port', 'socket'] as const) {
    if (options[other] !== undefined) throw new InvalidOption(other, 'cannot be combined with sentinels: the sentinels tell where the master is');
  }
  // The sentinels report the master by IP address, and Node checks the master's certificate
  // against that address: the data nodes' certificates hold their IPs (SANs), or share one name
  // given as `tls.servername` (docs/redis-ha.md). Verification is never turned off.
  const tls = sentinelTlsOptions(options);
  const auth = credentials(options.sentinelAuth);
  return {
    sentinels: addresses,
    name,
    role: 'master',
    ...tls,
    ...(auth.password !== undefined ? { sentinelPassword: auth.password } : {}),
    ...(auth.username !== undefined ? { sentinelUsername: auth.username } : {}),
    // Bounded as the data connection: a sentinel that accepts but never answers (hung) is given
    // up after the command timeout and the next one is asked (ioredis sets no timeout here).
    sentinelCommandTimeout: timeoutMs,
    sentinelRetryStrategy: (times: number) => Math.min(50 * 2 ** times, 1000), // as clientOptions()'s retryStrategy
    // Subscribe to +switch-master: a client still connected to a master that hangs or is cut
    // off reconnects to the new one at once instead of timing out against the old one. (Its
    // connections to a sentinel that went away retry after ioredis' 60 s: they have no error
    // listener, and each failed try is logged.)
    failoverDetector: true,
  };
}

/**
 * Closes a client the adapter made: QUIT, then disconnect() — ioredis 6's quit() leaves a
 * Sentinel client's failover detector connected to the sentinels, reconnecting forever.
 *
 * @example
 * await closeClient(subscriber);
 */
export async function closeClient(client: Redis | Cluster): Promise<void> {
  await client.quit().catch(() => undefined);
  if (!('isCluster' in client && client.isCluster)) client.disconnect();
}

/**
 * The arguments of `new Redis()` for the adapter's own client: a URL (or none) and the options,
 * bounded (`clientOptions`), with TLS or Sentinel when asked.
 *
 * @example
 * const [url, options] = ownClient({ url: 'rediss://cache:6380', tls: { ca } }, 1000, 1000);
 * new Redis(url!, options);
 */
export function ownClient(options: RedisAdapterOptions, timeoutMs: number, connectMs: number): [string | undefined, RedisOptions] {
  if (options.autoPipelining !== undefined && typeof options.autoPipelining !== 'boolean') throw new InvalidOption('autoPipelining', 'must be true or false');
  if (options.sentinels === undefined) {
    for (const only of ['name', 'sentinelAuth', 'sentinelTls'] as const) {
      if (options[only] !== undefined) throw new InvalidOption(only, 'applies to Sentinel: give `sentinels` too');
    }
  }
  // No `commandTimeout`: the adapter keeps its own client's reply timeout with one timer (ReplyWatch).
  const { commandTimeout: _perCommand, ...bounded } = clientOptions(timeoutMs);
  const own: RedisOptions = {
    ...bounded,
    enableAutoPipelining: options.autoPipelining === true,
    connectTimeout: connectMs,
  };
  if (options.sentinels !== undefined) {
    const sentinel = sentinelOptions(options, timeoutMs);
    const { host: _host, port: _port, ...rest } = connection(options); // index and auth apply to the master
    return [undefined, { ...own, ...rest, ...sentinel }];
  }
  const tls = options.tls === undefined ? undefined : checkTls(options.tls);
  if (options.url !== undefined) {
    const url = checkUrl(options);
    if (tls !== undefined && !/^rediss:/i.test(url)) throw new InvalidOption('tls', 'the url says redis:// (plain text): use a rediss:// url with `tls`');
    return [url, tls === undefined ? own : { ...own, tls }];
  }
  if (tls !== undefined && options.socket !== undefined) throw new InvalidOption('tls', 'does not apply to a Unix `socket`');
  return [undefined, { ...own, ...connection(options), ...(tls === undefined ? {} : { tls }) }];
}
