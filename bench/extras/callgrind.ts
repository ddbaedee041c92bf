// Reading callgrind's files (issue #17): the self instructions of every function, JIT-compiled
// JavaScript named after V8's perf map, and the parts and kinds they add up to. Used by
// cachesim.ts (instructions by part) and layer.ts `--count functions` (by function).

/** V8's (and cppgc's) collector: marking, scavenging, sweeping, evacuation, their roots, write barriers (their work swings with marking) and allocation sites. */
const GC = /Heap::|Heap_|Scaveng|MarkCompact|Marking|Sweeper|Evacuat|GCTracer|MemoryAllocator|RememberedSet|SlotSet|Collector|heap::base::|cppgc::|IterateObjectCache|Visitor|Space::|FreeList|MemoryChunk|LiveObjectRange|RecordMigrated|Pretenuring|AllocationSite|UsedInstanceSize|HeapObject::Size|NewFillerObject|Allocation(Observer|Counter)|detail::sprp|RecordWrite/;
/** V8's parser and compilers (Ignition's bytecode generator, Sparkplug, Maglev, TurboFan). */
const COMPILE = /v8::internal::(compiler|maglev|baseline)::|v8::internal::(Parser|PreParser|Scanner|Compiler|OptimizingCompileDispatcher|interpreter::BytecodeGenerator|Zone|AstValueFactory|SourcePosition|Deoptimizer)\b|Utf16CharacterStream|CalculateLineEnds/;

export type Part = 'gc' | 'compile' | 'rest';

/** Which part of the process a function (callgrind's name) belongs to: the collector, the compilers, or the rest (the program itself). */
export function partOf(name: string): Part {
  return GC.test(name) ? 'gc' : COMPILE.test(name) ? 'compile' : 'rest';
}

/**
 * Self instructions by function name, read from a callgrind file: each cost line adds to the
 * function of the last `fn=` line, except the line after `calls=` (the cost of that call, counted
 * in the callee). Names are spelled out once, on their first fn= or cfn= line, then given by number.
 */
export function instructionsByFunction(text: string, events: string[]): Map<string, number> {
  const ir = events.indexOf('Ir');
  const names = new Map<string, string>();
  const sums = new Map<string, number>();
  let current = '';
  let skipNext = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=') || line.startsWith('cfn=')) {
      const found = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line);
      if (found) {
        if (found[2] !== undefined) names.set(found[1]!, found[2]);
        if (line.startsWith('fn=')) current = names.get(found[1]!) ?? '';
      }
    } else if (line.startsWith('calls=')) {
      skipNext = true;
    } else if (/^[0-9+*-]/.test(line)) {
      if (skipNext) skipNext = false;
      else sums.set(current, (sums.get(current) ?? 0) + Number(line.split(' ')[1 + ir] ?? 0));
    }
  }
  return sums;
}

/**
 * Self instructions by part (see {@link partOf}). On the files of 2026-12-07 the three parts
 * together came to callgrind's own total within 27 of 3.75 billion instructions.
 */
export function instructionsByPart(text: string, events: string[]): { gc: number; compile: number } {
  const sums = { gc: 0, compile: 0, rest: 0 };
  for (const [name, ir] of instructionsByFunction(text, events)) sums[partOf(name)] += ir;
  return { gc: sums.gc, compile: sums.compile };
}

/**
 * Names for the addresses callgrind could not name (JIT code: `0x…` with no symbol), from the
 * perf map V8 writes with `--perf-basic-prof` (`<start hex> <size hex> <name>` per line): the
 * JavaScript function as `JIT name file` (its tier mark and line:column dropped, and the compiled
 * library's directory, `…/lib/` or a copy's `…/<name>-lib/`, shortened to `lib/`, so that two
 * builds' functions compare by name; a package's files under node_modules keep their path).
 * Addresses below 1 MB are offsets in a library without symbols, left as they are.
 */
export function jitNamer(perfMap: string): (name: string) => string {
  const entries = perfMap.split('\n').map((line) => line.split(' ')).filter((f) => f.length >= 3)
    .map(([start, size, ...rest]) => ({ start: parseInt(start!, 16), end: parseInt(start!, 16) + parseInt(size!, 16), name: rest.join(' ') }))
    .sort((a, b) => a.start - b.start);
  const find = (address: number): string | undefined => {
    let lo = 0;
    let hi = entries.length - 1;
    let found: (typeof entries)[number] | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (entries[mid]!.start <= address) {
        found = entries[mid];
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found !== undefined && address < found.end ? found.name : undefined;
  };
  return (name) => {
    const hex = /^0x([0-9a-f]+)$/.exec(name);
    if (hex === null || parseInt(hex[1]!, 16) < 0x100000) return name;
    const jit = find(parseInt(hex[1]!, 16));
    if (jit === undefined) return 'JIT (unknown)';
    return `JIT ${jit.replace(/^(LazyCompile|Function|JS|Sparkplug|Maglev|Turbofan):[*~^+]?/, '').replace(/:\d+:\d+$/, '').replace(/ \/(?!\S*\/node_modules\/)\S*?\/([\w.]+-)?lib\//, ' lib/')}`;
  };
}

/** A rough kind for a function of the program, to add up where a request's instructions go. */
export function kindOf(name: string): string {
  if (name.startsWith('JIT RegExp')) return 'regular expressions';
  if (name.startsWith('JIT ')) return / lib\//.test(name) ? 'JavaScript: ours' : / node:/.test(name) ? 'JavaScript: node' : 'JavaScript: others';
  if (/Promise|Microtask|AsyncFunction|Generator|Await/.test(name)) return 'promises, async functions';
  if (/IC|GetProperty|SetProperty|Proxy/.test(name)) return 'property access (ICs, proxies)';
  if (/Dictionary|HashTable|ForIn|Enum/.test(name)) return 'dictionaries, for-in';
  if (/String|Utf8|utf8|memcpy|memmove/.test(name)) return 'strings';
  if (/sha256|HMAC|Hmac|ossl|EVP|CRYPTO|OPENSSL|aes|gcm/i.test(name)) return 'crypto';
  if (/RegExp/.test(name)) return 'regular expressions';
  return 'other';
}
