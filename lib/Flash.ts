import type { Manager } from './Manager';
import { untyped, type UntypedSession } from './manager/data';
import { copyClasses, isAnyType, isPlainObject, listOf, put, type FlashMessages } from './flash/maps';
import { DEFAULT_CSS_CLASSES, checkFlashOptions, type FlashClasses, type FlashOptions } from './flash/options';
import { renderMessage, type FlashLook } from './flash/render';

export type { FlashClasses, FlashMessages, FlashOptions };

/**
 * The part of the Manager a Flash uses, so a spec can pass a double.
 *
 * @example
 * const session: FlashSession = new Manager().setAdapter(new NoopAdapter());
 */
export type FlashSession = Pick<Manager, 'get' | 'set' | 'remove'> | UntypedSession;

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
  /** Untyped: the flash's key is an option, whatever SessionData declares. */
  readonly #session: UntypedSession;
  readonly #sessionKey: string;
  #autoescape: boolean;
  #automaticHtml: boolean;
  #cssClasses: FlashClasses;
  #cssIconClasses: FlashClasses;
  #customTemplate: string;
  readonly #maxMessages: number;

  constructor(session: FlashSession, options: FlashOptions = {}) {
    checkFlashOptions(options);
    this.#session = untyped(session);
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
    const messages = this.getMessages(undefined, remove);
    const look = this.#look();
    for (const [type, list] of Object.entries(messages)) {
      for (const message of list as unknown[]) html += renderMessage(type, message, look);
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

  /** The settings the HTML of a message depends on, as they are now. */
  #look(): FlashLook {
    return {
      autoescape: this.#autoescape,
      automaticHtml: this.#automaticHtml,
      cssClasses: this.#cssClasses,
      cssIconClasses: this.#cssIconClasses,
      customTemplate: this.#customTemplate,
    };
  }
}
