import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';

const LIMIT = 10 * 1024;

/** The urlencoded request body, no body-parser needed: 415 for another type, 413 past 10 kB. */
export async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) ctx.throw(415, 'Send the form as application/x-www-form-urlencoded.');
  if ((ctx.request.length ?? 0) > LIMIT) ctx.throw(413, 'The form is larger than 10 kB.');
  const text = await readText(ctx.req, LIMIT);
  if (text === null) ctx.throw(413, 'The form is larger than 10 kB.');
  return new URLSearchParams(text);
}

/** The body as text, or null as soon as it passes `limit` bytes (the rest is never buffered). */
function readText(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => req.off('data', onData).off('end', onEnd).off('error', reject);
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      req.pause();
      resolve(null);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    req.on('data', onData).on('end', onEnd).on('error', reject);
  });
}
