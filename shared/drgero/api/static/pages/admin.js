// Admin-only pages (owners and admins): Settings, Tokens, Integrations, Billing.
import { del, enc, get, patch, post, put } from '../lib/api.js';
import { append, button, checkbox, clear, empty, errorBox, field, fmt, h, input, secretOnce, select, setError, showErrors, table, usd, when } from '../lib/dom.js';

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
export async function integrations(view) {
  append(view, h('h1', { text: 'Integrations' }), h('p', { text: 'Provider keys, stored encrypted and shown masked. OpenRouter is needed for OpenRouter models, auto-select and judges; Hugging Face for private or gated datasets.' }));
  const cards = await Promise.all([['openrouter', 'OpenRouter'], ['huggingface', 'Hugging Face']].map(([provider, label]) => integrationCard(provider, label)));
  append(view, cards);
}

async function integrationCard(provider, label) {
  const box = errorBox();
  const state = h('p', { id: `int-${provider}-state`, role: 'status' });
  const check = h('p', { id: `int-${provider}-check`, role: 'status' });
  let current = null;
  try {
    current = await get(`api/integrations/${provider}`);
  } catch (err) {
    if (err.status !== 404) setError(box, err); // 404: none stored yet
  }
  const key = input({ type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const keyField = field(`${label} API key`, key, { name: 'api_key', hint: 'Shown masked once saved; the full key is never shown again.' });
  const remove = button(`Remove the ${label} key`, {
    class: 'danger',
    onclick: async () => {
      if (!window.confirm(`Remove the ${label} key? Models and checks that need it stop working.`)) return;
      try {
        await del(`api/integrations/${provider}`);
        show(null);
        check.textContent = '';
        setError(box, null);
      } catch (err) { setError(box, err); }
    },
  });
  const actions = h('div', { class: 'row' });
  // The state line says what is stored, masked: never the key itself.
  function show(integration) {
    current = integration;
    state.textContent = integration ? `Configured: ${integration.key_hint}${integration.updated_at ? ` (updated ${when(integration.updated_at)})` : ''}` : 'Not configured.';
    clear(actions);
    append(actions, h('button', { type: 'submit', text: `Save the ${label} key` }),
      button(`Validate the ${label} key`, { class: 'secondary', onclick: validate }), integration ? remove : null);
  }
  async function validate() {
    setError(box, null);
    check.textContent = 'Checking…';
    try {
      const r = await post('api/integrations/validate', key.value.trim() ? { provider, api_key: key.value.trim() } : { provider });
      const verdict = r.valid ? 'Valid' : r.status === 'invalid' ? 'Not valid' : 'Could not check';
      check.textContent = `${verdict}: ${r.detail}`;
    } catch (err) {
      check.textContent = '';
      setError(box, err.code === 'integration_required'
        ? { message: `No ${label} key is stored: paste one in the field above, then validate or save it.` } : err);
    }
  }
  const form = h('form', { class: 'card', 'aria-labelledby': `int-${provider}` }, h('h2', { id: `int-${provider}`, text: label }), state,
    keyField, actions, check, box);
  show(current);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!key.value.trim()) {
      showErrors(form, box, { message: 'Paste a key first.', details: [{ field: 'api_key', error: 'Paste a key first.' }] });
      key.focus();
      return;
    }
    try {
      const r = await put(`api/integrations/${provider}`, { api_key: key.value.trim() });
      key.value = '';
      check.textContent = '';
      show(r);
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
  const [plan, usage, boards] = await Promise.all([
    get(`api/workspaces/${ws(ctx)}/billing`).catch((err) => { setError(box, err); return null; }),
    get(`api/workspaces/${ws(ctx)}/usage`).catch((err) => { setError(box, err); return null; }),
    get('api/leaderboards').then((r) => r.leaderboards || [], () => []),
  ]);
  const planCard = h('section', { class: 'card', 'aria-labelledby': 'plan-title' }, h('h2', { id: 'plan-title', text: 'Plan' }));
  if (plan) {
    const limits = plan.limits || {};
    const used = (plan.usage || {}).leaderboards;
    const cap = limits.max_leaderboards;
    append(planCard, h('p', {}, 'Plan: ', h('strong', { text: plan.plan })),
      h('dl', { class: 'stats' },
        h('dt', { text: 'Leaderboards' }), h('dd', { text: cap === null || cap === undefined ? `${fmt(used)} (no limit)` : `${fmt(used)} of ${cap}` }),
        h('dt', { text: 'Deleting leaderboards' }), h('dd', { text: limits.can_delete_leaderboards ? 'allowed' : 'not on this plan' })));
    if (limits.can_delete_leaderboards === false) {
      append(planCard, h('p', { id: 'why-no-delete', text: `On the ${plan.plan} plan leaderboards cannot be deleted: deleting is a feature of the paid plans${cap === null || cap === undefined ? '' : `, and this plan allows at most ${cap} leaderboards`}. To delete leaderboards, change the plan. ${plan.how_to_change || ''}` }));
    } else if (plan.how_to_change) {
      append(planCard, h('p', { class: 'hint', text: plan.how_to_change }));
    }
  }
  append(view, planCard);
  if (!usage) return;
  const boardName = (id) => (boards.find((b) => b.id === id) || {}).name || id;
  const section = (id, title, content) => h('section', { 'aria-labelledby': id }, h('h2', { id, text: title }), content);
  append(view, h('p', {}, 'Total spend: ', h('strong', { text: usd(usage.total_usd) })),
    section('by-month', 'By month', usage.by_month.length ? table([{ label: 'Month', key: 'month' }, { label: 'Spent', render: (r) => usd(r.spent_usd) }, { label: 'Calls', key: 'calls' }], usage.by_month) : empty('No spend yet.')),
    section('by-token', 'By token', usage.by_token.length ? table([{ label: 'Token', render: (r) => r.name || r.token_id }, { label: 'Spent', render: (r) => usd(r.spent_usd) }, { label: 'Calls', key: 'calls' }], usage.by_token) : empty('No token spend yet.')),
    section('by-run', 'By run', usage.by_run.length ? table([
      { label: 'Run', render: (r) => h('a', { href: `#/runs/${enc(r.run_id)}`, text: r.run_id }) },
      { label: 'Leaderboard', render: (r) => boardName(r.leaderboard_id) },
      { label: 'Status', key: 'status' },
      { label: 'Cost', render: (r) => (r.finished_at ? usd(r.cost_usd) : 'not finished') },
      { label: 'Finished', render: (r) => when(r.finished_at) },
    ], usage.by_run) : empty('No runs yet.')));
}
