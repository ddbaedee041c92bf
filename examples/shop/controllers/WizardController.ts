import type { Context } from 'koa';
import { Body, ContentType, Controller, Ctx, Get, NotFoundError, Param, Post, Redirect } from 'routing-controllers';
import { Service } from 'typedi';
import type { Bag, Flash, Manager } from '../../../lib';
import { CsrfProtected, FlashSession, Persistent, Session } from '../../../lib/decorators';
import { csrfField } from '../csrf';
import { field } from '../form';
import { html } from '../html';
import { HTML, view, type Demo } from '../layout';
import { reached, STEPS, valueOf, type WizardData, type WizardField } from '../wizard';

type Wizard = Bag<WizardData>;

const DEMO: Demo = {
  api: html`<code>@Persistent()</code>: a <code>Bag</code> named after the controller (Phalcon's <code>$this->persistent</code>); the inputs are kept across a validation error, the errors are flash messages`,
  source: ['examples/shop/controllers/WizardController.ts', 'examples/shop/wizard.ts'],
};

function stepOf(step: number): (typeof STEPS)[number] {
  const found = Number.isInteger(step) ? STEPS[step - 1] : undefined;
  if (!found) throw new NotFoundError();
  return found;
}

function input(f: WizardField, value: string) {
  const id = `wizard-${f.name}`;
  if (f.kind === 'checkbox') {
    return html`<label><input type="checkbox" id="${id}" name="${f.name}" value="yes"${value === 'yes' ? html` checked` : ''}> ${f.label}</label>`;
  }
  if (f.kind === 'select') {
    return html`<label>${f.label} <select id="${id}" name="${f.name}">${(f.options ?? []).map((o) =>
      html`<option${o === value ? html` selected` : ''}>${o}</option>`)}</select></label>`;
  }
  return html`<label>${f.label} <input id="${id}" name="${f.name}" value="${value}" maxlength="${f.max}"></label>`;
}

/**
 * `/wizard`: a three-step checkout whose inputs live in `@Persistent()`, the Bag named after
 * this controller (Phalcon's `$this->persistent`). Every submit stores what was typed, also when
 * a check refuses it, so the form comes back filled in after the redirect, with the errors as
 * flash messages; a later step opens only once the earlier ones were accepted.
 */
@Service()
@Controller('/wizard')
@CsrfProtected()
export class WizardController {
  @Get('/')
  @Redirect('/wizard/step/1')
  start(@Persistent() wizard: Wizard): string {
    return wizard.get('done') ? '/wizard/done' : `/wizard/step/${reached(wizard)}`;
  }

  @Get('/step/:step')
  @ContentType(HTML)
  show(@Param('step') step: number, @Ctx() ctx: Context, @Session() session: Manager, @Persistent() wizard: Wizard, @FlashSession() flash: Flash): string | Context {
    const { title, fields } = stepOf(step);
    if (step > reached(wizard)) {
      ctx.redirect(`/wizard/step/${reached(wizard)}`);
      return ctx; // the Koa driver leaves a returned ctx alone: the redirect stands
    }
    const token = csrfField(session);
    const nav = STEPS.map((s, i) => (i + 1 === step ? html`<b>${i + 1}. ${s.title}</b>` : html`${i + 1}. ${s.title}`));
    return view(session, flash, `Checkout, step ${step} of ${STEPS.length}: ${title}`, DEMO, html`<p>${nav.map((n, i) => html`${i ? ' → ' : ''}${n}`)}</p>
<form method="post" action="/wizard/step/${step}" id="wizard-form">${token}
${fields.map((f) => input(f, valueOf(wizard, f.name)))}
${step > 1 ? html`<a href="/wizard/step/${step - 1}">Back</a> ` : ''}<button>${step < STEPS.length ? 'Next' : 'Place the order'}</button>
</form>
<form method="post" action="/wizard/reset">${token}<button>Start over</button></form>`);
  }

  @Post('/step/:step')
  @Redirect('/wizard')
  submit(@Param('step') step: number, @Body() body: unknown, @Persistent() wizard: Wizard, @FlashSession() flash: Flash): string {
    const { fields } = stepOf(step);
    if (step > reached(wizard)) return `/wizard/step/${reached(wizard)}`;
    const values = Object.fromEntries(fields.map((f) => [f.name, field(body, f.name, f.max)]));
    wizard.init(values); // kept whatever the checks say: the form comes back as typed
    const problems = fields.map((f) => f.check(values[f.name]!)).filter((p): p is string => p !== null);
    if (problems.length > 0) {
      problems.forEach((p) => flash.error(p));
      return `/wizard/step/${step}`;
    }
    if (step < STEPS.length) {
      wizard.set('reached', Math.max(reached(wizard), step + 1));
      return `/wizard/step/${step + 1}`;
    }
    wizard.set('done', true);
    flash.success(`Thank you, ${valueOf(wizard, 'name')}: your order is placed.`);
    return '/wizard/done';
  }

  @Get('/done')
  @ContentType(HTML)
  done(@Ctx() ctx: Context, @Session() session: Manager, @Persistent() wizard: Wizard, @FlashSession() flash: Flash): string | Context {
    if (!wizard.get('done')) {
      ctx.redirect('/wizard');
      return ctx;
    }
    const rows = STEPS.flatMap((s) => s.fields).filter((f) => f.kind !== 'checkbox');
    return view(session, flash, 'Order placed', DEMO, html`<table id="summary">
${rows.map((f) => html`<tr><th>${f.label}</th><td id="summary-${f.name}">${valueOf(wizard, f.name)}</td></tr>`)}
</table>
<form method="post" action="/wizard/reset">${csrfField(session)}<button>Start over</button></form>`);
  }

  @Post('/reset')
  @Redirect('/wizard/step/1')
  reset(@Persistent() wizard: Wizard): void {
    wizard.clear();
  }
}
