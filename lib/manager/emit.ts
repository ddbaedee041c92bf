import { logger } from '../log';
import type { EventEmitter } from 'node:events';
import type { SessionEventDetails, SessionEventName } from '../events';
import type { SessionTransport } from './SessionTransport';

const debug = logger('koa-session-manager:manager');

/** An event's payload as the Manager's code gives it: `session` and `context` are added. */
export type EventPayload<E extends SessionEventName> = SessionEventDetails[E];

/**
 * Emit a session event when someone listens (nothing is built otherwise); a listener that
 * throws is logged, never rethrown.
 *
 * @example
 * emit(options.events, 'session:created', { id }, session, transport);
 */
export function emit<E extends SessionEventName>(
  events: EventEmitter | undefined, event: E, payload: EventPayload<E>, session: object, transport: SessionTransport | null,
): void {
  if (events !== undefined && events.listenerCount(event) > 0) {
    try {
      events.emit(event, { ...payload, session, context: transport?.context });
    } catch (err) {
      // A listener must never break the lifecycle (a throw here could leave a lock held).
      debug('a %s listener threw: %s', event, (err as Error)?.message ?? err);
    }
  }
}
