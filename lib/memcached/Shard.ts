import { bytesOfText, textOfBytes } from '../php/bytes';
import { AdapterRuntimeError } from '../errors';

/**
 * The few memjs `Client` commands the adapter sends (promise forms), typed by what is called so
 * that an app's own memjs client, or a spec's failing double, fits.
 */
export interface MemjsClient {
  get(key: string): Promise<{ value: Buffer | string | null }>;
  set(key: string, value: string | Buffer, options: { expires: number }): Promise<boolean | null>;
  add(key: string, value: string | Buffer, options: { expires: number }): Promise<boolean | null>;
  replace(key: string, value: string | Buffer, options: { expires: number }): Promise<boolean | null>;
  touch(key: string, expires: number): Promise<boolean | null>;
  delete(key: string): Promise<boolean | null>;
}

/**
 * One memcached server (or one app-owned client) as the adapter sees it: promise commands that
 * always settle within `timeoutMs`, failing with an `AdapterRuntimeError` that names the server.
 * memjs alone does not guarantee that: a request in flight when the server closes the
 * connection is never answered, and its own timeout is an idle timer that busy traffic resets.
 */
export class Shard {
  #closed = false;

  /**
   * `binary`: values are bytes (a PHP app's sessions), moved as the adapter contract's strings
   * by {@link textOfBytes} / {@link bytesOfText}.
   */
  constructor(readonly client: MemjsClient, readonly label: string, private readonly timeoutMs: number, private readonly binary = false) {}

  /** Refuse every later command (a lock still renewing after the adapter closed must not reconnect). */
  close(): void {
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The value of `key` as text; null when memcached has no such item. */
  async get(key: string): Promise<string | null> {
    const { value } = await this.#run('get', () => this.client.get(key));
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') return value;
    return this.binary ? textOfBytes(value) : value.toString('utf8');
  }

  async set(key: string, value: string, expires: number): Promise<void> {
    const stored = this.binary ? bytesOfText(value) : value;
    await this.#run('set', () => this.client.set(key, stored, { expires }));
  }

  /** Store only if `key` is absent (atomic in memcached); true when stored. */
  async add(key: string, value: string, expires: number): Promise<boolean> {
    const stored = this.binary ? bytesOfText(value) : value;
    return (await this.#run('add', () => this.client.add(key, stored, { expires }))) === true;
  }

  /** Store only if `key` exists (atomic in memcached); true when stored. */
  async replace(key: string, value: string, expires: number): Promise<boolean> {
    const stored = this.binary ? bytesOfText(value) : value;
    return (await this.#run('replace', () => this.client.replace(key, stored, { expires }))) === true;
  }

  /** A new expiry for an existing item, data unchanged; false when there is none. */
  async touch(key: string, expires: number): Promise<boolean> {
    return (await this.#run('touch', () => this.client.touch(key, expires))) === true;
  }

  /** True when an item was deleted, false when there was none. */
  async delete(key: string): Promise<boolean> {
    return (await this.#run('delete', () => this.client.delete(key))) === true;
  }

  #run<T>(command: string, call: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new AdapterRuntimeError('The Memcached adapter was closed', 'ERR_SESSION_STORE'));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new AdapterRuntimeError(`Memcached ${this.label} did not answer ${command} within ${this.timeoutMs} ms`, 'ERR_SESSION_STORE'));
      }, this.timeoutMs);
      let pending: Promise<T>;
      try {
        pending = call();
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(
        (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        (err: unknown) => {
          clearTimeout(timer);
          // memjs rejects with an Error, or with a bare string (failed SASL authentication).
          const reason = err instanceof Error ? err.message : String(err);
          reject(new AdapterRuntimeError(`Memcached ${this.label} ${command} failed: ${reason}`, 'ERR_SESSION_STORE', { cause: err }));
        },
      );
    });
  }
}
