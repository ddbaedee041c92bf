import { sessionPolicy } from '../../../lib';
import { csrf } from '../../../lib/csrf';
import { csrfField } from '../csrf';
import { field } from '../form';
import { html } from '../html';
import { page, type Demo } from '../layout';
import { isLanguage, isTheme, LANGUAGES, preferencesOf, prefsBag, THEMES } from '../preferences';
import type { ShopRouter } from '../types';

const DEMO: Demo = {
  api: html`a <code>Bag</code> under the session key <code>prefs</code> (<code>init()</code>: one write of the group), read by the layout of every page; <code>sessionPolicy()</code>, <code>csrf()</code> and <code>ctx.flash</code> on koa-router routes`,
  source: ['examples/shop/routes/preferences.ts', 'examples/shop/preferences.ts'],
};

/** `/preferences`: theme and language in a Bag, applied by the layout on every page. */
export function preferences(router: ShopRouter): void {
  router.get('/preferences', sessionPolicy(), (ctx) => {
    const { theme, language } = preferencesOf(ctx.session);
    const option = (value: string, label: string, current: string) =>
      html`<option value="${value}"${current === value ? html` selected` : ''}>${label}</option>`;
    page(ctx, 'Preferences', DEMO, html`<form method="post" action="/preferences">${csrfField(ctx.session)}
<label>Theme <select name="theme">${THEMES.map((t) => option(t, t, theme))}</select></label>
<label>Language <select name="language">${Object.entries(LANGUAGES).map(([code, name]) => option(code, name, language))}</select></label>
<button>Save</button>
</form>
<p>Stored in the session: theme <b id="theme">${theme}</b>, language <b id="language">${language}</b>.</p>`);
  });

  // csrf() after sessionPolicy(): the check reads the session the policy started.
  router.post('/preferences', sessionPolicy(), csrf(), (ctx) => {
    const theme = field(ctx.request.body, 'theme');
    const language = field(ctx.request.body, 'language');
    if (!isTheme(theme) || !isLanguage(language)) {
      ctx.flash.error('Choose a theme and a language from the lists.');
    } else {
      prefsBag(ctx.session).init({ theme, language }); // one write of the whole group
      ctx.flash.success('Your preferences are saved.');
    }
    ctx.redirect('/preferences');
  });
}
