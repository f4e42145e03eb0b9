// Admin-only pages (owners and admins): Settings, Tokens, Integrations, Billing.
import { del, enc, get, optional, patch, post, put } from '../lib/api.js';
import { append, button, checkbox, clear, empty, errorBox, field, fmt, h, input, jsonBlock, secretOnce, select, setError, showErrors, table, usd, when } from '../lib/dom.js';

const SCOPES = ['leaderboards:read', 'leaderboards:write', 'runs:write', 'inference', 'traces:read', 'models:write', 'admin'];
const ws = (ctx) => enc(ctx.session.workspace_id);

// ------------------------------------------------------------------ Settings
export async function settings(view, _p, ctx) {
  const box = errorBox();
  append(view, h('h1', { text: 'Settings' }), box);
  const w = await get(`api/workspaces/${ws(ctx)}`);
  append(view, h('section', { class: 'card' }, h('h2', { text: 'Workspace' }),
    h('dl', { class: 'stats' }, h('dt', { text: 'Name' }), h('dd', { text: w.name }), h('dt', { text: 'Id' }), h('dd', { text: w.id }),
      h('dt', { text: 'Plan' }), h('dd', { text: w.plan || '—' }), h('dt', { text: 'Your role' }), h('dd', { text: w.role || ctx.session.role || 'admin token' }))));
  const members = (await get(`api/workspaces/${ws(ctx)}/members`)).members || [];
  const roles = ['owner', 'admin', 'member'];
  append(view, h('section', { 'aria-labelledby': 'members-title' }, h('h2', { id: 'members-title', text: 'Members and roles' }), table([
    { label: 'User', render: (m) => m.email || m.user_id },
    {
      label: 'Role',
      render: (m) => {
        const s = select(roles, { value: m.role, 'aria-label': `Role of ${m.email || m.user_id}` });
        s.addEventListener('change', async () => {
          try { await patch(`api/workspaces/${ws(ctx)}/members/${enc(m.user_id)}`, { role: s.value }); ctx.announce('Role changed.'); setError(box, null); } catch (err) { s.value = m.role; setError(box, err); }
        });
        return s;
      },
    },
    { label: 'Added', render: (m) => when(m.added_at) },
    {
      label: 'Remove',
      render: (m) => button('Remove', {
        class: 'danger small', 'aria-label': `Remove ${m.email || m.user_id}`,
        onclick: async () => {
          if (!window.confirm(`Remove ${m.email || m.user_id} from the workspace?`)) return;
          try { await del(`api/workspaces/${ws(ctx)}/members/${enc(m.user_id)}`); ctx.go('#/settings'); } catch (err) { setError(box, err); }
        },
      }),
    },
  ], members)));
  append(view, await invitationsSection(ctx));
}

