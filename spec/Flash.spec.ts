import test from 'ava';
import { InvalidOption } from '../lib/errors';
import { Flash, type FlashClasses, type FlashOptions, type FlashSession } from '../lib/Flash';
import { checkFlashOptions } from '../lib/flash/options';
import { Manager, type ManagerOptions } from '../lib/Manager';
import type { Adapter } from '../lib/adapters/Adapter';
import { NoopAdapter } from '../lib/adapters/NoopAdapter';

async function started(options: ManagerOptions = {}): Promise<Manager> {
  const m = new Manager(options).setAdapter(new NoopAdapter());
  await m.start();
  return m;
}

async function setup(): Promise<{ m: Manager; flash: Flash }> {
  const m = await started();
  return { m, flash: new Flash(m) };
}

/** Keeps the last written text per id, so a second Manager can play the next request. */
class RecordingAdapter implements Adapter {
  readonly texts = new Map<string, string>();
  async read(id: string): Promise<string | null> { return this.texts.get(id) ?? null; }
  async write(id: string, data: string): Promise<void> { this.texts.set(id, data); }
  async destroy(id: string): Promise<void> { this.texts.delete(id); }
  async gc(): Promise<number> { return 0; }
}

// Storage

test('Flash › message › stores raw messages per type, in order, under _flashMessages', async (t) => {
  const { m, flash } = await setup();
  flash.error('a <b>');
  flash.success('done & dusted');
  flash.error('second');
  t.deepEqual(m.get('_flashMessages'), { error: ['a <b>', 'second'], success: ['done & dusted'] });
  t.deepEqual(Object.keys(m.get('_flashMessages') as object), ['error', 'success']);
});

test('Flash › helpers › error, notice, success and warning store under their own type', async (t) => {
  const { m, flash } = await setup();
  flash.warning('w');
  flash.notice('n');
  flash.success('s');
  flash.error('e');
  t.deepEqual(m.get('_flashMessages'), { warning: ['w'], notice: ['n'], success: ['s'], error: ['e'] });
});

test('Flash › message › accepts any type and returns nothing', async (t) => {
  const { m, flash } = await setup();
  t.is(flash.message('custom', 'x') as unknown, undefined);
  t.deepEqual(m.get('_flashMessages'), { custom: ['x'] });
});

test('Flash › sessionKey › stores under a custom key', async (t) => {
  const m = await started();
  const flash = new Flash(m, { sessionKey: 'notices' });
  flash.notice('hi');
  t.deepEqual(m.get('notices'), { notice: ['hi'] });
  t.is(m.get('_flashMessages'), null);
  t.is(flash.getSessionKey(), 'notices');
});

test('Flash › sessionKey › an empty key throws at construction, naming the option', async (t) => {
  const m = await started();
  t.throws(() => new Flash(m, { sessionKey: '' }), { code: 'ERR_SESSION_INVALID_OPTION', message: /sessionKey/ });
});

test('Flash › maxMessages › 100 per type by default: each message past it drops the oldest of its type', async (t) => {
  const { m, flash } = await setup();
  for (let n = 1; n <= 250; n++) flash.notice(`n${n}`);
  flash.error('e');
  const stored = m.get('_flashMessages') as Record<string, string[]>;
  t.is(stored.notice.length, 100, 'a page that flashes on every request and never shows them stays bounded');
  t.is(stored.notice[0], 'n151');
  t.is(stored.notice[99], 'n250');
  t.deepEqual(stored.error, ['e'], 'other types keep their own count');
});

test('Flash › maxMessages › a custom bound keeps the newest, in order; Infinity keeps all', async (t) => {
  const m = await started();
  const flash = new Flash(m, { maxMessages: 2 });
  for (const text of ['a', 'b', 'c']) flash.warning(text);
  t.deepEqual(flash.getMessages('warning'), ['b', 'c']);
  m.set('_flashMessages', { warning: ['w1', 'w2', 'w3', 'w4'] }); // stored under a larger bound
  flash.warning('w5');
  t.deepEqual(flash.getMessages('warning'), ['w4', 'w5']);
  const unbounded = new Flash(m, { maxMessages: Infinity });
  for (let n = 0; n < 150; n++) unbounded.success('s');
  t.is(unbounded.getMessages('success').length, 150);
});

