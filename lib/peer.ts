import { PeerDependencyMissing } from './errors';

/**
 * Loads a backend's client library (an optional peer dependency) when its entry point is
 * imported, so the main entry loads none of them. A missing package is a
 * {@link PeerDependencyMissing} that names the `npm install` to run; any other load error (a
 * broken install, a syntax error inside it) is rethrown as it is.
 *
 * @example
 * const ioredis = requirePeer<typeof import('ioredis')>('ioredis', 'koa-session-manager/redis');
 */
export function requirePeer<T>(name: string, entry: string, load: (id: string) => unknown = require): T {
  // The package to install: `mysql2` for `mysql2/promise`.
  const pkg = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]!;
  try {
    return load(name) as T;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Only the package itself missing: a dependency of it that is missing is a broken install.
    if (e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.startsWith(`Cannot find module '${name}'`)) {
      throw new PeerDependencyMissing(pkg, entry, { cause: err });
    }
    throw err;
  }
}
