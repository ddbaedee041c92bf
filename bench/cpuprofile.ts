import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';

// A summary of a V8 .cpuprofile (what `node --cpu-prof` writes), so a profile can be read without
// DevTools: self time per package and per function, where the busy time goes (our library, the
// Redis or PostgreSQL client, the rest), and which of our functions the library's own time is spent in.

interface Frame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: Frame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

export interface Entry {
  name: string;
  /** Share of the busy samples (idle excluded), %. */
  share: number;
  /** Inclusive share, when it means something for the entry. */
  total?: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleShare: number;
  /** Busy time by where it is spent: our code, what it calls, the Redis client, GC, the rest. */
  breakdown: Entry[];
  packages: Entry[];
  functions: Entry[];
  /** Our library's time by its innermost function, and what that function was running. */
  ours: Entry[];
}

/**
 * The compiled tree this file runs from (`build`, or e.g. `build-bench` from `npx tsc -p .
 * --outDir build-bench`): the profiled server runs from the same one.
 */
const OUT = basename(resolve(__dirname, '..')).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const LIB = new RegExp(`/${OUT}/lib/`);
/** The bench's own app code (route handlers): what runs under it is not the library's. */
const APP = new RegExp(`/${OUT}/bench/`);
const OWN = new RegExp(`/${OUT}/(lib|bench)/(.*)\\.js$`);
const SHORT = new RegExp(`^.*/(node_modules|${OUT})/`);
const REDIS_CLIENT = /node_modules\/(ioredis|@redis|redis)\//;
const PG_CLIENT = /node_modules\/(pg|pg-protocol|pg-pool|pg-types|pg-connection-string|pgpass|postgres-array|postgres-bytea|postgres-date|postgres-interval)\//;
const REDIS_ADAPTER = /lib\/adapters\/RedisAdapter\.js$/;

/** Where a frame's code lives: our library file, a package, a Node internal, or a V8 pseudo-frame. */
export function packageOf(frame: Frame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  const own = OWN.exec(url);
  if (own) return `ours: ${own[1]}/${own[2]}`;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').replace(/\/.*$/, '');
  return url;
}

function frameName(frame: Frame): string {
  const { functionName, url, lineNumber } = frame;
  const where = url === '' ? '' : ` ${url.replace(SHORT, '$1/').replace(/^file:\/\//, '')}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
}

class Tally {
  readonly #map = new Map<string, number>();
  add(key: string, us: number): void {
    this.#map.set(key, (this.#map.get(key) ?? 0) + us);
  }
  get(key: string): number {
    return this.#map.get(key) ?? 0;
  }
  top(count: number, busy: number, total?: Tally): Entry[] {
    return [...this.#map].sort((a, b) => b[1] - a[1]).slice(0, count)
      .map(([name, us]) => ({ name, share: (100 * us) / busy, total: total ? (100 * total.get(name)) / busy : undefined }));
  }
}

export function summarize(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  let idle = 0;
  let busy = 0;
  const breakdown = new Tally();
  const packages = new Tally();
  const self = new Tally();
  const total = new Tally();
  const ours = new Tally();
  for (let i = 0; i < profile.samples.length; i++) {
    const leaf = byId.get(profile.samples[i])!;
    const us = profile.timeDeltas[i] ?? 0;
    if (leaf.callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const name = frameName(leaf.callFrame);
    self.add(name, us);
    packages.add(packageOf(leaf.callFrame), us);
    let innermostOurs: Frame | undefined;
    let inApp = false;
    let redisClient = false;
    let pgClient = false;
    const seen = new Set<string>(); // inclusive time counts each function once per stack
    let socket = false; // node:net below our innermost frame
    for (let at: number | undefined = leaf.id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (APP.test(frame.url) && !innermostOurs) inApp = true;
      if (frame.url === 'node:net' && !innermostOurs) socket = true;
      if (LIB.test(frame.url) && !inApp && !innermostOurs) {
        innermostOurs = frame;
        // RedisAdapter uncorks the client's socket: those writes are the Redis client's.
        if (socket && REDIS_ADAPTER.test(frame.url)) redisClient = true;
      }
      if (REDIS_CLIENT.test(frame.url)) redisClient = true;
      if (PG_CLIENT.test(frame.url)) pgClient = true;
      const key = frameName(frame);
      if (!seen.has(key)) total.add(key, us);
      seen.add(key);
    }
    if (leaf.callFrame.functionName === '(garbage collector)') breakdown.add('garbage collector', us);
    else if (innermostOurs && LIB.test(leaf.callFrame.url)) breakdown.add('our library, its own code', us);
    else if (innermostOurs && !redisClient && !pgClient) breakdown.add('called by our library (JSON, crypto, cookies, timers, …)', us);
    else if (redisClient) breakdown.add('Redis client (commands, parser, socket)', us);
    else if (pgClient) breakdown.add('PostgreSQL client (pg: queries, protocol, parser, socket)', us);
    else breakdown.add('the rest: HTTP, Koa, the route, kernel writes', us);
    if (innermostOurs && !redisClient && !pgClient) {
      const callee = LIB.test(leaf.callFrame.url) ? '(itself)' : leaf.callFrame.functionName || '(anonymous)';
      ours.add(`${frameName(innermostOurs)} → ${callee}`, us);
    }
  }
  const b = Math.max(1, busy);
  return {
    busyMs: busy / 1000,
    idleShare: (100 * idle) / Math.max(1, idle + busy),
    breakdown: breakdown.top(10, b),
    packages: packages.top(15, b),
    functions: self.top(top, b, total),
    ours: ours.top(20, b),
  };
}