test('Flash › maxMessages › anything but a positive integer or Infinity throws at construction, naming the option', async (t) => {
  const m = await started();
  for (const bad of [0, -1, 1.5, NaN, -Infinity, '10', null]) {
    const err = t.throws(() => new Flash(m, { maxMessages: bad as number }), { instanceOf: InvalidOption }, String(bad));
    t.is(err?.option, 'flash.maxMessages');
  }
  t.notThrows(() => new Flash(m, { maxMessages: 1 }));
  t.notThrows(() => new Flash(m, { maxMessages: undefined }), 'undefined is the default');
  t.is(t.throws(() => checkFlashOptions({ maxMessages: 0 }), { instanceOf: InvalidOption })?.option, 'flash.maxMessages', 'the same check, for session() at startup');
  t.notThrows(() => checkFlashOptions({ maxMessages: 5, sessionKey: 'notices' }));
});

test('Flash › options › an unknown key throws InvalidOption naming it (and the option it misspells)', async (t) => {
  const m = await started();
  const typo = t.throws(() => new Flash(m, { maxMessage: 5 } as FlashOptions), { instanceOf: InvalidOption });
  t.is(typo?.option, 'flash.maxMessage');
  t.regex(typo!.message, /did you mean "maxMessages"/);
  const phalcon = t.throws(() => new Flash(m, { implicitFlush: false } as FlashOptions), { instanceOf: InvalidOption });
  t.is(phalcon?.option, 'flash.implicitFlush');
  t.regex(phalcon!.message, /output\(\) returns the HTML/);
  t.is(t.throws(() => new Flash(m, { colour: 'red' } as FlashOptions), { instanceOf: InvalidOption })?.option, 'flash.colour');
});

test('Flash › storage › a stored value that is not a plain object reads as empty', async (t) => {
  const { m, flash } = await setup();
  for (const bad of ['text', 42, ['error'], true]) {
    m.set('_flashMessages', bad);
    t.false(flash.has());
    t.deepEqual(flash.getMessages(undefined, false), {});
  }
  flash.error('e');
  t.deepEqual(m.get('_flashMessages'), { error: ['e'] });
});

test('Flash › storage › a type named __proto__ or constructor is an ordinary type for Flash itself', (t) => {
  // A store that keeps any key (the Manager's JSON check refuses these names: see the next spec).
  const data = new Map<string, unknown>();
  const flash = new Flash({ get: (key: string) => data.get(key) ?? null, set: (key: string, value: unknown) => { data.set(key, value); }, remove: (key: string) => { data.delete(key); } } as FlashSession);
  t.false(flash.has('constructor'));
  flash.message('__proto__', 'p');
  flash.message('constructor', 'c');
  t.deepEqual(flash.getMessages('__proto__', false), ['p']);
  t.deepEqual(flash.getMessages('constructor', false), ['c']);
  t.deepEqual(Object.keys(flash.getMessages(undefined, false)), ['__proto__', 'constructor']);
  t.is(flash.output(), '<div>p</div>\n<div>c</div>\n');
  flash.setCssClasses(JSON.parse('{"__proto__": "proto-class"}') as FlashClasses);
  flash.message('__proto__', 'p');
  t.is(flash.output(), '<div class="proto-class">p</div>\n');
});

test('Flash › storage › in a Manager, a type named __proto__, constructor or prototype is refused: it would not survive the next request', async (t) => {
  const { m, flash } = await setup();
  flash.error('kept');
  for (const type of ['__proto__', 'constructor', 'prototype']) {
    t.throws(() => flash.message(type, 'x'), { code: 'ERR_SESSION_INVALID_VALUE' }, type);
  }
  t.deepEqual(m.get('_flashMessages'), { error: ['kept'] });
});

test('Flash › not started › writes are dropped and reads are empty', async (t) => {
  const m = new Manager().setAdapter(new NoopAdapter());
  const flash = new Flash(m);
  flash.error('lost');
  t.false(flash.has());
  t.false(flash.has('error'));
  t.deepEqual(flash.getMessages(), {});
  t.deepEqual(flash.getMessages('error'), []);
  t.is(flash.output(), '');
  t.notThrows(() => flash.clear());
  await m.start();
  t.false(flash.has());
});

test('Flash › uniqueId › messages live under the namespaced key', async (t) => {
  const adapter = new RecordingAdapter();
  const m = new Manager({ uniqueId: 'app1' }).setAdapter(adapter);
  await m.start();
  const flash = new Flash(m);
  flash.error('e');
  t.deepEqual(m.get('_flashMessages'), { error: ['e'] });
  t.true(flash.has('error'));
  await m.writeClose();
  const stored = JSON.parse(adapter.texts.get(m.getId())!) as { d: Record<string, unknown> };
  t.deepEqual(Object.keys(stored.d), ['app1#_flashMessages']);
});

