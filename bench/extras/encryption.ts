import type { Adapter } from '../../lib/adapters/Adapter';
import { EncryptedAdapter } from '../../lib/adapters/EncryptedAdapter';
import { KeyRing } from '../../lib/adapters/keyRing';

// What encryption at rest (issue #15) adds to one request in CPU: the EncryptedAdapter around a
// store that costs nothing (a Map), against that store alone, for a session of about 1 KB. Two
// requests, as the Manager makes them with lazy writes:
// - /inc: the session is read, changed and written (`existing: true`, as the Manager updates);
// - /read: the session is read, unchanged, and touched (updateTimestamp).
// Each both with the adapter's cache (the default, `cache: 1000`: this process wrote or read the
// record last, the common case) and without it (`cache: 0`, or a record another process wrote
// since: one open and one seal per request). Each round runs --ops requests of every case,
// interleaved by round; the table gives the median of the rounds' CPU per request
// (process.cpuUsage(), user + system), and the extra per request against the store alone.
// Beside it, the KeyRing's seal and open alone. Target: at most 10 µs extra per request.
// Not part of `npm run bench`. Run after compiling (`npx tsc -p .`, or to another directory):
//   node build/bench/extras/encryption.js [--rounds 15] [--ops 20000] [--size 1024]

function flag(name: string, fallback: number, min: number, max: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at < 0 ? fallback : Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return value;
}

const rounds = flag('rounds', 15, 1, 101);
const ops = flag('ops', 20_000, 100, 10_000_000);
const size = flag('size', 1024, 16, 1_000_000);

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** A store that costs (almost) nothing: what is left is the wrapper's own work. */
class MapAdapter implements Adapter {
  readonly #map = new Map<string, string>();
  async read(id: string): Promise<string | null> { return this.#map.get(id) ?? null; }
  async write(id: string, data: string): Promise<void> { this.#map.set(id, data); }
  async destroy(id: string): Promise<void> { this.#map.delete(id); }
  async gc(): Promise<number> { return 0; }
  // Like every built-in store: the TTL is extended, the data it is handed is not stored.
  async updateTimestamp(id: string): Promise<boolean> { return this.#map.has(id); }
}

/** A session record of `size` characters, as the Manager's JSON serializer writes one; `n` varies it. */
function record(n: number): string {
  const base = { c: 1_780_000_000, d: { userId: 4711, name: 'Alice Example', roles: ['customer'], cart: [] as string[], count: n % 10, note: '' } };
  base.d.note = 'x'.repeat(Math.max(0, size - JSON.stringify(base).length));
  return JSON.stringify(base);
}

const ID = 'kX3v9QmZ-benchmarkSessionId-0001';
const KEYS = [{ id: '2026-12', key: EncryptedAdapter.generateKey() }, { id: '2026-06', key: EncryptedAdapter.generateKey() }];

/** CPU µs per call of `op`, for one round of `count` calls. */
async function cpuPerOp(op: () => Promise<unknown> | unknown, count: number): Promise<number> {
  const start = process.cpuUsage();
  for (let n = 0; n < count; n++) await op();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

async function main(): Promise<void> {
  // Ten versions of the same size, so that every /inc writes changed data (as a counter would).
  const versions = Array.from({ length: 10 }, (_, n) => record(n));
  const data = versions[0]!;
  const ring = new KeyRing(KEYS);
  const sealed = ring.seal('r', ID, data);
  const adapters: Array<[string, Adapter]> = [
    ['store alone', new MapAdapter()],
    ['EncryptedAdapter, cache: 0', new EncryptedAdapter(new MapAdapter(), { keys: KEYS, cache: 0 })],
    ['EncryptedAdapter, cached (default)', new EncryptedAdapter(new MapAdapter(), { keys: KEYS })],
  ];
  const cases: Array<[string, () => Promise<unknown> | unknown]> = [];
  for (const [name, a] of adapters) {
    let turn = 0; // the store of `a` holds versions[turn % 10]
    await a.write(ID, versions[0]!, 60);
    /** /inc: read, check, write the next version (changed data, as the Manager updates). */
    const inc = async () => {
      if ((await a.read(ID)) !== versions[turn % 10]) throw new Error('read back something else');
      await a.write(ID, versions[++turn % 10]!, 60, undefined, { existing: true });
    };
    /** /read: read, check, touch with the same data. */
    const read = async () => {
      const text = await a.read(ID);
      if (text !== versions[turn % 10]) throw new Error('read back something else');
      await a.updateTimestamp!(ID, text, 60);
    };
    cases.push([`${name}: /inc (read + changed write)`, inc], [`${name}: /read (read + touch)`, read]);
  }
  cases.push(['KeyRing.seal', () => ring.seal('r', ID, data)], ['KeyRing.open', () => ring.open('r', ID, sealed)]);
  const results = cases.map((): number[] => []);
  for (const [, op] of cases) await cpuPerOp(op, Math.min(ops, 2000)); // warm up
  for (let round = 0; round < rounds; round++) {
    for (const [i, [, op]] of cases.entries()) results[i]!.push(await cpuPerOp(op, ops));
  }
  const per = results.map(median);
  console.log(`Node ${process.version}, session record ${Buffer.byteLength(data)} bytes, stored sealed ${sealed.length + 1} characters; median of ${rounds} rounds of ${ops}`);
  console.log('| operation | CPU per call, median (µs) | extra per request (µs) |');
  console.log('| --- | --- | --- |');
  for (const [i, [label]] of cases.entries()) {
    const alone = label.includes('/inc') ? per[0]! : label.includes('/read') ? per[1]! : undefined;
    const extra = alone === undefined || i < 2 ? '' : (per[i]! - alone).toFixed(2);
    console.log(`| ${label} | ${per[i]!.toFixed(2)} | ${extra} |`);
  }
}

void main();
