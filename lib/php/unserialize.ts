import { PhpSerializeError } from './errors';
import { Parser } from './Parser';

/** Limits of {@link unserialize}. */
export interface UnserializeOptions {
  /**
   * Deepest nesting read; deeper data is refused as malformed.
   * @default 512
   */
  readonly maxDepth?: number;
}

/**
 * One PHP `serialize()` value from bytes, as plain data (the mapping is in this module's notes:
 * lists → arrays, other arrays → objects, objects carry `__PHP_Incomplete_Class_Name`, ints
 * beyond 2^53 → BigInt, non-UTF-8 strings → Buffer, `r:`/`R:` → the same JS value). Strict:
 * the whole input must be one value. Throws {@link PhpSerializeError} with code
 * `ERR_PHP_SERIALIZE` for malformed data, `ERR_PHP_UNREPRESENTABLE` for data with no faithful
 * plain-data form (a reference cycle, an array key that collides with a marker key).
 *
 * @example
 * unserialize(Buffer.from('a:2:{i:0;d:0.5;i:1;s:2:"hi";}')); // [0.5, 'hi']
 */
export function unserialize(bytes: Buffer, options: UnserializeOptions = {}): unknown {
  const p = new Parser(bytes, options.maxDepth);
  const value = p.value();
  if (p.pos !== bytes.length) p.fail('trailing bytes after the value');
  if (p.unrepresentable !== undefined) throw new PhpSerializeError(p.unrepresentable, 0, 'ERR_PHP_UNREPRESENTABLE');
  return value;
}
