import { MOVE_MARKER_PREFIX } from './adapters/Adapter';
import type { Serializer } from './serializers/Serializer';

/** What the Manager stores for one session: the creation time (for the absolute lifetime) and the data. */
export interface SessionRecord {
  /** Creation time, ms since the epoch. */
  c: number;
  /** The session data. */
  d: Record<string, unknown>;
  /** Set on a move marker written by an earlier version (before markers named their target). */
  r?: 1;
  /** When the session cookie the client holds expires, ms since the epoch (the cookie rule, manager/storeCalls.ts). */
  s?: number;
}

/** The move marker left under an id that `regenerateId()` moved away from: it names the new id. */
export function encodeMarker(to: string): string {
  return MOVE_MARKER_PREFIX + to;
}

/** The id a move marker points to ('' when it names none), or undefined when `text` is no marker. */
export function markerTarget(text: string): string | undefined {
  return text.startsWith(MOVE_MARKER_PREFIX) ? text.slice(MOVE_MARKER_PREFIX.length) : undefined;
}

/** An empty data object with no prototype, so keys such as `toString` or `__proto__` are plain keys. */
export function emptyData(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

/** True when `data` holds no enumerable key (its own: session data has no prototype). */
export function isEmpty(data: Record<string, unknown>): boolean {
  for (const _ in data) return false;
  return true;
}

/**
 * Decode stored text into a record, or `null` when it is not one (undecodable, wrong shape):
 * the caller treats that as invalid data, never as a crash.
 */
export function decodeRecord(serializer: Serializer, text: string): SessionRecord | null {
  let value: unknown;
  try {
    value = serializer.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { c, d, r, s } = value as Partial<SessionRecord>;
  if (typeof c !== 'number' || !Number.isFinite(c)) return null;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return null;
  // Without a prototype: a key such as `toString` is the session's, never inherited. The parsed
  // object itself (Object.setPrototypeOf keeps V8's fast layout; a copy into Object.create(null)
  // made a dictionary that every for-in and JSON.stringify sorted: issue #17), unless it is frozen.
  const record: SessionRecord = { c, d: Object.isExtensible(d) ? Object.setPrototypeOf(d, null) as Record<string, unknown> : Object.assign(emptyData(), d) };
  if (r === 1) record.r = 1;
  if (typeof s === 'number' && Number.isFinite(s)) record.s = s;
  return record;
}

/**
 * Encode a record (the inverse of {@link decodeRecord}); with `previous`, the text it replaces,
 * through the serializer's `stringifyOver` when it has one.
 */
export function encodeRecord(serializer: Serializer, record: SessionRecord, previous?: string | null): string {
  return previous != null && serializer.stringifyOver ? serializer.stringifyOver(record, previous) : serializer.stringify(record);
}
