/** The property the probe misses: no string has it. */
interface Probe {
  __koaSessionManagerMissing__?: unknown;
}

const miss = (probe: Probe): unknown => probe.__koaSessionManagerMissing__;

/**
 * Puts `String.prototype` back in V8's fast mode after ioredis has loaded (issue #17).
 *
 * ioredis 6 defines `class VerbatimString extends String` (its RESP3 decoder) when it loads; V8
 * then turns `String.prototype` into a dictionary ("setup mode" of a new prototype chain) and
 * turns it back only when a property lookup from an object walks the chain — never from a string
 * primitive, the only kind of string most programs have. Until then every string method read in
 * optimized code process-wide (`s.charCodeAt`, `s.indexOf`, `s.toLowerCase` in Node's own
 * `setHeader`, …) is a generic dictionary lookup instead of a constant: measured here (Node 20,
 * V8 11.3), a loop of such calls took 3 to 5 times as long after `require('ioredis')`. node-redis
 * has the same class and the same effect.
 *
 * A lookup that misses on an object whose prototype is `String.prototype` is such a walk, once V8
 * has given the probe's function its feedback (about ten calls on this V8: a thousand are made).
 * Nothing observable changes but speed; a V8 that behaves otherwise is left as it is.
 * spec/redis/fastStrings.spec.ts checks the effect with V8's `%HasFastProperties`.
 */
export function restoreFastStringPrototype(): void {
  const probe = Object.create(String.prototype) as Probe;
  for (let i = 0; i < 1000; i++) miss(probe);
}
