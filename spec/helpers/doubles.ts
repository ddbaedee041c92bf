import { EventEmitter } from 'node:events';
import type { Adapter, LockHandle, LockOptions } from '../../lib/adapters/Adapter';
import type { SessionTransport } from '../../lib/Manager';

/** Records every adapter call (method and id) while delegating to a real adapter. */
export class SpyAdapter implements Adapter {
  readonly calls: string[] = [];
  readonly lock?: (id: string, options: Partial<LockOptions>) => Promise<LockHandle>;

  constructor(readonly inner: Adapter) {
    if (inner.lock) this.lock = (id, options) => { this.calls.push(`lock:${id}`); return inner.lock!(id, options); };
  }

  /** The calls of one method, e.g. `count('write')`. */
  count(method: string): number {
    return this.calls.filter((c) => c.startsWith(`${method}:`)).length;
  }

  read(id: string, lock?: LockHandle) { this.calls.push(`read:${id}`); return this.inner.read(id, lock); }
  write(id: string, data: string, ttl: number, lock?: LockHandle) { this.calls.push(`write:${id}`); return this.inner.write(id, data, ttl, lock); }
  destroy(id: string) { this.calls.push(`destroy:${id}`); return this.inner.destroy(id); }
  gc(max: number) { this.calls.push(`gc:${max}`); return this.inner.gc(max); }
  updateTimestamp(id: string, data: string, ttl: number, lock?: LockHandle) {
    this.calls.push(`updateTimestamp:${id}`);
    return this.inner.updateTimestamp ? this.inner.updateTimestamp(id, data, ttl, lock) : this.inner.write(id, data, ttl, lock);
  }
}

/** A store that is down: every call rejects like a refused connection. */
export class DownAdapter implements Adapter {
  readonly error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  async read(): Promise<string | null> { throw this.error; }
  async write(): Promise<void> { throw this.error; }
  async destroy(): Promise<void> { throw this.error; }
  async gc(): Promise<number> { throw this.error; }
}

/** A transport over a plain object: what a framework would do with cookies. */
export class FakeTransport implements SessionTransport {
  sent = false;
  written: Array<{ name: string; id: string; maxAge: number }> = [];
  cleared: string[] = [];
  constructor(public cookie?: string, readonly context: unknown = { fake: true }) {}
  readId(): string | undefined { return this.cookie; }
  writeId(name: string, id: string, maxAge: number): void { this.written.push({ name, id, maxAge }); }
  clearId(name: string): void { this.cleared.push(name); }
  headersSent(): boolean { return this.sent; }
}

/** An EventEmitter that counts emit() calls, to show nothing is emitted without listeners. */
export class CountingEmitter extends EventEmitter {
  emitted = 0;
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    this.emitted++;
    return super.emit(event, ...args);
  }
}