test('Flash › next request › a message set before writeClose() is shown by the next Manager', async (t) => {
  const adapter = new RecordingAdapter();
  const first = new Manager().setAdapter(adapter);
  await first.start();
  new Flash(first).success('Saved');
  await first.writeClose();
  const next = new Manager().setAdapter(adapter).setId(first.getId());
  await next.start();
  t.is(new Flash(next).output(), '<div class="successMessage">Saved</div>\n');
  t.is(next.get('_flashMessages'), null);
});

// getMessages

test('Flash › getMessages › without a type returns and removes the whole map', async (t) => {
  const { m, flash } = await setup();
  flash.error('e');
  flash.success('s');
  t.deepEqual(flash.getMessages(), { error: ['e'], success: ['s'] });
  t.false(m.has('_flashMessages'));
  t.deepEqual(flash.getMessages(), {});
});

test('Flash › getMessages › an empty type, or "0" (PHP empty()), means every type', async (t) => {
  const { m, flash } = await setup();
  flash.error('e');
  t.true(flash.has('0'));
  t.deepEqual(flash.getMessages('0', false), { error: ['e'] });
  t.deepEqual(flash.getMessages(''), { error: ['e'] });
  t.false(m.has('_flashMessages'));
});

test('Flash › getMessages › with a type returns its list and keeps the others', async (t) => {
  const { m, flash } = await setup();
  flash.error('e1');
  flash.error('e2');
  flash.success('s');
  t.deepEqual(flash.getMessages('error'), ['e1', 'e2']);
  t.deepEqual(m.get('_flashMessages'), { success: ['s'] });
  t.deepEqual(flash.getMessages('error'), []);
});

test('Flash › getMessages › consuming the last type leaves an empty map (Phalcon)', async (t) => {
  const { m, flash } = await setup();
  flash.error('e');
  flash.getMessages('error');
  t.deepEqual(m.get('_flashMessages'), {});
  t.false(flash.has());
});

test('Flash › getMessages › an absent type returns [] and leaves the session untouched', async (t) => {
  const { m, flash } = await setup();
  t.deepEqual(flash.getMessages('error'), []);
  t.false(m.has('_flashMessages'));
  flash.success('s');
  t.deepEqual(flash.getMessages('error'), []);
  t.deepEqual(m.get('_flashMessages'), { success: ['s'] });
});

test('Flash › getMessages › remove=false peeks without consuming', async (t) => {
  const { m, flash } = await setup();
  flash.error('e');
  flash.notice('n');
  t.deepEqual(flash.getMessages('error', false), ['e']);
  t.deepEqual(flash.getMessages(undefined, false), { error: ['e'], notice: ['n'] });
  t.deepEqual(m.get('_flashMessages'), { error: ['e'], notice: ['n'] });
});

test('Flash › getMessages › returns copies: mutating them does not change the session', async (t) => {
  const { m, flash } = await setup();
  flash.error('e');
  flash.getMessages('error', false).push('x');
  const all = flash.getMessages(undefined, false);
  all.error!.push('y');
  all.other = ['z'];
  t.deepEqual(m.get('_flashMessages'), { error: ['e'] });
});

// has

test('Flash › has › reports any message, or messages of a type, without consuming', async (t) => {
  const { m, flash } = await setup();
  t.false(flash.has());
  t.false(flash.has('error'));
  flash.error('e');
  t.true(flash.has());
  t.true(flash.has(''));
  t.true(flash.has('error'));
  t.false(flash.has('success'));
  t.deepEqual(m.get('_flashMessages'), { error: ['e'] });
});

// output

test('Flash › output › escapes by default and wraps in the default template', async (t) => {
  const { flash } = await setup();
  flash.error('a <b>');
  t.is(flash.output(), '<div class="errorMessage">a &lt;b&gt;</div>\n');
});

test('Flash › output › renders each type in insertion order, each message on its own line', async (t) => {
  const { flash } = await setup();
  flash.success('s1');
  flash.error('e');
  flash.success('s2');
  t.is(flash.output(),
    '<div class="successMessage">s1</div>\n<div class="successMessage">s2</div>\n<div class="errorMessage">e</div>\n');
});

test('Flash › output › escapes quotes and double-encodes entities (htmlspecialchars ENT_QUOTES)', async (t) => {
  const { flash } = await setup();
  flash.setAutomaticHtml(false);
  flash.notice(`"Tom" & 'Jerry' &amp; <i>`);
  t.is(flash.output(), '&quot;Tom&quot; &amp; &#039;Jerry&#039; &amp;amp; &lt;i&gt;');
});

