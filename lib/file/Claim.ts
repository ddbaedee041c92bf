import { statSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { lockError } from './storeError';

/** A claim not refreshed for this long belongs to a waiter that gave up or died. */
const CLAIM_MS = 100;

/**
 * The next turn, claimed by a refused waiter (`<file>.claim`, holding its token, refreshed at
 * every try): without it, a process with a queue of its own requests would retake the lock at
 * every release, ahead of a waiter in another process that only polls. Costs one stat when
 * nobody waits. A claim only orders waiters; the lock file alone decides who holds the lock.
 */
export class Claim {
  #mine = false;

  /** `sync` (StreamAdapter `io: 'sync'`): the common check, that nobody claims, without the thread pool. */
  constructor(readonly path: string, private readonly token: string, private readonly id: string, private readonly sync = false) {}

  /** True while another waiter's fresh claim says the next turn is theirs. */
  async otherHasTurn(): Promise<boolean> {
    if (this.#mine) return false;
    try {
      const { mtimeMs } = this.sync ? statSync(this.path) : await stat(this.path);
      if (Date.now() - mtimeMs <= CLAIM_MS) return (await readFile(this.path, 'utf8')) !== this.token;
      await unlink(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw lockError(this.path, err, this.id);
    }
    return false;
  }

  /** Claim the next turn if nobody has; refresh the claim if it is ours. */
  async take(): Promise<void> {
    if (this.#mine) {
      const now = new Date();
      try {
        if (this.sync) utimesSync(this.path, now, now);
        else await utimes(this.path, now, now);
        return;
      } catch {
        this.#mine = false; // removed as stale meanwhile: claim it again below
      }
    }
    try {
      if (this.sync) writeFileSync(this.path, this.token, { flag: 'wx', mode: 0o600 });
      else await writeFile(this.path, this.token, { flag: 'wx', mode: 0o600 });
      this.#mine = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(this.path, err, this.id);
    }
  }

  async drop(): Promise<void> {
    if (!this.#mine) return;
    this.#mine = false;
    try {
      if ((await readFile(this.path, 'utf8')) === this.token) await unlink(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw lockError(this.path, err, this.id);
    }
  }
}
