import { execFile, execFileSync } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, tail, undeletedDirs, type RunAs, type ServerKind } from './serverProcess';

// ---- what the database servers share: a system user, a private dir, a per-process template ----

const TOOL_TIMEOUT_MS = 30_000;
const usersSeen = new Map<string, RunAs>();

/**
 * The ids of system user `name` when this process is root (PostgreSQL, MariaDB and PgBouncer
 * refuse to run as root), else none: the current user. `missing` tells how to install it.
 */
export function runAsUser(name: string, missing: string): RunAs {
  if (process.getuid?.() !== 0) return {};
  let ids = usersSeen.get(name);
  if (!ids) {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      ids = { uid: id('-u'), gid: id('-g') };
    } catch {
      throw new Error(`no system user ${name}: ${missing}`);
    }
    usersSeen.set(name, ids);
  }
  return ids;
}

/** The environment for a server or a client tool: C messages, and no PGPORT, MYSQL_HOST or the like redirecting a client. */
export function toolEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(PG|MYSQL|MARIADB)/.test(name)));
  return { ...env, LC_ALL: 'C' };
}

export interface ToolOptions extends RunAs {
  cwd?: string;
  /** Written to the tool's stdin. */
  input?: string;
  timeoutMs?: number;
  /** The error when the binary is not installed. */
  missing?: string;
}

/** Runs a tool to its end and resolves its stdout; rejects with its output on a non-zero exit or after the timeout (SIGKILL). */
export function runTool(binary: string, args: string[], { input, timeoutMs = TOOL_TIMEOUT_MS, missing, ...options }: ToolOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, args, { ...options, env: toolEnv(), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && missing) return reject(new Error(missing));
      const how = error.killed ? `timed out after ${timeoutMs} ms` : `exited with ${error.code ?? error.signal}`;
      reject(new Error(`${binary} ${args.join(' ')} ${how}\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`));
    });
    child.stdin?.on('error', () => undefined); // a tool that exits early must not crash the writer
    child.stdin?.end(input);
  });
}

/** The first of `paths` that exists, else `fallback` (looked up on PATH). */
export function installed(paths: string[], fallback: string): string {
  return paths.find((path) => existsSync(path)) ?? fallback;
}

let dirBase: string | undefined;

/**
 * Where the database servers' dirs go: /dev/shm when it is a tmpfs with 1 GiB or more free, else
 * the OS temp dir. A data dir is ~1000 files: on a slow disk creating them takes ~1 s a server
 * (initdb or a copy), on tmpfs ~50 ms; Docker's default 64 MB /dev/shm is too small and not used.
 */
export function serverDirBase(): string {
  if (dirBase === undefined) {
    dirBase = tmpdir();
    try {
      const fs = statfsSync('/dev/shm');
      if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= 1024 ** 3) dirBase = '/dev/shm';
    } catch {
      // no /dev/shm
    }
  }
  return dirBase;
}

const TMPFS_MAGIC = 0x01021994;

/** A fresh private dir `ksm-<label>-XXXXXX` under serverDirBase(), owned by `owner`; the safety net removes it at exit. */
export async function serverDir(label: string, owner: RunAs = {}): Promise<string> {
  const dir = await mkdtemp(join(serverDirBase(), `ksm-${label}-`));
  undeletedDirs.add(dir);
  await own(dir, owner);
  return dir;
}

/** Gives `path` to `owner` (nothing to do without one). */
export async function own(path: string, owner: RunAs): Promise<void> {
  if (owner.uid !== undefined) await chown(path, owner.uid, owner.gid ?? -1);
}

const templates = new Map<string, Promise<string>>();

/**
 * A dir built once per process by `build` (initdb, mariadb-install-db: seconds) and kept until
 * exit, to be copied for each server (copyTree: tens of ms). A failed build is retried by the
 * next call.
 */
export function template(label: string, owner: RunAs, build: (dir: string) => Promise<void>): Promise<string> {
  let made = templates.get(label);
  if (!made) {
    made = (async () => {
      const dir = await serverDir(`${label}-template`, owner);
      try {
        await build(dir);
        return dir;
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        undeletedDirs.delete(dir);
        throw error;
      }
    })();
    templates.set(label, made);
    made.catch(() => templates.delete(label));
  }
  return made;
}

/** Copies `from` to `to` with owners and modes (`cp -a`). */
export async function copyTree(from: string, to: string): Promise<void> {
  await runTool('cp', ['-a', from, to]);
}

/**
 * A database server in its private dir: the dir given to `owner` (the system user it runs as)
 * and, for a data dir, `data/` copied from `template()` when missing (a first start, or one after
 * stop() removed the dir).
 */
export abstract class OwnedServerProcess extends ServerProcess {
  constructor(kind: ServerKind, port: number, override readonly dir: string, protected readonly owner: RunAs, private readonly template?: () => Promise<string>) {
    super(kind, port, dir);
  }

  protected override async prepare(): Promise<void> {
    await own(this.dir, this.owner); // recreated by start() after stop()
    const data = join(this.dir, 'data');
    if (this.template && !existsSync(data)) await copyTree(join(await this.template(), 'data'), data);
  }

  protected override spawnOptions() {
    return { ...this.owner, env: toolEnv() };
  }
}

