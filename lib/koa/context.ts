import type { Bag } from '../Bag';
import type { Flash } from '../Flash';
import type { Manager } from '../Manager';

declare module 'koa' {
  // ExtendableContext, not DefaultContext: routers (koa-router, @koa/router) type their ctx
  // without DefaultContext, and the session must be visible there too.
  interface ExtendableContext {
    /** The request's session (set by the `session()` middleware). */
    session: Manager;
    /** A Bag under the session key `persistent` (Phalcon `$this->persistent`), made on first use. */
    persistent: Bag;
    /** Flash messages kept in the session until shown, made on first use. */
    flash: Flash;
  }
}
