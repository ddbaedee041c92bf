/** A keyed store whose keys can also be reached as properties. */
export interface KeyedView {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  has(key: string): boolean;
  remove(key: string): void;
}

const BOUND = Symbol('koa-session-manager.bound');

type WithBound = KeyedView & { [BOUND]?: Map<PropertyKey, unknown> };

/** A view answers this key with its target (a WeakMap entry per request cost more, measured). */
const TARGET = Symbol('koa-session-manager.target');

/** The key `await` and `Promise.resolve()` probe: never routed to the data (see withPropertyAccess). */
const THEN = 'then';

/**
 * `view.foo` reads `get('foo')`, `view.foo = 1` calls `set`, `'foo' in view` calls `has`,
 * `delete view.foo` calls `remove` (Phalcon's magic accessors). Members of the class win.
 * Methods come back bound to the target, cached once per instance: `#private` fields cannot be
 * reached through a proxy.
 *
 * `then` is reserved, as if it were a member: `view.then` is undefined and `'then' in view` is
 * false, so `await view` (or returning the view from an async function) gives the view itself
 * instead of treating the stored data as a thenable (which, before a lazy start, rejected).
 * `view.then = x` and `delete view.then` throw a TypeError, as for members: a value written
 * that way could never be read back the same way. `get('then')` / `set('then', x)` still reach
 * a key named `then`.
 *
 * @example
 * constructor() { return withPropertyAccess(this); }
 */
export function withPropertyAccess<T extends KeyedView>(target: T): T {
  // Made now, not at the first method read: every instance keeps one shape (V8's hidden class),
  // so the class's own code reads its fields monomorphically before and after (issue #17).
  (target as T & WithBound)[BOUND] = undefined;
  return new Proxy(target as T & WithBound, PROPERTY_ACCESS as ProxyHandler<T & WithBound>);
}

/**
 * The object behind a view made by {@link withPropertyAccess} (or `view` itself), for code that
 * calls only its methods: no trap and no bound copy per method and instance. The middleware's
 * own calls go this way (the profile showed the bound copies among the largest of our costs).
 */
export function unwrap<T extends object>(view: T): T {
  return ((view as { [TARGET]?: T })[TARGET]) ?? view;
}

const PROPERTY_ACCESS: ProxyHandler<WithBound> = {
  get(target, key) {
    if (key === TARGET) return target;
    if (typeof key === 'symbol' || key in target) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      let cache = target[BOUND];
      // A plain assignment (one cached transition): defineProperty here cost 0.1 µs a request.
      if (cache === undefined) target[BOUND] = cache = new Map();
      let fn = cache.get(key);
      if (fn === undefined) cache.set(key, (fn = value.bind(target)));
      return fn;
    }
    // After the member test, so member reads (the common case) pay no extra comparison.
    return key === THEN ? undefined : target.get(key);
  },
  set(target, key, value) {
    if (typeof key === 'symbol' || key in target || key === THEN) return false;
    target.set(key, value);
    return true;
  },
  has(target, key) {
    return key in target || (typeof key === 'string' && key !== THEN && target.has(key));
  },
  deleteProperty(target, key) {
    if (typeof key === 'symbol' || key in target || key === THEN) return false;
    target.remove(key);
    return true;
  },
};