async function invitationsSection(ctx) {
  const box = errorBox();
  const section = h('section', { 'aria-labelledby': 'inv-title' }, h('h2', { id: 'inv-title', text: 'Invitations' }));
  const listed = await get(`api/workspaces/${ws(ctx)}/invitations`).catch((err) => { setError(box, err); return null; });
  const invitations = (listed && listed.invitations) || [];
  const pending = invitations.filter((i) => (i.state || i.status) === 'pending');
  append(section, pending.length ? table([
    { label: 'Email', key: 'email' }, { label: 'Role', key: 'role' }, { label: 'Expires', render: (i) => when(i.expires_at) },
    {
      label: 'Revoke',
      render: (i) => button('Revoke', {
        class: 'danger small', 'aria-label': `Revoke the invitation of ${i.email}`,
        onclick: async () => {
          try {
            await del(`api/workspaces/${ws(ctx)}/invitations/${enc(i.id)}`);
            ctx.go('#/settings');
          } catch (err) {
            setError(box, err.notAvailable ? { message: 'Revoking invitations is not available on this server yet.' } : err);
          }
        },
      }),
    },
  ], pending) : empty('No pending invitations.'));
  const email = input({ type: 'email', autocomplete: 'off' });
  const role = select(['member', 'admin', 'owner']);
  const result = h('div');
  const form = h('form', { class: 'card' }, h('h3', { text: 'Invite someone' }), field('Email', email, { name: 'email' }), field('Role', role, { name: 'role' }),
    h('button', { type: 'submit', text: 'Send invitation' }), result, box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const inv = await post(`api/workspaces/${ws(ctx)}/invitations`, { email: email.value.trim(), role: role.value });
      append(clear(result), h('p', { role: 'status', text: `Invitation created for ${inv.email}. They see it when they sign in with that email.` }));
      showErrors(form, box, null);
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  append(section, form);
  return section;
}

// ------------------------------------------------------------------ Tokens
export async function tokens(view, _p, ctx) {
  const box = errorBox();
  const created = h('div', { id: 'token-created' });
  append(view, h('h1', { text: 'Tokens' }), h('p', { text: 'API tokens for apps and scripts. A secret is shown once, when it is created.' }), created, createTokenForm(ctx, created), box);
  const listEl = h('div');
  append(view, h('h2', { text: 'Your tokens' }), listEl);
  async function draw() {
    try {
      const list = ((await get('api/tokens')).tokens || []).filter((t) => !t.revoked);
      append(clear(listEl), list.length ? table([
        { label: 'Name', key: 'name' }, { label: 'Token', key: 'display' }, { label: 'Scopes', render: (t) => t.scopes.join(', ') },
        { label: 'Expires', render: (t) => when(t.expires_at) }, { label: 'Last used', render: (t) => when(t.last_used_at) },
        { label: 'Spent', render: (t) => usd(t.spent_usd) },
        { label: 'Budget', render: (t) => budgetEditor(t, box, draw) },
        {
          label: 'Revoke',
          render: (t) => button('Revoke', {
            class: 'danger small', 'aria-label': `Revoke token ${t.name}`,
            onclick: async () => {
              if (!window.confirm(`Revoke ${t.name}? Apps using it stop working at once.`)) return;
              try { await del(`api/tokens/${enc(t.id)}`); ctx.announce('Token revoked.'); draw(); } catch (err) { setError(box, err); }
            },
          }),
        },
      ], list, { caption: 'Live tokens with their spend' }) : empty('No live tokens.'));
    } catch (err) {
      setError(box, err);
    }
  }
  view.dataset.refresh = 'tokens';
  view.addEventListener('drgero:tokens-changed', draw);
  await draw();
}

function budgetEditor(t, box, after) {
  const amount = input({ type: 'number', min: 0, step: 'any', value: t.budget_usd ?? '', placeholder: 'none', 'aria-label': `Budget of ${t.name} in USD`, class: 'narrow' });
  const save = button('Set', {
    class: 'secondary small', 'aria-label': `Set the budget of ${t.name}`,
    onclick: async () => {
      try {
        await patch(`api/tokens/${enc(t.id)}`, { budget_usd: amount.value === '' ? null : Number(amount.value) });
        setError(box, null);
        after();
      } catch (err) {
        setError(box, err.notAvailable ? { message: 'Changing a budget is not available on this server yet.' } : err);
      }
    },
  });
  return h('span', { class: 'row tight' }, amount, save, t.budget_usd !== null && t.budget_usd !== undefined ? h('span', { class: 'hint', text: `${usd(t.remaining_usd)} left` }) : null);
}

function createTokenForm(ctx, created) {
  const name = input({ maxlength: 100 });
  const expires = input({ type: 'date' });
  const budget = input({ type: 'number', min: 0, step: 'any' });
  const boxes = SCOPES.map((s) => checkbox({ value: s, id: `scope-${s.replace(':', '-')}`, checked: s !== 'admin' }));
  const box = errorBox();
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-token' }, h('h2', { id: 'new-token', text: 'Create a token' }),
    field('Name', name, { name: 'name' }),
    h('fieldset', { class: 'field', 'data-field': 'scopes' }, h('legend', { text: 'Scopes' }),
      boxes.map((b) => h('span', { class: 'check' }, b, h('label', { for: b.id, text: b.value }))), h('p', { class: 'field-error', role: 'alert' })),
    field('Expires on (optional)', expires, { name: 'expires_at' }), field('Budget in USD (optional)', budget, { name: 'budget_usd' }),
    h('button', { type: 'submit', text: 'Create token' }), box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), scopes: boxes.filter((b) => b.checked).map((b) => b.value) };
    if (expires.value) body.expires_at = `${expires.value}T23:59:59Z`;
    if (budget.value !== '') body.budget_usd = Number(budget.value);
    try {
      const t = await post('api/tokens', body);
      append(clear(created), secretOnce(t.token, `API token “${t.name}”`));
      name.value = '';
      showErrors(form, box, null);
      created.closest('.page')?.dispatchEvent(new CustomEvent('drgero:tokens-changed'));
      created.querySelector('button')?.focus();
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  return form;
}

