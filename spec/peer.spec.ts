import test from 'ava';
import { PeerDependencyMissing, SessionError } from '../lib';
import { requirePeer } from '../lib/peer';

// How an entry point loads its backend's client (lib/peer.ts); the installed-package view of
// the same (a real missing ioredis, memjs, routing-controllers) is in spec/package/pack.spec.ts.

const missing = (name: string) => (): never => {
  throw Object.assign(new Error(`Cannot find module '${name}'\nRequire stack:\n- /app/x.js`), { code: 'MODULE_NOT_FOUND' });
};

test('a missing peer is a PeerDependencyMissing naming the npm install', (t) => {
  const error = t.throws(() => requirePeer('ioredis', 'koa-session-manager/redis', missing('ioredis')), { instanceOf: PeerDependencyMissing });
  t.true(error instanceof SessionError);
  t.is(error.code, 'ERR_SESSION_PEER_MISSING');
  t.is(error.message, 'koa-session-manager/redis needs the package "ioredis": run npm install ioredis');
  t.is((error as PeerDependencyMissing).peer, 'ioredis');
});

test("a package the peer needs that is missing is a broken install: the loader's own error", (t) => {
  const error = t.throws(() => requirePeer('ioredis', 'koa-session-manager/redis', missing('redis-errors')));
  t.false(error instanceof PeerDependencyMissing);
  t.regex(error.message, /redis-errors/);
});

test('any other failure while loading the peer is rethrown as it is', (t) => {
  const boom = new SyntaxError('Unexpected token');
  t.is(t.throws(() => requirePeer('memjs', 'koa-session-manager/memcached', () => { throw boom; })), boom);
});

test('a present peer is returned', (t) => {
  const module = { Client: class {} };
  t.is(requirePeer('memjs', 'koa-session-manager/memcached', () => module), module);
});

test('a missing subpath of a peer names the package to install', (t) => {
  const error = t.throws(() => requirePeer('mysql2/promise', 'koa-session-manager/mysql', missing('mysql2/promise')), { instanceOf: PeerDependencyMissing });
  t.is(error.message, 'koa-session-manager/mysql needs the package "mysql2": run npm install mysql2');
});
