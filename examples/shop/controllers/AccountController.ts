import type { Context } from 'koa';
import { Authorized, Body, ContentType, Controller, Ctx, Get, Post, QueryParam, Redirect } from 'routing-controllers';
import { Service } from 'typedi';
import type { Flash, Manager } from '../../../lib';
import { CsrfProtected, FlashSession, Session } from '../../../lib/decorators';
import { csrfField } from '../csrf';
import { field, localPath } from '../form';
import { html } from '../html';
import { HTML, view, type Demo } from '../layout';
import { preferencesOf } from '../preferences';
import { DEMO_USERS, verify } from '../users';
import { deviceName, usersOf } from '../devices';
import { CartService } from '../services/CartService';

const SOURCE = 'examples/shop/controllers/AccountController.ts';
const SIGN_IN: Demo = {
  api: html`<code>@Session()</code> and <code>session.regenerateId()</code> on sign-in (against session fixation, and a new CSRF token), <code>@FlashSession()</code> before the redirect; <code>@CsrfProtected()</code> on the controller (a sign-in from another site is refused)`,
  source: SOURCE,
};
const PROFILE: Demo = {
  api: html`<code>@Authorized()</code> with an <code>authorizationChecker</code> that starts the session and reads the account from it; <code>UserSessions</code>: <code>users.list(ctx)</code>, <code>endOthers(ctx)</code>, <code>endAll(ctx)</code> for the devices`,
  source: [SOURCE, 'examples/shop/users.ts', 'examples/shop/devices.ts'],
};
const ADMIN: Demo = {
  api: html`<code>@Authorized('admin')</code>: the role comes from the session; a customer gets a 403 page`,
  source: [SOURCE, 'examples/shop/users.ts'],
};

/**
 * Sign-in (a new session id, the account and its role in the session), sign-out (the record
 * and the cookie are gone), and two guarded pages: `@Authorized()` for any signed-in user,
 * `@Authorized('admin')` for the role admin (see `authorizationChecker` in users.ts).
 */
@Service() // typedi makes it, with the one CartService
@Controller('/account')
@CsrfProtected() // every POST (sign-in, sign-out) needs the session's token: no login or logout CSRF
export class AccountController {
  constructor(private readonly cart: CartService) {}

  @Get('/signin')
  @ContentType(HTML)
  signInForm(@QueryParam('next') next: string, @Session() session: Manager, @FlashSession() flash: Flash): string {
    const back = typeof next === 'string' ? localPath(next) : null;
    const account = session.account;
    return view(session, flash, 'Sign in', SIGN_IN, html`${account ? html`<p>You are signed in as <b>${account.name}</b>; signing in again replaces that.</p>` : ''}
<form method="post" action="/account/signin">${csrfField(session)}
<input type="hidden" name="next" value="${back ?? ''}">
<label>User name <input name="username" autocomplete="username" maxlength="40" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" maxlength="100"></label>
<button>Sign in</button>
</form>
<p>Demo users (this is a demo: the passwords are shown here):</p>
<table id="demo-users"><tr><th>User</th><th>Password</th><th>Role</th></tr>
${DEMO_USERS.map((u) => html`<tr><td>${u.name}</td><td><code>${u.password}</code></td><td>${u.role}</td></tr>`)}
</table>`);
  }

  @Post('/signin')
  @Redirect('/account/profile')
  async signIn(@Body() body: unknown, @Ctx() ctx: Context, @Session() session: Manager, @FlashSession() flash: Flash): Promise<string | undefined> {
    const back = localPath(field(body, 'next'));
    const account = verify(field(body, 'username', 40), field(body, 'password', 100));
    if (!account) {
      flash.error('Unknown user name or wrong password.');
      return `/account/signin${back ? `?next=${encodeURIComponent(back)}` : ''}`;
    }
    // A new id at sign-in: an id planted in the browser before (session fixation) is worth
    // nothing, and the old id no longer reaches this session. The data (cart, preferences) moves;
    // the CSRF token does not: it was made for the old id, and the next form gets a new one.
    // With a store, UserSessions.bind() does it, and indexes the session under the account
    // (the devices list on the profile page; at most 5 sessions per account, the oldest ends).
    const users = usersOf(ctx);
    if (users) await users.bind(ctx, account.name, { device: deviceName(ctx.get('user-agent')) });
    else await session.regenerateId();
    session.account = account;
    flash.success(`Welcome, ${account.name}!`); // stored raw, escaped when shown
    return back ?? undefined;
  }

  @Post('/signout')
  @Redirect('/')
  async signOut(@Session() session: Manager): Promise<void> {
    await session.destroy(); // the record is deleted, the cookie expired: the cart goes too
  }

  /** Every other session of the account ends; this one stays. */
  @Post('/signout-others')
  @Authorized()
  @Redirect('/account/profile')
  async signOutOthers(@Ctx() ctx: Context, @Session() _session: Manager, @FlashSession() flash: Flash): Promise<void> {
    const ended = await usersOf(ctx)?.endOthers(ctx) ?? 0;
    flash.success(`Signed out of ${ended} other device${ended === 1 ? '' : 's'}.`);
  }

  /** Every session of the account ends, this one too. */
  @Post('/signout-everywhere')
  @Authorized()
  @Redirect('/')
  async signOutEverywhere(@Ctx() ctx: Context, @Session() _session: Manager): Promise<void> {
    await usersOf(ctx)?.endAll(ctx);
  }

  @Get('/profile')
  @Authorized()
  @ContentType(HTML)
  async profile(@Ctx() ctx: Context, @Session() session: Manager, @FlashSession() flash: Flash): Promise<string> {
    const account = session.account!;
    const cart = this.cart.lines();
    const { theme, language } = preferencesOf(session);
    const users = usersOf(ctx);
    const devices = users ? await users.list(ctx) : [];
    const since = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
    const devicesPart = users ? html`<h2>Your devices</h2>
<table id="devices"><tr><th>Device</th><th>Signed in (UTC)</th><th></th></tr>
${devices.map((d) => html`<tr><td>${String((d.info as { device?: string } | null)?.device ?? '?')}</td><td>${since(d.boundAt)}</td><td>${d.current ? 'this one' : ''}</td></tr>`)}
</table>
<form method="post" action="/account/signout-others">${csrfField(session)}<button id="signout-others">Sign out other devices</button></form>
<form method="post" action="/account/signout-everywhere">${csrfField(session)}<button id="signout-everywhere">Sign out everywhere</button></form>` : html`<p>Sessions live in tokens here: they cannot be listed or ended from the server.</p>`;
    return view(session, flash, 'Your profile', PROFILE, html`${devicesPart}<dl id="profile">
<dt>User</dt><dd id="profile-name">${account.name}</dd>
<dt>Role</dt><dd id="profile-role">${account.role}</dd>
<dt>Cart</dt><dd>${cart.map((l) => html`${l.n} × ${l.name}; `)}</dd>
<dt>Preferences</dt><dd>${theme}, ${language}</dd>
</dl>
<p>The role comes from the session, stored at sign-in; <a href="/account/admin">the admin page</a> needs <code>admin</code>.</p>`);
  }

  @Get('/admin')
  @Authorized('admin')
  @ContentType(HTML)
  admin(@Session() session: Manager, @FlashSession() flash: Flash): string {
    return view(session, flash, 'Admin', ADMIN, html`<p id="admin">Only the role <code>admin</code> sees this page; others get a 403, visitors the sign-in form.</p>
<table><tr><th>User</th><th>Role</th></tr>
${DEMO_USERS.map((u) => html`<tr><td>${u.name}</td><td>${u.role}</td></tr>`)}
</table>`);
  }
}
