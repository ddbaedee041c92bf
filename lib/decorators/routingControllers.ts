import type * as routingControllers from 'routing-controllers';
import { requirePeer } from '../peer';

/**
 * routing-controllers (an optional peer dependency), loaded when
 * `koa-session-manager/decorators` is imported; never by the main entry.
 *
 * @example
 * const { UseBefore } = rc;
 */
export const rc = requirePeer<typeof routingControllers>('routing-controllers', 'koa-session-manager/decorators');
