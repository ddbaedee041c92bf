import { checkOptionKeys } from '../closedOptions';
import { InvalidOption } from '../errors';

/**
 * A CSS class per message type: a string, or a list joined with spaces.
 *
 * @example
 * const classes: FlashClasses = { error: ['alert', 'alert-danger'], success: 'alert alert-success' };
 */
export type FlashClasses = Record<string, string | string[]>;

/**
 * Flash options (Phalcon `Flash\Session`; `implicitFlush` and the escaper service have no Node counterpart).
 *
 * @example
 * new Flash(session, { cssClasses: { error: 'alert alert-danger' }, cssIconClasses: { error: 'bi bi-x' } });
 */
export interface FlashOptions {
  /** The session key holding the messages (prefixed by the Manager's uniqueId). @default '_flashMessages' */
  sessionKey?: string;
  /** HTML-escape each message at output (PHP `htmlspecialchars`, ENT_QUOTES|ENT_SUBSTITUTE). @default true */
  autoescape?: boolean;
  /** Wrap each message in the template; otherwise emit the bare text. @default true */
  automaticHtml?: boolean;
  /** Class per type. @default { error: 'errorMessage', notice: 'noticeMessage', success: 'successMessage', warning: 'warningMessage' } */
  cssClasses?: FlashClasses;
  /** Icon class per type; an icon is rendered only when the type also has a class. @default {} */
  cssIconClasses?: FlashClasses;
  /** Template with `%cssClass%`, `%cssIconClass%` and `%message%`, used verbatim; '' for the default `<div>`. @default '' */
  customTemplate?: string;
  /** Most messages kept per type, a positive integer or `Infinity`; one more drops the oldest (a page flashing on every request must not grow the session until it fails). @default 100 */
  maxMessages?: number;
}

const FLASH_KEYS: readonly (keyof FlashOptions)[] = ['sessionKey', 'autoescape', 'automaticHtml', 'cssClasses', 'cssIconClasses', 'customTemplate', 'maxMessages'];

/** Phalcon's options that have no counterpart here, and why. */
const FLASH_HINTS: Readonly<Record<string, string>> = {
  implicitFlush: 'not needed: output() returns the HTML (Node has no output buffer to echo into)',
};

/**
 * Throws `InvalidOption` for an unknown key or a bad `sessionKey` / `maxMessages`, as `new Flash()`
 * does: `session()` can call it so that a mistake fails at startup, not at the first flash.
 *
 * @example
 * checkFlashOptions({ maxMessages: 20 });
 */
export function checkFlashOptions(options: FlashOptions): void {
  checkOptionKeys('flash', options, FLASH_KEYS, FLASH_HINTS);
  const { sessionKey, maxMessages } = options;
  if (sessionKey != null && (typeof sessionKey !== 'string' || sessionKey === '')) throw new InvalidOption('flash.sessionKey', 'must be a non-empty string');
  if (maxMessages !== undefined && !(Number.isSafeInteger(maxMessages) && maxMessages >= 1) && maxMessages !== Infinity) {
    throw new InvalidOption('flash.maxMessages', 'must be a positive integer, or Infinity for no bound');
  }
}

/**
 * The classes of a Flash given no `cssClasses`: Phalcon's.
 *
 * @example
 * DEFAULT_CSS_CLASSES.error; // 'errorMessage'
 */
export const DEFAULT_CSS_CLASSES: Readonly<Record<string, string>> = {
  error: 'errorMessage', notice: 'noticeMessage', success: 'successMessage', warning: 'warningMessage',
};
