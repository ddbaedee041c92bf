import type { Context } from 'koa';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Every user-provided value goes through this before it reaches the HTML. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The shared page: nav, the flash messages (pre-rendered, escaped by Flash), title and body. */
export function layout(title: string, body: string, { flash = '', user }: { flash?: string; user?: string | null } = {}): string {
  const account = user
    ? `<form method="post" action="/logout" class="inline">${escapeHtml(user)} <button>Log out</button></form>`
    : '<a href="/login">Log in</a>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · koa-session-manager</title>
<style>body{font:16px system-ui;margin:2em}.inline{display:inline}
.successMessage{color:#060}.errorMessage{color:#b00}.noticeMessage{color:#05a}</style></head>
<body><nav><a href="/">Home</a> · <a href="/cart">Cart</a> · <a href="/parallel">Parallel</a> · ${account}</nav>
${flash}<h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}

/** Render a page for this request; shows (and so consumes) the pending flash messages. */
export function page(ctx: Context, title: string, body: string): void {
  ctx.type = 'html';
  ctx.body = layout(title, body, { flash: ctx.flash.output(), user: ctx.session.user });
}
