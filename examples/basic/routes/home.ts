import { readForm } from '../form';
import { escapeHtml, page } from '../layout';
import type { AppRouter } from '../types';

/** `/` (visit counter), sign-in and sign-out. */
export function home(router: AppRouter): void {
  router.get('/', (ctx) => {
    const visits = (ctx.session.visits ?? 0) + 1;
    ctx.session.visits = visits;
    const user = ctx.session.user;
    page(ctx, 'Home', `<p>Visits in this session: <b>${visits}</b></p>
<p>Session id: <code>${escapeHtml(ctx.session.getId().slice(0, 8))}…</code></p>
<p>${user ? `Signed in as <b>${escapeHtml(user)}</b>.` : 'Not signed in.'}</p>`);
  });

  router.get('/login', (ctx) => {
    page(ctx, 'Log in', `<form method="post" action="/login">
<label>Username <input name="username" required maxlength="40" autofocus></label> <button>Log in</button>
</form>`);
  });

  router.post('/login', async (ctx) => {
    const name = (await readForm(ctx)).get('username')?.trim() ?? '';
    if (name === '' || name.length > 40) {
      ctx.flash.error('A username has 1 to 40 characters.');
      return ctx.redirect('/login');
    }
    // A new id at sign-in: an id planted in the browser before (session fixation) is worth nothing.
    await ctx.session.regenerateId();
    ctx.session.user = name;
    ctx.flash.success(`Welcome, ${name}`); // Flash escapes it when rendered
    ctx.redirect('/');
  });

  router.post('/logout', async (ctx) => {
    await ctx.session.destroy(); // deletes the record and expires the cookie
    ctx.redirect('/');
  });
}
