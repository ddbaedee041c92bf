import Fastify from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession, { type SessionStore } from '@fastify/session';
import { RedisStore } from 'connect-redis';
import { listenFastify } from './fastifyBase';
import { redisClient } from './redisClient';
import { LIFETIME_S, SECRET, type AppEnv, type RunningApp } from './types';

// fastify 5, routed its own way; with @fastify/session 11 and connect-redis' RedisStore, or bare.

type Bag = Record<string, number | undefined>;

export async function fastifyApp(env: AppEnv, withSession: boolean): Promise<RunningApp> {
  const app = Fastify({ logger: false });
  let close = async () => undefined as void;
  if (withSession) {
    const client = await redisClient(env);
    close = async () => { await client.quit(); };
    await app.register(fastifyCookie);
    await app.register(fastifySession, {
      secret: SECRET,
      // connect-redis' RedisStore has the get/set/destroy(callback) shape @fastify/session calls.
      store: new RedisStore({ client }) as unknown as SessionStore,
      cookie: { secure: false, maxAge: LIFETIME_S * 1000 },
      saveUninitialized: false,
      rolling: false,
    });
    app.get('/inc', async (req) => {
      const s = req.session as unknown as Bag;
      s.n = (s.n ?? 0) + 1;
      return String(s.n);
    });
    app.get('/read', async (req) => String((req.session as unknown as Bag).n ?? 0));
  } else {
    let n = 0;
    app.get('/inc', async () => String(++n));
    app.get('/read', async () => String(n));
  }
  const notes = withSession ? ['store: connect-redis RedisStore; rolling: false, saveUninitialized: false: /read costs one GET'] : [];
  return listenFastify(app, notes, close);
}
