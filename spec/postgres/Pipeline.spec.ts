import test from 'ava';
import { Pipeline, type PipeClient, type PipedQuery, type PipedResult } from '../../lib/postgres/Pipeline';

// Pipeline's choice of connection and its hold on the process, with stand-in clients: the fault
// paths a real server does not produce on demand (a reconnect refused while the other connection
// is up). The real-server specs: PostgresAdapter.pipeline.spec.ts.

/** A stand-in pg Client in pipeline mode: answers each statement on the next macrotask. */
class FakeClient implements PipeClient {
  readonly pipeline = true;
  readonly connection = { stream: { cork: () => undefined, uncork: () => undefined } };
  refed = true;
  readonly #listeners = new Map<string, Array<(error?: Error) => void>>();

  constructor(private readonly connects: () => boolean) {}

  connect(): Promise<unknown> {
    return this.connects() ? Promise.resolve(this) : Promise.reject(new Error('connection refused'));
  }

  query(_config: PipedQuery): Promise<PipedResult> {
    return new Promise((resolve) => setImmediate(() => resolve({ rows: [], rowCount: 0 })));
  }

  async end(): Promise<void> {}

  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener]);
    return this;
  }

  /** The server ended the connection. */
  ended(): void {
    for (const listener of this.#listeners.get('end') ?? []) listener();
  }

  ref(): void { this.refed = true; }

  unref(): void { this.refed = false; }
}

function pipelineOf(size: number): { pipeline: Pipeline; clients: FakeClient[]; refuse(on: boolean): void } {
  let refusing = false;
  const clients: FakeClient[] = [];
  const pipeline = new Pipeline(() => {
    const client = new FakeClient(() => !refusing);
    clients.push(client);
    return client;
  }, size);
  return { pipeline, clients, refuse: (on) => { refusing = on; } };
}

const statement: PipedQuery = { text: 'SELECT 1', values: [] };

test('Pipeline › a connection that cannot be made again is passed over while the other is up: one statement fails, not every other one', async (t) => {
  const { pipeline, clients, refuse } = pipelineOf(2);
  await Promise.all([pipeline.query(statement), pipeline.query(statement)]);
  t.is(clients.length, 2, 'both connections made');
  clients[0]!.ended();
  refuse(true);
  let failed = 0;
  for (let i = 0; i < 20; i++) {
    await pipeline.query(statement).catch(() => { failed++; });
  }
  t.true(failed <= 1, `${failed} of 20 statements failed`);
  await pipeline.close();
});

test('Pipeline › with no connection up, every statement tries to make one again: each fails at once, and once the server takes connections the next one works', async (t) => {
  const { pipeline, refuse } = pipelineOf(2);
  refuse(true);
  const results = await Promise.allSettled(Array.from({ length: 4 }, () => pipeline.query(statement)));
  t.true(results.every((r) => r.status === 'rejected'));
  refuse(false);
  await t.notThrowsAsync(pipeline.query(statement));
  await pipeline.close();
});

test('Pipeline › a connection keeps the process alive only while it has statements in flight, and while it ends', async (t) => {
  const { pipeline, clients } = pipelineOf(1);
  await pipeline.query(statement);
  t.false(clients[0]!.refed, 'idle: unref');
  const inFlight = pipeline.query(statement);
  t.true(clients[0]!.refed, 'in flight: ref');
  await inFlight;
  t.false(clients[0]!.refed, 'idle again');
  await pipeline.close();
  t.true(clients[0]!.refed, 'held while it ends, so that an awaited close() is not cut short by the process exiting');
});

test('Pipeline › closed: a statement is refused', async (t) => {
  const { pipeline } = pipelineOf(2);
  await pipeline.close();
  await t.throwsAsync(pipeline.query(statement), { message: /closed/ });
});
