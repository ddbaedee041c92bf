import type { Adapter } from './Adapter';

/**
 * Stores nothing (Phalcon `Session\Adapter\Noop`): every read is empty, every write succeeds.
 * Data set in a request lives for that request only. Useful for tests and stateless endpoints.
 *
 * @example
 * new Manager().setAdapter(new NoopAdapter());
 */
export class NoopAdapter implements Adapter {
  async read(): Promise<string | null> {
    return null;
  }

  async write(): Promise<void> {}

  async destroy(): Promise<void> {}

  async gc(): Promise<number> {
    return 0;
  }

  /** Every id is accepted (Phalcon). */
  async validateId(): Promise<boolean> {
    return true;
  }

  async updateTimestamp(): Promise<void> {}
}
