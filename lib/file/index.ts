/**
 * `koa-session-manager/file`: sessions in files, as PHP's default handler keeps them (Phalcon
 * `Session\Adapter\Stream`). It needs no client library, so the main entry exports it too.
 *
 * @example
 * import { session } from 'koa-session-manager';
 * import { StreamAdapter } from 'koa-session-manager/file';
 * app.use(session({ adapter: new StreamAdapter({ savePath: '/var/lib/myapp/sessions' }) }));
 *
 * @module koa-session-manager/file
 */
export { StreamAdapter } from './StreamAdapter';
export type { StreamAdapterOptions } from './StreamAdapter';
