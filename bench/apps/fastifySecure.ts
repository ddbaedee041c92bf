import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyPluginCallback, type FastifyRequest } from 'fastify';
import { listenFastify } from './fastifyBase';
import { LIFETIME_S, type RunningApp } from './types';

// fastify 5 + @fastify/secure-session 8: the session JSON sealed with libsodium's secretbox
// (XSalsa20-Poly1305, sodium-native) in the cookie, a random nonce per seal. No store, no
// lock: the stateless rival of another framework (bare-fastify is its ceiling).

/**
 * The part of @fastify/secure-session used here. Its own typings are not loaded: they declare
 * `FastifyRequest.session` with another type than @fastify/session's (the fastify-session
 * contender), and both are in the one program `tsc -p .` compiles.
 */
interface SecureSession {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}
interface SecureSessionOptions {
  key: Buffer;
  cookieName: string;
  expiry: number;
  cookie: { path: string; httpOnly: boolean; maxAge: number };
}
/* eslint-disable @typescript-eslint/no-require-imports */
const fastifySecureSession = require('@fastify/secure-session') as FastifyPluginCallback<SecureSessionOptions>;
const sessionOf = (req: FastifyRequest): SecureSession => (req as unknown as { session: SecureSession }).session;

export async function fastifySecureApp(): Promise<RunningApp> {
  const app = Fastify({ logger: false });
  // A 32-byte key (crypto_secretbox_KEYBYTES) given as is: no key derivation at start-up.
  await app.register(fastifySecureSession, {
    key: randomBytes(32),
    cookieName: 'sess',
    expiry: LIFETIME_S,
    cookie: { path: '/', httpOnly: true, maxAge: LIFETIME_S },
  });
  app.get('/inc', async (req) => {
    const session = sessionOf(req);
    const n = ((session.get('n') as number | undefined) ?? 0) + 1;
    session.set('n', n);
    return String(n);
  });
  app.get('/read', async (req) => String((sessionOf(req).get('n') as number | undefined) ?? 0));
  return listenFastify(app, ['key: 32 random bytes, expiry 3600 s; the cookie is sealed again only when the session changed (every /inc), /read opens it']);
}