test('Flash › output › replaces lone surrogates by U+FFFD when escaping (ENT_SUBSTITUTE)', async (t) => {
  const { flash } = await setup();
  flash.setAutomaticHtml(false);
  flash.notice('a\uD800b\uDC00c😀');
  t.is(flash.output(), 'a\uFFFDb\uFFFDc😀');
});

test('Flash › output › with autoescape off emits the message as stored', async (t) => {
  const { flash } = await setup();
  flash.setAutoescape(false);
  flash.success('<b>ok</b>');
  t.is(flash.output(), '<div class="successMessage"><b>ok</b></div>\n');
});

test('Flash › output › with automaticHtml off emits bare text with no newline', async (t) => {
  const m = await started();
  const flash = new Flash(m, { automaticHtml: false, cssIconClasses: { error: 'icon' }, customTemplate: '<p>%message%</p>' });
  flash.error('a<b');
  flash.error('c');
  t.is(flash.output(), 'a&lt;bc');
});

test('Flash › output › a type without a class gets a bare div', async (t) => {
  const { flash } = await setup();
  flash.message('custom', 'x');
  t.is(flash.output(), '<div>x</div>\n');
});

test('Flash › output › an icon is rendered when both the class and the icon class are set', async (t) => {
  const { flash } = await setup();
  flash.setCssIconClasses({ error: 'icon-x' });
  flash.error('e');
  t.is(flash.output(), '<div class="errorMessage"><i class="icon-x"></i> e</div>\n');
});

test('Flash › output › no icon when the type has an icon class but no class', async (t) => {
  const { flash } = await setup();
  flash.setCssClasses({ error: '' }).setCssIconClasses({ error: 'icon-x', success: 'icon-ok' });
  flash.error('e');
  t.is(flash.output(), '<div>e</div>\n');
  flash.setCssClasses({});
  flash.success('s');
  t.is(flash.output(), '<div>s</div>\n');
});

test('Flash › output › no icon when the type has a class but no icon class', async (t) => {
  const { flash } = await setup();
  flash.setCssIconClasses({ error: 'icon-x' });
  flash.success('s');
  t.is(flash.output(), '<div class="successMessage">s</div>\n');
});

test('Flash › output › array classes are joined with spaces', async (t) => {
  const m = await started();
  const flash = new Flash(m, { cssClasses: { error: ['alert', 'alert-danger'] }, cssIconClasses: { error: ['bi', 'bi-x'] } });
  flash.error('e');
  t.is(flash.output(), '<div class="alert alert-danger"><i class="bi bi-x"></i> e</div>\n');
});

test('Flash › output › a custom template is used verbatim, with no newline added', async (t) => {
  const m = await started();
  const flash = new Flash(m, {
    cssIconClasses: { error: 'ic' },
    customTemplate: '<span class="%cssClass%" data-icon="%cssIconClass%">%message%</span>',
  });
  flash.error('a&b');
  flash.message('plain', 'p');
  t.is(flash.output(), '<span class="errorMessage" data-icon="ic">a&amp;b</span><span class="" data-icon="">p</span>');
});

test('Flash › output › placeholders inside a message are not expanded again', async (t) => {
  const { flash } = await setup();
  flash.error('%cssClass% %cssIconClass% %message%');
  t.is(flash.output(), '<div class="errorMessage">%cssClass% %cssIconClass% %message%</div>\n');
  flash.setCustomTemplate('[%message%|%cssClass%]').setAutoescape(false);
  flash.error('%cssClass%');
  t.is(flash.output(), '[%cssClass%|errorMessage]');
});

test('Flash › output › placeholders inside a class and $-patterns inside a message stay literal', async (t) => {
  const { flash } = await setup();
  flash.setCssClasses({ error: '%message%' }).setCssIconClasses({ error: '%cssClass%' });
  flash.error("$& $1 $' $$");
  t.is(flash.output(), '<div class="%message%"><i class="%cssClass%"></i> $&amp; $1 $&#039; $$</div>\n');
});

test('Flash › output › consumes the messages, so a second output() returns an empty string', async (t) => {
  const { m, flash } = await setup();
  flash.error('e');
  t.is(flash.output(), '<div class="errorMessage">e</div>\n');
  t.is(flash.output(), '');
  t.false(m.has('_flashMessages'));
});

test('Flash › output › output(false) keeps the messages', async (t) => {
  const { m, flash } = await setup();
  flash.error('e');
  t.is(flash.output(false), '<div class="errorMessage">e</div>\n');
  t.is(flash.output(false), '<div class="errorMessage">e</div>\n');
  t.deepEqual(m.get('_flashMessages'), { error: ['e'] });
  t.true(flash.has('error'));
});

