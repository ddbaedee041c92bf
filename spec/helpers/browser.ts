import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/** Debian's chromium; `.ci/run` installs it. */
export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

/**
 * Headless chromium for one spec file and a fresh browser context per test, so no cookie passes
 * from one test to another. `chromium.launch` starts chromium on a new, empty profile directory
 * of its own and removes it when the browser closes.
 *
 * @example
 * const browser = await HeadlessBrowser.launch();
 * test.after.always(() => browser?.close());
 * const context = await browser.context(t, server.url);
 */
export class HeadlessBrowser {
  readonly #contexts = new Set<BrowserContext>();

  private constructor(readonly browser: Browser) {}

  /** Fails, never skips, when chromium is missing: browser specs are part of every run. */
  static async launch(): Promise<HeadlessBrowser> {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: the browser specs need Debian's chromium (apt-get install chromium; .ci/run installs it)`);
    }
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000 });
    return new HeadlessBrowser(browser);
  }

  /**
   * A new context (its own cookie jar and cache) on `baseURL`, closed when the test `t` ends;
   * actions and waits are bounded well under ava's 60 s test timeout.
   */
  async context(t: { teardown(fn: () => Promise<void>): void }, baseURL: string): Promise<BrowserContext> {
    const context = await this.browser.newContext({ baseURL });
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(15_000);
    this.#contexts.add(context);
    t.teardown(async () => {
      this.#contexts.delete(context);
      await context.close();
    });
    return context;
  }

  /** Close every context still open, then the browser (which removes its profile). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#contexts].map((c) => c.close()));
    await this.browser.close();
  }
}
