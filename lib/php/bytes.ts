import { isUtf8 } from 'node:buffer';

/**
 * How a stored PHP session travels as the string the adapter contract moves: PHP strings are
 * bytes, and a session may hold bytes that are no UTF-8 (a binary string, a Latin-1 name). Text
 * that is UTF-8 travels as itself; other bytes as this prefix followed by one character per byte
 * (Latin-1). No PHP session string begins with a NUL byte (a key or `a:` comes first), so the
 * prefix is never ambiguous; like a move marker, it never reaches a store.
 */
export const BYTES_PREFIX = '\u0000bytes:';

/**
 * The string the adapter contract moves for stored bytes (see {@link BYTES_PREFIX}).
 *
 * @example
 * textOfBytes(Buffer.from('n|i:1;')); // 'n|i:1;'
 * textOfBytes(Buffer.from([0x73, 0xff])); // '\u0000bytes:s\u00ff'
 */
export function textOfBytes(bytes: Buffer): string {
  return isUtf8(bytes) ? bytes.toString('utf8') : BYTES_PREFIX + bytes.toString('latin1');
}

/**
 * The bytes to store for a string of the adapter contract: the inverse of {@link textOfBytes}
 * (any other string as UTF-8).
 *
 * @example
 * bytesOfText('\u0000bytes:s\u00ff'); // <Buffer 73 ff>
 */
export function bytesOfText(text: string): Buffer {
  return text.startsWith(BYTES_PREFIX) ? Buffer.from(text.slice(BYTES_PREFIX.length), 'latin1') : Buffer.from(text, 'utf8');
}