// ------------------------------------------------------------------ Integrations
export async function integrations(view, _p, ctx) {
  append(view, h('h1', { text: 'Integrations' }), h('p', { text: 'Provider keys, stored encrypted and shown masked. OpenRouter is needed for OpenRouter models, auto-select and judges; Hugging Face for private or gated datasets.' }));
  for (const [provider, label] of [['openrouter', 'OpenRouter'], ['huggingface', 'Hugging Face']]) append(view, await integrationCard(provider, label, ctx));
}

async function integrationCard(provider, label, ctx) {
  const box = errorBox();
  const state = h('p', { role: 'status' });
  const current = await get(`api/integrations/${provider}`).catch(() => null);
  state.textContent = current && current.configured ? `Configured: ${current.key_hint} (updated ${when(current.updated_at)})` : 'Not configured.';
  const key = input({ type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'card', 'aria-labelledby': `int-${provider}` }, h('h2', { id: `int-${provider}`, text: label }), state,
    field(`${label} API key`, key, { name: 'api_key' }),
    h('div', { class: 'row' }, h('button', { type: 'submit', text: 'Save key' }),
      button('Validate', {
        class: 'secondary',
        onclick: async () => {
          try {
            const r = await post('api/integrations/validate', key.value ? { provider, api_key: key.value } : { provider });
            state.textContent = `${r.valid ? 'Valid' : 'Not valid'}: ${r.detail}`;
          } catch (err) { setError(box, err); }
        },
      }),
      button('Remove', {
        class: 'danger',
        onclick: async () => {
          try { await del(`api/integrations/${provider}`); ctx.go('#/integrations'); } catch (err) { setError(box, err); }
        },
      })), box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await put(`api/integrations/${provider}`, { api_key: key.value });
      key.value = '';
      state.textContent = `Configured: ${r.key_hint}`;
      showErrors(form, box, null);
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  return form;
}

// ------------------------------------------------------------------ Billing
export async function billing(view, _p, ctx) {
  const box = errorBox();
  append(view, h('h1', { text: 'Billing' }), box);
  const [plan, usage] = await Promise.all([
    optional(get(`api/workspaces/${ws(ctx)}/billing`)).catch((err) => { setError(box, err); return undefined; }),
    get(`api/workspaces/${ws(ctx)}/usage`).catch((err) => { setError(box, err); return null; }),
  ]);
  const planCard = h('section', { class: 'card', 'aria-labelledby': 'plan-title' }, h('h2', { id: 'plan-title', text: 'Plan' }));
  if (plan === null) {
    const w = await get(`api/workspaces/${ws(ctx)}`).catch(() => ({}));
    append(planCard, h('p', { text: `Plan: ${w.plan || 'unknown'}.` }), h('p', { class: 'hint', text: 'Plan limits are not available on this server yet.' }));
  } else if (plan) {
    const limits = plan.limits || {};
    append(planCard, h('p', {}, 'Plan: ', h('strong', { text: plan.plan || plan.name || '—' })),
      Object.keys(limits).length ? h('dl', { class: 'stats' }, Object.entries(limits).flatMap(([k, v]) => [h('dt', { text: k.replace(/_/g, ' ') }), h('dd', { text: fmt(v) })])) : null);
    if ((plan.plan || plan.name) === 'free' || plan.can_delete_leaderboards === false) {
      append(planCard, h('p', { class: 'hint', text: plan.why_no_delete || 'On the free plan leaderboards cannot be deleted and their number is limited: upgrade to delete and to create more.' }));
    }
  }
  append(view, planCard);
  if (!usage) return;
  append(view, h('p', {}, 'Total spend: ', h('strong', { text: usd(usage.total_usd) })),
    h('h2', { text: 'By month' }), usage.by_month.length ? table([{ label: 'Month', key: 'month' }, { label: 'Spent', render: (r) => usd(r.spent_usd) }, { label: 'Calls', key: 'calls' }], usage.by_month) : empty('No spend yet.'),
    h('h2', { text: 'By token' }), usage.by_token.length ? table([{ label: 'Token', render: (r) => r.name || r.token_id }, { label: 'Spent', render: (r) => usd(r.spent_usd) }, { label: 'Calls', key: 'calls' }], usage.by_token) : empty('No token spend yet.'),
    h('h2', { text: 'By run' }), usage.by_run.length ? table([{ label: 'Run', render: (r) => h('a', { href: `#/runs/${enc(r.run_id)}`, text: r.run_id }) }, { label: 'Spent', render: (r) => usd(r.spent_usd) }, { label: 'Calls', key: 'calls' }], usage.by_run) : empty('No run spend yet.'));
}
