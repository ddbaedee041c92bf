import { createHash } from 'node:crypto';

/** A server on the ring; a `weight` of 2 takes about twice the keys of a weight of 1. */
export interface RingNode {
  readonly host: string;
  readonly port: number;
  readonly weight: number;
}

/** Points per unit of weight, as libmemcached's ketama: 40 MD5 digests of 4 points each. */
const DIGESTS_PER_WEIGHT = 40;

/** The first four bytes of the MD5 of `text`, little-endian (ketama's point for a key). */
export function hash32(text: string): number {
  return createHash('md5').update(text).digest().readUInt32LE(0);
}

/**
 * Consistent hashing (ketama): every node owns many points on a 32-bit circle, and a name
 * belongs to the node of the first point at or after its hash. Adding a node takes over only
 * the arcs before its own points, so about `1/n` of the names move instead of nearly all of them
 * (as `hash % n` would).
 *
 * @example
 * const ring = new HashRing([{ host: 'a', port: 11211, weight: 1 }, { host: 'b', port: 11211, weight: 2 }]);
 * ring.locate('some-session-id'); // 0 or 1, always the same for this name
 */
export class HashRing {
  readonly #points: Uint32Array;
  readonly #owners: Uint32Array;

  constructor(nodes: readonly RingNode[]) {
    if (nodes.length === 0) throw new RangeError('a hash ring needs at least one node');
    const entries: Array<[point: number, owner: number]> = [];
    nodes.forEach((node, owner) => {
      const digests = Math.max(1, Math.round(DIGESTS_PER_WEIGHT * node.weight));
      for (let i = 0; i < digests; i++) {
        const digest = createHash('md5').update(`${node.host}:${node.port}-${i}`).digest();
        for (let j = 0; j < 4; j++) entries.push([digest.readUInt32LE(j * 4), owner]);
      }
    });
    // Ties (vanishingly rare) go to the node listed first, so every process builds the same ring.
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.#points = Uint32Array.from(entries, (e) => e[0]);
    this.#owners = Uint32Array.from(entries, (e) => e[1]);
  }

  /** Number of points on the ring. */
  get size(): number {
    return this.#points.length;
  }

  /** The index (in the node list) of the node that owns `name`. */
  locate(name: string): number {
    const hash = hash32(name);
    const points = this.#points;
    let low = 0;
    let high = points.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (points[mid] < hash) low = mid + 1;
      else high = mid;
    }
    return this.#owners[low === points.length ? 0 : low];
  }
}
