import type { Bag } from '../Bag';
import type { Flash } from '../Flash';
import type { Manager } from '../Manager';

declare module 'koa' {
  interface DefaultContext {
    /** The request's session (set by the `session()` middleware). */
    session: Manager;
    /** A Bag under the session key `persistent` (Phalcon `$this->persistent`), made on first use. */
    persistent: Bag;
    /** Flash messages kept in the session until shown, made on first use. */
    flash: Flash;
  }
}
