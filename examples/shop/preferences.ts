import { Bag, type Manager } from '../../lib';

export const THEMES = ['light', 'dark'] as const;
export const LANGUAGES = { en: 'English', fr: 'Français', de: 'Deutsch' } as const;
export type Theme = (typeof THEMES)[number];
export type Language = keyof typeof LANGUAGES;

/** The nav's first link, in the chosen language. */
export const GREETINGS: Record<string, string> = { en: 'Welcome', fr: 'Bienvenue', de: 'Willkommen' };

export interface Preferences {
  theme: Theme;
  language: Language;
}

/** The preferences live in a Bag under the session key `prefs` (Bag keys ignore case). */
export function prefsBag(session: Manager): Bag<Partial<Preferences>> {
  return new Bag<Partial<Preferences>>(session, 'prefs');
}

/** The stored preferences, each checked against its choices, with the defaults for the rest. */
export function preferencesOf(session: Manager): Preferences {
  const bag = prefsBag(session);
  const theme = bag.get('theme');
  const language = bag.get('language');
  return {
    theme: isTheme(theme) ? theme : 'light',
    language: isLanguage(language) ? language : 'en',
  };
}

export function isTheme(value: unknown): value is Theme {
  return THEMES.includes(value as Theme);
}

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && Object.hasOwn(LANGUAGES, value);
}
