import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network a client address belongs to, as text: the address with every bit past the prefix
 * cleared, followed by the prefix length (`203.0.113.0/24`, `2001:db8:0:1:0:0:0:0/64`). An
 * IPv4-mapped IPv6 address (`::ffff:203.0.113.9`, what a dual-stack socket reports, in any
 * spelling) counts as IPv4; an IPv6 zone (`%eth0`) and a port (`:51234`, `[…]:443`) are dropped. What is no address at all (a Unix socket's empty
 * `ctx.ip`) is `'unknown'`, one network of its own.
 *
 * @example
 * addressPrefix('203.0.113.9', 24, 64);          // '203.0.113.0/24'
 * addressPrefix('2001:db8::1:2:3:4', 24, 64);    // '2001:db8:0:0:0:0:0:0/64'
 */
export function addressPrefix(address: string, ipv4Bits: number, ipv6Bits: number): string {
  let text = address.trim();
  // A port some proxies append: `203.0.113.9:51234`, `[2001:db8::1]:443`.
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed !== null) text = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (isIPv4(text)) return ipv4Prefix(text.split('.').map(Number), ipv4Bits);
  if (!isIPv6(text)) return 'unknown';
  const words = ipv6Words(text);
  // IPv4-mapped, in any spelling (`::ffff:203.0.113.9`, `::ffff:cb00:7109`): the IPv4 address.
  if (words.slice(0, 5).every((word) => word === 0) && words[5] === 0xffff) {
    return ipv4Prefix([words[6]! >> 8, words[6]! & 0xff, words[7]! >> 8, words[7]! & 0xff], ipv4Bits);
  }
  const bytes: number[] = [];
  for (const word of words) bytes.push(word >> 8, word & 0xff);
  const masked = mask(bytes, ipv6Bits);
  const out: string[] = [];
  for (let i = 0; i < 16; i += 2) out.push(((masked[i]! << 8) | masked[i + 1]!).toString(16));
  return `${out.join(':')}/${ipv6Bits}`;
}

function ipv4Prefix(bytes: number[], bits: number): string {
  return `${mask(bytes, bits).join('.')}/${bits}`;
}

/** `bytes` with every bit past the first `bits` cleared. */
function mask(bytes: number[], bits: number): number[] {
  return bytes.map((byte, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    return byte & ((0xff << (8 - keep)) & 0xff);
  });
}

/** The eight 16-bit words of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Words(text: string): number[] {
  let body = text;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (dotted !== null) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    body = body.slice(0, -dotted[1]!.length);
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((word) => parseInt(word, 16)));
  const gap = body.indexOf('::');
  let words: number[];
  if (gap >= 0) {
    const head = parse(body.slice(0, gap));
    const rest = parse(body.slice(gap + 2));
    words = [...head, ...new Array<number>(8 - tail.length - head.length - rest.length).fill(0), ...rest];
  } else {
    words = parse(body);
  }
  return [...words, ...tail];
}
