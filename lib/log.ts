import type { Debugger } from 'debug';

/** A debug message: a printf-style format and its arguments, as the debug package takes them. */
export type Log = (formatter: string, ...args: unknown[]) => void;

/**
 * A logger for a `koa-session-manager:*` namespace (enable with `DEBUG=koa-session-manager:*`).
 * The debug package is loaded by the first message, not by `require('koa-session-manager')`:
 * it and what it loads were a fifth of the main entry's require time, and most processes
 * never log. An app that loaded debug itself shares the same instance (`debug.enable()` works).
 *
 * @example
 * const debug = logger('koa-session-manager:redis');
 * debug('reconnecting to %s', host);
 */
export function logger(namespace: string): Log {
  let log: Debugger | undefined;
  return (formatter, ...args) => {
    log ??= (require('debug') as typeof import('debug'))(namespace);
    log(formatter, ...args);
  };
}
