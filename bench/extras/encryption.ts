import type { Adapter } from '../../lib/adapters/Adapter';
import { EncryptedAdapter } from '../../lib/adapters/EncryptedAdapter';
import { KeyRing } from '../../lib/adapters/keyRing';

// What encryption at rest (issue #15) adds to one request in CPU: the EncryptedAdapter around a
// store that costs nothing (a Map), against that store alone, for a session of about 1 KB. A
// request that changes its session pays one seal (write) and one open (read); one that does not
// pays an open and a seal as well (the touch hands the inner adapter sealed data). Each round
// runs --ops requests (write + read) both ways, interleaved by round; the table gives the median
// of the rounds' CPU per request (process.cpuUsage(), user + system). Beside it, the KeyRing's
// seal and open alone. Target: at most 10 µs per request. Not part of `npm run bench`.
// Run after compiling (`npx tsc -p .`):
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
}

/** A session record of `size` characters, as the Manager's JSON serializer writes one. */
function record(): string {
  const base = { c: Date.now(), d: { userId: 4711, name: 'Alice Example', roles: ['customer'], cart: [] as string[], note: '' } };
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
  const data = record();
  const bare = new MapAdapter();
  const wrapped = new EncryptedAdapter(new MapAdapter(), { keys: KEYS });
  const ring = new KeyRing(KEYS);
  const sealed = ring.seal('r', ID, data);
  const request = (a: Adapter) => async () => {
    await a.write(ID, data, 60);
    if ((await a.read(ID)) !== data) throw new Error('read back something else');
  };
  const cases: Array<[string, () => Promise<unknown> | unknown]> = [
    ['store alone: write + read', request(bare)],
    ['EncryptedAdapter: write + read', request(wrapped)],
    ['KeyRing.seal', () => ring.seal('r', ID, data)],
    ['KeyRing.open', () => ring.open('r', ID, sealed)],
  ];
  const results = cases.map((): number[] => []);
  for (const [, op] of cases) await cpuPerOp(op, Math.min(ops, 2000)); // warm up
  for (let round = 0; round < rounds; round++) {
    for (const [i, [, op]] of cases.entries()) results[i]!.push(await cpuPerOp(op, ops));
  }
  const per = results.map(median);
  console.log(`Node ${process.version}, session record ${Buffer.byteLength(data)} bytes, stored sealed ${sealed.length + 1} characters; median of ${rounds} rounds of ${ops}`);
  console.log('| operation | CPU per call, median (µs) |');
  console.log('| --- | --- |');
  for (const [i, [label]] of cases.entries()) console.log(`| ${label} | ${per[i]!.toFixed(2)} |`);
  console.log(`| **extra per request (wrapped − alone)** | **${(per[1]! - per[0]!).toFixed(2)}** |`);
}

void main();
