import Koa from 'koa';
import Router from 'koa-router';
import { session, type SessionOptions } from '../../lib';
import type { StoreName } from '../shared/serve';
import { errors } from './errors';
import { cart } from './routes/cart';
import { home } from './routes/home';
import { parallel } from './routes/parallel';
import type { AppRouter } from './types';

export interface AppOptions {
  /**
   * Where sessions are kept: a store adapter, or a TokenStore that keeps them in the client.
   * @default the middleware's StreamAdapter in `<os tmpdir>/koa-session-manager`
   */
  adapter?: SessionOptions['adapter'];
  /**
   * Per-session locking: parallel requests of one visitor take turns. Leave it out with a
   * TokenStore, which has no lock (session() refuses `locking: true` there).
   * @default true with a store
   */
  locking?: boolean;
  /**
   * What `adapter` is, as examples/shared/serve.ts names it: with `'signed tokens'` or
   * `'encrypted tokens'` the parallel page says that there is no lock and the last writer wins.
   */
  store?: StoreName;
}

/**
 * The example app (not listening): visit counter, sign-in with a new session id, a cart in a
 * Bag, flash messages after redirects, and parallel requests that lose no writes.
 *
 * @example
 * createApp({ adapter: new StreamAdapter({ savePath: '/tmp/sessions' }) }).listen(3000);
 */
export function createApp(options: AppOptions = {}): Koa {
  const app = new Koa();
  app.use(errors);
  // `locking` left to session() unless given: on with a store, none with a TokenStore.
  app.use(session({ adapter: options.adapter, locking: options.locking }));
  const router: AppRouter = new Router();
  home(router);
  cart(router);
  parallel(router, { store: options.store, locking: options.locking });
  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
