/**
 * A float as PHP 8's `serialize()` writes it (`serialize_precision = -1`): the shortest digits
 * that read back to the same double, in fixed notation while the decimal exponent is between
 * -4 and 17 (`0.0001`, `10000000000000000`, `3`), otherwise as `1.0E-5`, `1.2345E+17`; and
 * `INF`, `-INF`, `NAN`, `-0`.
 *
 * @example
 * phpFloatText(1e-7); // '1.0E-7'
 * phpFloatText(3); // '3'
 */
export function phpFloatText(n: number): string {
  if (Number.isNaN(n)) return 'NAN';
  if (n === Infinity) return 'INF';
  if (n === -Infinity) return '-INF';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const sign = n < 0 ? '-' : '';
  // toExponential() without a count gives the shortest round-trip digits, like PHP's zend_gcvt mode 0.
  const [mantissa, exp] = Math.abs(n).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const e = Number(exp);
  const point = e + 1; // digits before the decimal point
  if (point < -3 || point > 17) return `${sign}${digits[0]}.${digits.length > 1 ? digits.slice(1) : '0'}E${e < 0 ? '-' : '+'}${Math.abs(e)}`;
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
