import type { FastifyInstance } from 'fastify';
import type { RunningApp } from './types';

/** `app` listening on 127.0.0.1, closed with `close` after it. */
export async function listenFastify(app: FastifyInstance, notes: string[], close: () => Promise<void> = async () => undefined): Promise<RunningApp> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    server: app.server,
    notes,
    close: async () => {
      await app.close();
      await close();
    },
  };
}
