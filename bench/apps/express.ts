import type { Server } from 'node:http';
import express from 'express';
import expressSession from 'express-session';
import { RedisStore } from 'connect-redis';
import { redisClient } from './redisClient';
import { LIFETIME_S, SECRET, type AppEnv, type RunningApp } from './types';

// express 5, routed its own way; with express-session + connect-redis 9 (node-redis 5), or bare.

type Bag = Record<string, number | undefined>;

function listenExpress(app: express.Express, notes: string[], close: () => Promise<void>): Promise<RunningApp> {
  return new Promise((resolve, reject) => {
    const server: Server = app.listen(0, '127.0.0.1');
    server.once('error', reject);
    server.once('listening', () => resolve({
      server,
      notes,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((done) => server.close(() => done()));
        await close();
      },
    }));
  });
}

export async function expressApp(env: AppEnv, withSession: boolean): Promise<RunningApp> {
  const app = express();
  let close = async () => undefined as void;
  if (withSession) {
    const client = await redisClient(env);
    close = async () => { await client.quit(); };
    app.use(expressSession({
      store: new RedisStore({ client }),
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: LIFETIME_S * 1000 },
    }));
    app.get('/inc', (req, res) => {
      const s = req.session as unknown as Bag;
      s.n = (s.n ?? 0) + 1;
      res.send(String(s.n));
    });
    app.get('/read', (req, res) => { res.send(String((req.session as unknown as Bag).n ?? 0)); });
  } else {
    let n = 0;
    app.get('/inc', (_req, res) => { res.send(String(++n)); });
    app.get('/read', (_req, res) => { res.send(String(n)); });
  }
  return listenExpress(app, withSession ? ['resave: false, saveUninitialized: false: /read costs GET + EXPIRE (touch)'] : [], close);
}
