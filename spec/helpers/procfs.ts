import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// Process inspection through /proc for the spec servers: a server's children are found by their
// parent's PID, never by name; a stopped process is recognised by its state.

/**
 * Returns once the kernel reports `pid` stopped (state T in /proc/<pid>/stat), at most ~1 s.
 * SIGSTOP is delivered asynchronously: on a busy machine a server could still answer a command
 * sent right after kill() returned, and a "hung server" spec would see an answer.
 */
export function waitStopped(pid: number): void {
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 1000; i++) {
    const state = statFields(pid)?.[0];
    // No /proc (not Linux), or the process is gone or a zombie (exited, not yet reaped by a
    // stopped parent): nothing to wait for.
    if (state === undefined || /^[TtZX]$/.test(state)) return;
    Atomics.wait(tick, 0, 0, 1);
  }
}

/** The fields of /proc/<pid>/stat after the command name (state, ppid, ...); undefined if there is none. */
export function statFields(pid: number | string): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // They follow the parenthesized command name, which may itself hold spaces.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The parent PID of `pid` (from /proc), or undefined when it is gone. */
export function parentPid(pid: number): number | undefined {
  const ppid = statFields(pid)?.[1];
  return ppid === undefined ? undefined : Number(ppid);
}

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z';
}

/** Resolves true once none of `pids` is alive, false after `ms` (polled every 25 ms). */
export async function waitGone(pids: number | number[], ms = 5_000): Promise<boolean> {
  const all = ([] as number[]).concat(pids);
  const deadline = Date.now() + ms;
  while (all.some(alive)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

/** The PIDs of the processes below `pid` (children, their children, ...), from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    // not Linux: none known
  }
  for (const name of entries) {
    const ppid = Number(statFields(name)?.[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const found: number[] = [];
  for (let i = -1; i < found.length; i++) found.push(...(children.get(i < 0 ? pid : found[i]) ?? []));
  return found;
}

/** Sends `signal` to `pid`; a process already gone is no error. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Stops `pid` (SIGSTOP, waited for) and returns its descendants: stopped, it forks no new child
 * and reaps none, so the list stays true (no PID in it can be reused) until it is continued.
 */
export function freeze(pid: number): number[] {
  signalPid(pid, 'SIGSTOP');
  waitStopped(pid);
  return descendants(pid);
}

