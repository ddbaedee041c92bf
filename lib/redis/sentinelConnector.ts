import type { SentinelAddress, SentinelConnector } from 'ioredis';

/** ioredis' (6.x) failover detector: the +switch-master subscriptions of one connection. */
interface FailoverDetector {
  /** On +switch-master: `isDisconnected = true`, then the connector's disconnect(). */
  disconnect(): void;
  /** Closes the subscriptions. */
  cleanup(): void;
  isDisconnected: boolean;
}

/** What this module uses of ioredis' SentinelConnector (6.x) beyond its typed surface. */
interface Internals {
  connectToSentinel(endpoint: Partial<SentinelAddress>, options?: object): { on(event: 'error', listener: (err: Error) => void): unknown };
  /** Made after each connection to the master (`failoverDetector: true`); assigned, never read, by ioredis here. */
  initFailoverDetector(): Promise<void>;
  failoverDetector: FailoverDetector | null;
}

/**
 * ioredis' SentinelConnector with two changes; undefined when ioredis' internals are not the
 * ones known here (its own is used then).
 *
 * - It says why the sentinels were unreachable. ioredis drops the connection errors of its
 *   queries to the sentinels and reports "All sentinels are unreachable … Last error: Connection
 *   is closed." — for an untrusted CA, a missing client certificate or a refused port alike.
 *   This one appends the last such error and the sentinel it came from (`… Cause:
 *   10.0.0.7:26379: self-signed certificate in certificate chain`).
 * - A failover heard while it asks the sentinels for the master does not end the client. The
 *   failover detector (`failoverDetector: true`) of the last connection stays subscribed after
 *   that connection is lost (the master was killed), and on +switch-master calls the
 *   connector's disconnect(), which also means "stop connecting": a connect() still asking the
 *   sentinels then rejects with "Connection is closed." and ioredis gives the client up for good
 *   (status `end`, no reconnection: every command fails until the process restarts). The
 *   connection being made asks the sentinels anyway, so the detector only closes its
 *   subscriptions then (a new detector comes with the next connection); otherwise (a
 *   connection up, or waiting to reconnect) it disconnects as in ioredis.
 *
 * @example
 * const Connector = sentinelConnector(ioredis.SentinelConnector);
 * new Redis({ sentinels, name, ...(Connector ? { Connector } : {}) });
 */
export function sentinelConnector(Base: typeof SentinelConnector): typeof SentinelConnector | undefined {
  const internals = Base.prototype as unknown as Partial<Internals>;
  const connectToSentinel = internals.connectToSentinel;
  if (typeof connectToSentinel !== 'function' || typeof internals.initFailoverDetector !== 'function') return undefined;
  const causes = new WeakMap<object, string>();

  class ExplainingSentinelConnector extends Base {
    /** Between connect() and its stream (or rejection): the sentinels are being asked. */
    #asking = false;

    constructor(...args: ConstructorParameters<typeof SentinelConnector>) {
      super(...args);
      // ioredis assigns each new detector to this property: each is guarded as it arrives.
      let detector = (this as unknown as Internals).failoverDetector ?? null;
      Object.defineProperty(this, 'failoverDetector', {
        configurable: true,
        enumerable: true,
        get: () => detector,
        set: (value: FailoverDetector | null) => {
          detector = value;
          if (value !== null && typeof value === 'object') this.#guard(value);
        },
      });
    }

    override connect(emit: Parameters<SentinelConnector['connect']>[0]): ReturnType<SentinelConnector['connect']> {
      causes.delete(this); // a new connection: no cause from an earlier one
      this.#asking = true;
      const connecting = super.connect((type, err) => {
        const cause = causes.get(this);
        if (type === 'error' && err instanceof Error && cause !== undefined) {
          causes.delete(this);
          emit(type, new Error(`${err.message} Cause: ${cause}`, { cause: err }));
          return;
        }
        emit(type, err);
      });
      const asked = () => {
        this.#asking = false;
      };
      connecting.then(asked, asked); // before ioredis' own handlers: registered first
      return connecting;
    }

    /** Lets `detector` disconnect only when no connect() is asking the sentinels (see above). */
    #guard(detector: FailoverDetector): void {
      const disconnect = detector.disconnect;
      if (typeof disconnect !== 'function' || typeof detector.cleanup !== 'function') return;
      detector.disconnect = () => {
        if (!this.#asking) {
          disconnect.call(detector);
          return;
        }
        detector.isDisconnected = true; // as ioredis: once per detector
        detector.cleanup();
      };
    }
  }
  // Only the queries that find the master (no options); the failover detector's subscriptions
  // (with options) reconnect by themselves and are not what "unreachable" is about.
  Object.defineProperty(ExplainingSentinelConnector.prototype, 'connectToSentinel', {
    configurable: true,
    writable: true,
    value(this: ExplainingSentinelConnector, endpoint: Partial<SentinelAddress>, options?: object) {
      const client = connectToSentinel.call(this, endpoint, options);
      if (options === undefined && typeof client?.on === 'function') {
        client.on('error', (err: Error) => causes.set(this, `${endpoint.host ?? '127.0.0.1'}:${endpoint.port ?? 26379}: ${err.message.trim()}`));
      }
      return client;
    },
  });
  return ExplainingSentinelConnector;
}
