import type { Context, Next } from 'koa';
import { escapeHtml, layout } from './layout';

/**
 * Errors become a plain page with the error's `status` (the library's AdapterRuntimeError says
 * 503) and a safe message; stack traces go to the server log only. Mounted first, so it also
 * catches a store failure while the session starts or commits.
 */
export async function errors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body == null) render(ctx, 404, 'There is no page here.');
  } catch (err) {
    const { status, expose, message } = err as { status?: unknown; expose?: boolean; message?: string };
    const code = typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
    const text = expose && code < 500 ? String(message)
      : code === 503 ? 'The session store is unavailable. Please try again in a moment.'
        : 'Something went wrong.';
    render(ctx, code, text);
    if (code >= 500) ctx.app.emit('error', err, ctx);
  }
}

function render(ctx: Context, status: number, message: string): void {
  ctx.type = 'html';
  ctx.body = layout(`Error ${status}`, `<p>${escapeHtml(message)}</p>`);
  ctx.status = status;
}
