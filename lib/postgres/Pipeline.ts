import { logger } from '../log';

const debug = logger('koa-session-manager:postgres');

/** A statement: named (prepared once per connection) or not. */
export interface PipedQuery {
  name?: string;
  text: string;
  values: unknown[];
}

export interface PipedResult {
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/** The part of a pg `Client` (8.23 and later, `pipeline: true`) a pipelined connection uses. */
export interface PipeClient {
  /** True when pg pipelines this client's queries (set from the config; absent before pg 8.23). */
  readonly pipeline?: boolean;
  connect(): Promise<unknown>;
  query(config: PipedQuery): Promise<PipedResult>;
  end(): Promise<void>;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
  /** The socket keeps the process alive (while statements are in flight) or not (while idle). */
  ref?(): void;
  unref?(): void;
  /** pg's protocol connection; its socket is corked for a tick (see {@link Pipeline}). */
  readonly connection?: { readonly stream?: { cork?(): void; uncork?(): void } };
}

/**
 * Whether this pg pipelines: its `Client` keeps `pipeline: true` from the config (pg 8.23 and
 * later); an older one ignores the option and would run the statements of every request one
 * after another on each connection.
 */
export function pipelineSupported(makeClient: () => PipeClient): boolean {
  const client = makeClient();
  // pg-native (NODE_PG_FORCE_NATIVE) keeps the flag too, but sends a batch at a time and has no socket to cork.
  return client.pipeline === true && client.connection?.stream !== undefined;
}

/**
 * The adapter's statements over a few shared connections in pg's pipeline mode, instead of one
 * pool connection per statement: every request's statement goes out at once on an idle
 * connection, else the least loaded one that is answering (each statement its own implicit
 * transaction, its own `Sync`, so a failed one fails alone), and a tick's statements leave in one socket write
 * (the connection is corked until the end of the tick, as the Redis adapter corks its socket).
 * PostgreSQL answers them in order; a read of the socket brings many answers. Measured on a
 * locked write (lock+read, write+unlock; 32 in flight, in-process): the Node side's CPU about
 * half and PostgreSQL's about two fifths less than through a pool of 10 (docs/benchmarks.md).
 *
 * A connection is made on first use and made again on the next statement after it failed (its
 * statements in flight fail with it: a typed store error each, never a hang); one that could not
 * be made is passed over for a second while another is up. pg's `query_timeout` bounds each
 * statement, and one that times out ends its connection and so fails the statements behind it,
 * which cannot be taken back from the wire. A statement waiting for a row lock delays only the
 * statements behind it on its connection; new ones go to the others. An idle connection is
 * unref'd: it does not keep the process alive.
 *
 * @example
 * const pipeline = new Pipeline(() => new pg.Client({ ...config, pipeline: true }), 2);
 * const { rows } = await pipeline.query({ name: 'ksm_read', text: 'SELECT …', values: [id] });
 */
export class Pipeline {
  readonly #slots: Slot[];
  #next = 0;
  #closed = false;

  constructor(makeClient: () => PipeClient, size: number) {
    this.#slots = Array.from({ length: size }, () => new Slot(makeClient, () => this.#closed));
  }

