import Koa from 'koa';
import Router from 'koa-router';
import { session, type Adapter } from '../../lib';
import { errors } from './errors';
import { cart } from './routes/cart';
import { home } from './routes/home';
import { parallel } from './routes/parallel';
import type { AppRouter } from './types';

export interface AppOptions {
  /** Where sessions are kept. @default the middleware's StreamAdapter in `<os tmpdir>/koa-session-manager` */
  adapter?: Adapter;
  /** Per-session locking: parallel requests of one visitor take turns. @default true */
  locking?: boolean;
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
  app.use(session({ adapter: options.adapter, locking: options.locking ?? true }));
  const router: AppRouter = new Router();
  home(router);
  cart(router);
  parallel(router);
  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
