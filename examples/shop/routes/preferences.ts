import { sessionPolicy } from '../../../lib';
import { field } from '../form';
import { html } from '../html';
import { page } from '../layout';
import { isLanguage, isTheme, LANGUAGES, preferencesOf, prefsBag, THEMES } from '../preferences';
import type { ShopRouter } from '../types';

/** `/preferences`: theme and language in a Bag, applied by the layout on every page. */
export function preferences(router: ShopRouter): void {
  router.get('/preferences', sessionPolicy(), (ctx) => {
    const { theme, language } = preferencesOf(ctx.session);
    const option = (value: string, label: string, current: string) =>
      html`<option value="${value}"${current === value ? html` selected` : ''}>${label}</option>`;
    page(ctx, 'Preferences', html`<form method="post" action="/preferences">
<label>Theme <select name="theme">${THEMES.map((t) => option(t, t, theme))}</select></label>
<label>Language <select name="language">${Object.entries(LANGUAGES).map(([code, name]) => option(code, name, language))}</select></label>
<button>Save</button>
</form>
<p>Stored in the session: theme <b id="theme">${theme}</b>, language <b id="language">${language}</b>.</p>`);
  });

  router.post('/preferences', sessionPolicy(), (ctx) => {
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