  query(config: PipedQuery): Promise<PipedResult> {
    if (this.#closed) return Promise.reject(new Error('the adapter was closed'));
    // A connection with nothing in flight, else the least loaded one that is answering (one
    // whose oldest statement waits, e.g. for a row lock, would hold up every statement sent
    // behind it); among equals, the next in turn.
    const slots = this.#slots;
    const start = this.#next;
    this.#next = (start + 1) % slots.length;
    let best = slots[start]!;
    if (slots.length === 1) return best.query(config);
    const now = performance.now();
    let bestLoad = best.load(now);
    for (let i = 1; i < slots.length && bestLoad > 0; i++) {
      const slot = slots[(start + i) % slots.length]!;
      const load = slot.load(now);
      if (load < bestLoad) {
        best = slot;
        bestLoad = load;
      }
    }
    return best.query(config);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((slot) => slot.close()));
  }
}

/**
 * A connection whose statements in flight have had no answer for this long is passed over while
 * another answers: statements take well under a millisecond in PostgreSQL, and a few milliseconds
 * queued behind thirty others.
 */
const STALLED_MS = 50;
/**
 * A connection that could not be made is passed over for this long while another is up, so
 * that a refused reconnect (the server at max_connections, a rotated password) fails the one
 * statement that found it, not every other one; with none up, each statement tries again.
 */
const RETRY_MS = 1000;
/** What a stalled or failed connection counts as, over its statements in flight. */
const PASSED_OVER = 1000;

/** One pipelined connection, made on first use and again after it failed. */
class Slot {
  /** Statements sent and not yet answered (or failed). */
  inFlight = 0;
  /** When the connection last answered, or was sent a statement with none in flight. */
  #progressAt = 0;
  /** When making the connection last failed. */
  #failedAt = Number.NEGATIVE_INFINITY;
  #client: PipeClient | undefined;
  #connecting: Promise<PipeClient> | undefined;
  #corked = false;

  constructor(private readonly makeClient: () => PipeClient, private readonly closed: () => boolean) {}

  /** Statements in flight, counted as a thousand more when the connection has stalled or could not be made. */
  load(now: number): number {
    if (this.#client === undefined && this.#connecting === undefined && now - this.#failedAt < RETRY_MS) return PASSED_OVER + this.inFlight;
    return this.inFlight === 0 ? 0 : this.inFlight + (now - this.#progressAt > STALLED_MS ? PASSED_OVER : 0);
  }

  query(config: PipedQuery): Promise<PipedResult> {
    const client = this.#client;
    if (this.inFlight++ === 0) {
      this.#progressAt = performance.now();
      client?.ref?.();
    }
    let sent: Promise<PipedResult>;
    try {
      sent = client !== undefined ? this.#send(client, config) : this.#connect().then((made) => this.#send(made, config));
    } catch (err) {
      sent = Promise.reject(err); // pg throws for a config it cannot take: counted out below like any failure
    }
    return sent.finally(() => {
      this.#progressAt = performance.now();
      // An idle connection does not keep the process alive (as the pool's idle connections end).
      if (--this.inFlight === 0) this.#client?.unref?.();
    });
  }

  async close(): Promise<void> {
    const client = this.#client ?? await this.#connecting?.catch(() => undefined);
    this.#client = undefined;
    // Held while it ends: an idle connection is unref'd, and the process must not exit before
    // the server's goodbye arrives while close() is awaited.
    client?.ref?.();
    await client?.end().catch(() => undefined);
  }

  #send(client: PipeClient, config: PipedQuery): Promise<PipedResult> {
    if (!this.#corked) {
      const stream = client.connection?.stream;
      if (typeof stream?.cork === 'function' && typeof stream.uncork === 'function') {
        this.#corked = true;
        stream.cork();
        process.nextTick(() => {
          this.#corked = false;
          stream.uncork!();
        });
      }
    }
    return client.query(config);
  }

  #connect(): Promise<PipeClient> {
    return (this.#connecting ??= (async () => {
      const client = this.makeClient();
      // pg fails the statements in flight itself; an 'error' without a listener would end the process.
      client.on('error', (err) => this.#drop(client, err));
      client.on('end', () => this.#drop(client));
      try {
        await client.connect();
      } catch (err) {
        this.#failedAt = performance.now();
        await client.end().catch(() => undefined);
        throw err;
      }
      if (this.closed()) {
        await client.end().catch(() => undefined);
        throw new Error('the adapter was closed');
      }
      this.#client = client;
      return client;
    })().finally(() => { this.#connecting = undefined; }));
  }

  #drop(client: PipeClient, err?: Error): void {
    if (this.#client !== client) return;
    debug('pipelined connection lost: %s', err?.message ?? 'ended');
    this.#client = undefined;
    void client.end().catch(() => undefined);
  }
}
