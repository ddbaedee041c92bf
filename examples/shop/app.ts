import 'reflect-metadata';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import Router from 'koa-router';
import { useContainer, useKoaServer } from 'routing-controllers';
import { Container } from 'typedi';
import { session, SessionService, type SessionOptions } from '../../lib';
import type { StoreName } from '../shared/serve';
import { AccountController } from './controllers/AccountController';
import { CartController } from './controllers/CartController';
import { WizardController } from './controllers/WizardController';
import { errorPages, errors } from './errors';
import { csrfApi } from './routes/csrf';
import { home } from './routes/home';
import { parallel } from './routes/parallel';
import { preferences } from './routes/preferences';
import type { ShopRouter } from './types';
import { authorizationChecker } from './users';
import { provideUsers, userSessionsFor } from './devices';

export interface ShopOptions {
  /**
   * Where sessions are kept: a store adapter, or a TokenStore that keeps them in the client.
   * @default the middleware's StreamAdapter in `<os tmpdir>/koa-session-manager-<uid>`
   */
  adapter?: SessionOptions['adapter'];
  /**
   * Per-session locking: the writing requests of one visitor take turns. Leave it out with a
   * TokenStore, which has no lock (session() refuses `locking: true` there).
   * @default true with a store
   */
  locking?: boolean;
  /**
   * What `adapter` is, as examples/shared/serve.ts names it: with `'signed tokens'` or
   * `'encrypted tokens'` the home and parallel pages say that there is no lock and the last
   * writer wins.
   */
  store?: StoreName;
  /**
   * How the parallel API spends its `?work=` milliseconds of pretend work; the specs pass one
   * they can hold and release. @default a timer
   */
  work?: (ms: number) => Promise<void>;
}

/**
 * The example shop (not listening): routing-controllers controllers (account, cart, checkout
 * wizard) made by typedi, a cart service that reaches the session by itself, and koa-router routes (home, preferences, parallel requests) over one session
 * middleware. Session events go to the app (`app.on('session:started', …)`); the parallel API
 * reads `session:lockWaited` there.
 *
 * @example
 * createShop({ adapter: new StreamAdapter({ savePath: '/tmp/sessions' }) }).listen(3000);
 */
export function createShop(options: ShopOptions = {}): Koa {
  const app = new Koa();
  // Outside the session: a store failure while the session commits is a page without session data.
  app.use(errors);
  // Lazy: each route starts the session under its policy (sessionPolicy() or a decorator), so a
  // read-only route can run beside a writer of the same session.
  // `locking` left to session() unless given: on with a store, none with a TokenStore.
  // Sessions indexed by account ("your devices", "sign out everywhere"), over a store only.
  // `context: true`: services reach the request's session without being handed it (CartService).
  const users = userSessionsFor(options.adapter);
  app.use(session({ adapter: options.adapter, locking: options.locking, start: 'lazy', events: app, users, context: true }));
  app.use(provideUsers(users));
  // Inside it: every other error page is read from the session (read-only unless the route started it).
  app.use(errorPages);
  // Urlencoded forms up to 10 kB; any other body reads as {}. routing-controllers mounts its own
  // parser too, which skips a body already parsed, so these limits hold for the controllers.
  app.use(bodyParser({ enableTypes: ['form'], formLimit: '10kb' }));

  const router: ShopRouter = new Router();
  home(router, { store: options.store });
  csrfApi(router);
  preferences(router);
  parallel(router, { events: app, work: options.work, store: options.store, locking: options.locking });
  app.use(router.routes()).use(router.allowedMethods());

  // typedi makes the controllers and their services (singletons); the SessionService they take
  // resolves to the current request's session.
  useContainer(Container);
  Container.set(SessionService, new SessionService());
  useKoaServer(app, {
    controllers: [AccountController, CartController, WizardController],
    authorizationChecker,
    // Errors go on to errors.ts (never a stack trace or an error message in a response).
    defaultErrorHandler: false,
    development: false,
    classTransformer: false,
    validation: false,
  });
  return app;
}