test('Flash › output › a stored message that is not a string throws ERR_FLASH_MESSAGE_TYPE', async (t) => {
  const { m, flash } = await setup();
  m.set('_flashMessages', { error: [42] });
  t.throws(() => flash.output(), { code: 'ERR_FLASH_MESSAGE_TYPE', message: 'The message must be an array or a string' });
  m.set('_flashMessages', { error: [['nested']] });
  t.throws(() => flash.output(), { code: 'ERR_FLASH_MESSAGE_TYPE' });
  m.set('_flashMessages', { error: { a: 1 } });
  t.throws(() => flash.output(), { code: 'ERR_FLASH_MESSAGE_TYPE' });
});

test('Flash › output › a stored string instead of a list renders as one message (Phalcon)', async (t) => {
  const { m, flash } = await setup();
  m.set('_flashMessages', { error: 'lone' });
  t.is(flash.output(), '<div class="errorMessage">lone</div>\n');
});

// Options, setters, clear

test('Flash › options › defaults follow Phalcon', async (t) => {
  const { flash } = await setup();
  t.is(flash.getSessionKey(), '_flashMessages');
  t.true(flash.getAutoescape());
  t.true(flash.getAutomaticHtml());
  t.deepEqual(flash.getCssClasses(), {
    error: 'errorMessage', notice: 'noticeMessage', success: 'successMessage', warning: 'warningMessage',
  });
  t.deepEqual(flash.getCssIconClasses(), {});
  t.is(flash.getCustomTemplate(), '');
});

test('Flash › setters › return this and are mirrored by the getters', async (t) => {
  const { flash } = await setup();
  t.is(flash.setAutoescape(false), flash);
  t.is(flash.setAutomaticHtml(false), flash);
  t.is(flash.setCssClasses({ error: 'e' }), flash);
  t.is(flash.setCssIconClasses({ error: 'i' }), flash);
  t.is(flash.setCustomTemplate('%message%'), flash);
  t.false(flash.getAutoescape());
  t.false(flash.getAutomaticHtml());
  t.deepEqual(flash.getCssClasses(), { error: 'e' });
  t.deepEqual(flash.getCssIconClasses(), { error: 'i' });
  t.is(flash.getCustomTemplate(), '%message%');
});

test('Flash › setters › setCssClasses and setCssIconClasses replace the map, not merge', async (t) => {
  const { flash } = await setup();
  flash.setCssClasses({ error: 'alert' });
  t.deepEqual(flash.getCssClasses(), { error: 'alert' });
  flash.success('s');
  t.is(flash.output(), '<div>s</div>\n');
  flash.setCssIconClasses({ error: 'a' }).setCssIconClasses({ notice: 'b' });
  t.deepEqual(flash.getCssIconClasses(), { notice: 'b' });
});

test('Flash › options › defaults are not shared between instances', async (t) => {
  const m = await started();
  const one = new Flash(m);
  const two = new Flash(m);
  const classes = one.getCssClasses();
  classes.error = 'hacked';
  one.getCssIconClasses().error = 'hacked';
  one.setCssClasses({ error: 'mine' });
  t.deepEqual(two.getCssClasses().error, 'errorMessage');
  t.deepEqual(two.getCssIconClasses(), {});
  t.deepEqual(new Flash(m).getCssClasses().error, 'errorMessage');
});

test('Flash › getters › return copies: mutating them does not change the rendering', async (t) => {
  const { flash } = await setup();
  flash.getCssClasses().error = 'hacked';
  flash.getCssIconClasses().error = 'hacked';
  flash.error('e');
  t.is(flash.output(), '<div class="errorMessage">e</div>\n');
});

test('Flash › options › given maps are copied, not kept or mutated', async (t) => {
  const m = await started();
  const list = ['alert'];
  const cssClasses = { error: list };
  const icons = { error: 'ic' };
  const flash = new Flash(m, { cssClasses, cssIconClasses: icons });
  list.push('later');
  icons.error = 'changed';
  t.deepEqual(flash.getCssClasses(), { error: ['alert'] });
  t.deepEqual(flash.getCssIconClasses(), { error: 'ic' });
  cssClasses.error = ['changed'];
  flash.setCssClasses(cssClasses);
  cssClasses.error.push('after-set');
  t.deepEqual(flash.getCssClasses(), { error: ['changed'] });
  t.deepEqual(flash.getCssIconClasses(), { error: 'ic' });
  t.deepEqual(list, ['alert', 'later']);
});

test('Flash › clear › deletes the session key', async (t) => {
  const { m, flash } = await setup();
  flash.error('e');
  flash.clear();
  t.false(m.has('_flashMessages'));
  t.false(flash.has());
  t.is(flash.output(), '');
});
