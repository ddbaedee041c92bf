import { isUtf8 } from 'node:buffer';
import { BYTES_PREFIX } from '../adapters/Adapter';

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
