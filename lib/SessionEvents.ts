import type { EventEmitter } from 'node:events';
import type { SessionEventDetails, SessionEventName } from './events';
import type { Manager } from './Manager';

/**
 * The payload each `session:*` event gives its listeners: the event's details plus `session`
 * (the request's Manager) and `context` (the request's context: the Koa `ctx` under the
 * middleware). Without a listener nothing is emitted and no payload is made.
 *
 * @example
 * const mw = session();
 * mw.events.on('session:storeError', ({ operation, error }) => log.warn(operation, error));
 */
export type SessionEventMap = {
  [E in SessionEventName]: SessionEventDetails[E] & { session: Manager; context: unknown };
};

/**
 * An `EventEmitter` whose `on`, `once`, `off` and `emit` know each session event's payload:
 * the type of the middleware's `events`.
 *
 * @example
 * mw.events.on('session:lockWaited', ({ id, waitedMs }) => metrics.observe(waitedMs));
 */
export type SessionEvents = EventEmitter<{ [E in SessionEventName]: [SessionEventMap[E]] }>;
