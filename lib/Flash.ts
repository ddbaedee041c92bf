import type { Manager } from './Manager';
import { checkOptionKeys } from './closedOptions';
import { FlashMessageNotStringOrArray, InvalidOption } from './errors';

/**
 * A CSS class per message type: a string, or a list joined with spaces.
 *
 * @example
 * const classes: FlashClasses = { error: ['alert', 'alert-danger'], success: 'alert alert-success' };
 */
export type FlashClasses = Record<string, string | string[]>;

/**
 * The stored messages: type → raw messages, in insertion order.
 *
 * @example
 * const all: FlashMessages = flash.getMessages(); // { error: ['Not found'], success: ['Saved'] }
 */
export type FlashMessages = Record<string, string[]>;

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
 * The part of the Manager a Flash uses, so a spec can pass a double.
 *
 * @example
 * const session: FlashSession = new Manager().setAdapter(new NoopAdapter());
 */
export type FlashSession = Pick<Manager, 'get' | 'set' | 'remove'>;

const DEFAULT_CSS_CLASSES: Readonly<Record<string, string>> = {
  error: 'errorMessage', notice: 'noticeMessage', success: 'successMessage', warning: 'warningMessage',
};

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#039;' };
/** Lone surrogates: the JS form of invalid UTF-8, which ENT_SUBSTITUTE turns into U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const PLACEHOLDER = /%(cssClass|cssIconClass|message)%/g;

/** PHP `htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8', true)`, as Phalcon's escaper `html()`. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!).replace(LONE_SURROGATE, '\uFFFD');
}

/** Define an own property, so a type named `__proto__` is stored like any other; an existing key keeps its place. */
function put(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

function copyClasses(classes: FlashClasses): FlashClasses {
  const copy: FlashClasses = {};
  for (const [type, value] of Object.entries(classes)) put(copy, type, Array.isArray(value) ? [...value] : value);
  return copy;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A stored list as an array (Phalcon renders a lone string as one message). */
function listOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return [...value];
  return value === undefined || value === null ? [] : [value];
}

/** PHP `empty()` on a type: undefined, '' and '0' mean "every type". */
function isAnyType(type: string | undefined): type is undefined {
  return type === undefined || type === '' || type === '0';
}

/**
 * Messages kept in the session until the next request shows them (Phalcon `Flash\Session`).
 * Unlike Phalcon, `output()` returns the HTML instead of echoing it.
 *
 * @example
 * const flash = new Flash(ctx.session);
 * flash.success('Saved');          // POST, then redirect
 * ctx.body = flash.output();       // next GET: '<div class="successMessage">Saved</div>\n'
 */
export class Flash {
  readonly #session: FlashSession;
  readonly #sessionKey: string;
  #autoescape: boolean;
  #automaticHtml: boolean;
  #cssClasses: FlashClasses;
  #cssIconClasses: FlashClasses;
  #customTemplate: string;
  readonly #maxMessages: number;

  constructor(session: FlashSession, options: FlashOptions = {}) {
    checkFlashOptions(options);
    this.#session = session;
    this.#sessionKey = options.sessionKey ?? '_flashMessages';
    this.#maxMessages = options.maxMessages ?? 100;
    this.#autoescape = options.autoescape ?? true;
    this.#automaticHtml = options.automaticHtml ?? true;
    this.#cssClasses = copyClasses(options.cssClasses ?? DEFAULT_CSS_CLASSES);
    this.#cssIconClasses = copyClasses(options.cssIconClasses ?? {});
    this.#customTemplate = options.customTemplate ?? '';
  }

  getSessionKey(): string { return this.#sessionKey; }
  getAutoescape(): boolean { return this.#autoescape; }
  setAutoescape(autoescape: boolean): this { this.#autoescape = autoescape; return this; }
  getAutomaticHtml(): boolean { return this.#automaticHtml; }
  setAutomaticHtml(automaticHtml: boolean): this { this.#automaticHtml = automaticHtml; return this; }
  /** A copy: change the classes through `setCssClasses`. */
  getCssClasses(): FlashClasses { return copyClasses(this.#cssClasses); }
  /** Replaces the whole map (Phalcon); it does not merge. */
  setCssClasses(cssClasses: FlashClasses): this { this.#cssClasses = copyClasses(cssClasses); return this; }
  /** A copy: change the icon classes through `setCssIconClasses`. */
  getCssIconClasses(): FlashClasses { return copyClasses(this.#cssIconClasses); }
  /** Replaces the whole map (Phalcon); it does not merge. */
  setCssIconClasses(cssIconClasses: FlashClasses): this { this.#cssIconClasses = copyClasses(cssIconClasses); return this; }
  getCustomTemplate(): string { return this.#customTemplate; }
  setCustomTemplate(customTemplate: string): this { this.#customTemplate = customTemplate; return this; }

  error(message: string): void { this.message('error', message); }
  notice(message: string): void { this.message('notice', message); }
  success(message: string): void { this.message('success', message); }
  warning(message: string): void { this.message('warning', message); }

  /** Store a raw message of any type, dropping its oldest past `maxMessages`; dropped when the session is not started. */
  message(type: string, message: string): void {
    const map = this.#read();
    const list = [...listOf(Object.hasOwn(map, type) ? map[type] : undefined), message];
    if (list.length > this.#maxMessages) list.splice(0, list.length - this.#maxMessages);
    put(map, type, list);
    this.#session.set(this.#sessionKey, map);
  }

  getMessages(type?: undefined | '', remove?: boolean): FlashMessages;
  getMessages(type: string, remove?: boolean): string[];
  /**
   * The messages of `type`, or of every type when none is given; consumed unless `remove` is
   * false (the peek). Consuming the last type leaves `{}` in the session (Phalcon). As PHP's
   * `empty()`, a type of '' or '0' means every type.
   */
  getMessages(type?: string, remove = true): FlashMessages | string[] {
    const map = this.#read();
    if (isAnyType(type)) {
      if (remove) this.#session.remove(this.#sessionKey);
      for (const key of Object.keys(map)) put(map, key, listOf(map[key]));
      return map as FlashMessages;
    }
    if (!Object.hasOwn(map, type)) return [];
    const list = listOf(map[type]);
    if (remove) {
      delete map[type];
      this.#session.set(this.#sessionKey, map);
    }
    return list as string[];
  }

  /** True when there is any message, or any of `type`; never consumes. */
  has(type?: string): boolean {
    const map = this.#read();
    if (isAnyType(type)) return Object.keys(map).length > 0;
    return Object.hasOwn(map, type) && map[type] !== undefined && map[type] !== null;
  }

  /**
   * The HTML of every message, type by type in insertion order; consumed unless `remove` is false.
   * Phalcon echoes (`implicitFlush`); Node has no output buffer, so the HTML is returned.
   */
  output(remove = true): string {
    let html = '';
    for (const [type, list] of Object.entries(this.getMessages(undefined, remove))) {
      for (const message of list as unknown[]) html += this.#render(type, message);
    }
    return html;
  }

  /** Delete every message from the session. */
  clear(): void {
    this.#session.remove(this.#sessionKey);
  }

  /** A fresh copy of the stored map; anything but a plain object reads as empty. */
  #read(): Record<string, unknown> {
    const stored = this.#session.get(this.#sessionKey);
    return isPlainObject(stored) ? { ...stored } : {};
  }

  #render(type: string, message: unknown): string {
    if (typeof message !== 'string') throw new FlashMessageNotStringOrArray();
    const text = this.#autoescape ? escapeHtml(message) : message;
    if (!this.#automaticHtml) return text;
    const cssClass = classString(this.#cssClasses, type);
    const cssIconClass = classString(this.#cssIconClasses, type);
    let template = this.#customTemplate;
    if (template === '') {
      const div = cssClass === '' ? '' : ' class="%cssClass%"';
      const icon = cssClass !== '' && cssIconClass !== '' ? '<i class="%cssIconClass%"></i> ' : '';
      template = `<div${div}>${icon}%message%</div>\n`;
    }
    // One pass, so placeholder text inside a message or class is never expanded again (PHP strtr).
    const values: Record<string, string> = { cssClass, cssIconClass, message: text };
    return template.replace(PLACEHOLDER, (_, name: string) => values[name]!);
  }
}

/** The class string of `type`: '' when missing, a list joined with spaces. */
function classString(classes: FlashClasses, type: string): string {
  const value = Object.hasOwn(classes, type) ? classes[type] : undefined;
  if (Array.isArray(value)) return value.join(' ');
  return typeof value === 'string' ? value : '';
}
