// Add Model: Auto-select (preview the picks with their reasons, then attach) or Manual
// (OpenRouter id, Custom endpoint, Hugging Face endpoint, a Dr.Gero model).
import { enc, get, optional, post } from '../lib/api.js';
import { append, button, checkbox, clear, empty, errorBox, field, h, input, select, setError, showErrors, table, usd } from '../lib/dom.js';

const num = (el) => (el.value.trim() === '' ? undefined : Number(el.value));
const MIN_PUSH_ROWS = 100; // limits.min_rows_before_models when a server does not say it

export async function addModel(view, [id], ctx) {
  const lb = await get(`api/leaderboards/${enc(id)}`);
  append(view, h('p', { class: 'crumbs' }, h('a', { href: '#/leaderboards', text: 'Leaderboards' }), ' / ',
    h('a', { href: `#/leaderboards/${enc(id)}/detail`, text: lb.name }), ' /'),
  h('h1', { text: 'Add Model' }));
  if (lb.dataset.mode === 'PUSH') {
    const st = await get(`v1/leaderboard/${enc(id)}/dataset/status`);
    const needed = (st.limits && st.limits.min_rows_before_models) ?? MIN_PUSH_ROWS;
    if (st.consolidated < needed) {
      append(view, h('p', { class: 'error-box', role: 'alert', text: `Models can be added from ${needed} consolidated rows; this dataset has ${st.consolidated} (${st.pending} pending). Push more rows, then use “Consolidate now” on the Detail tab.` }),
        h('p', {}, h('a', { href: `#/leaderboards/${enc(id)}/detail`, text: 'Go to the Detail tab' })));
      return;
    }
    append(view, h('p', { class: 'hint', text: `This dataset has ${st.consolidated} consolidated rows.` }));
  }
  append(view, autoSelect(lb, ctx), manual(lb, ctx));
}

function autoSelect(lb, ctx) {
  const c = {
    count: input({ type: 'number', min: 1, max: 20, value: 3 }),
    maxIn: input({ type: 'number', min: 0, step: 'any' }),
    maxOut: input({ type: 'number', min: 0, step: 'any' }),
    p95: input({ type: 'number', min: 1 }),
    p99: input({ type: 'number', min: 1 }),
    open: checkbox({ id: 'auto-open-source' }),
  };
  const box = errorBox();
  const picks = h('div', { id: 'auto-picks', 'aria-live': 'polite' });
  const attach = button('Attach these models', { id: 'auto-attach', hidden: true });
  const form = h('form', { class: 'card', 'aria-labelledby': 'auto-title' }, h('h2', { id: 'auto-title', text: 'Auto-select' }),
    h('p', { text: 'Pick OpenRouter models under your constraints. Preview the picks and why, then attach them.' }),
    h('div', { class: 'grid2' },
      field('Number of models', c.count, { name: 'count' }),
      field('Max input cost (USD per million tokens)', c.maxIn, { name: 'max_input_cost_per_m' }),
      field('Max output cost (USD per million tokens)', c.maxOut, { name: 'max_output_cost_per_m' }),
      field('Max P95 latency (ms)', c.p95, { name: 'max_p95_latency_ms' }),
      field('Max P99 latency (ms)', c.p99, { name: 'max_p99_latency_ms' }),
      h('div', { class: 'field check' }, c.open, h('label', { for: 'auto-open-source', text: 'Open-source models only' }))),
    h('div', { class: 'row' }, h('button', { type: 'submit', text: 'Preview picks' }), attach), picks, box);
  const body = () => ({
    count: num(c.count), max_input_cost_per_m: num(c.maxIn), max_output_cost_per_m: num(c.maxOut),
    max_p95_latency_ms: num(c.p95), max_p99_latency_ms: num(c.p99), open_source_only: c.open.checked,
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(picks);
    attach.hidden = true;
    try {
      const r = await post(`api/leaderboards/${enc(lb.id)}/models/auto-select/preview`, body());
      showErrors(form, box, null);
      if (!r.picked.length) {
        append(picks, empty('No model meets these constraints. Loosen a limit and preview again.'));
        return;
      }
      append(picks, table([
        { label: 'Model', render: (p) => p.name },
        { label: 'Id', key: 'model_id' },
        { label: 'Input $/M', render: (p) => usd(p.input_cost_per_m) },
        { label: 'Output $/M', render: (p) => usd(p.output_cost_per_m) },
        { label: 'Why', key: 'reason' },
        { label: 'Attached', render: (p) => (p.already_attached ? 'already' : 'no') },
      ], r.picked, { caption: `${r.picked.length} of ${r.considered} models considered` }));
      for (const note of r.notes || []) append(picks, h('p', { class: 'hint', text: note }));
      attach.hidden = false;
      attach.focus();
    } catch (err) {
      if (err.notAvailable) {
        append(picks, h('p', { text: 'Preview is not available on this server; attach directly.' }));
        attach.hidden = false;
      } else showErrors(form, box, err);
    }
  });
  attach.addEventListener('click', async () => {
    attach.disabled = true;
    try {
      const r = await post(`api/leaderboards/${enc(lb.id)}/models/auto-select`, body());
      ctx.announce(`${r.models.length} models attached.`);
      ctx.go(`#/leaderboards/${enc(lb.id)}/detail`);
    } catch (err) {
      attach.disabled = false;
      showErrors(form, box, err);
    }
  });
  return form;
}

function manual(lb, ctx) {
  let platform = 'openrouter';
  const box = errorBox();
  const fields = h('div');
  const c = {
    name: input({ maxlength: 200, placeholder: 'optional display name' }),
    model: input({ spellcheck: 'false', placeholder: 'openai/gpt-4o-mini' }),
    url: input({ type: 'url', spellcheck: 'false', placeholder: 'https://api.example.com/v1/chat/completions' }),
    authKind: select([['none', 'No authentication'], ['bearer', 'Authorization: Bearer token'], ['header', 'A named header']]),
    headerName: input({ spellcheck: 'false', placeholder: 'X-Api-Key' }),
    secret: input({ type: 'password', autocomplete: 'off' }),
    responseFormat: select([['openai', 'OpenAI chat-completions'], ['json', 'JSON (read one field)'], ['text', 'Plain text']]),
    jsonPath: input({ spellcheck: 'false', placeholder: 'result.text' }),
    hfUrl: input({ type: 'url', spellcheck: 'false', placeholder: 'https://xyz.endpoints.huggingface.cloud' }),
    hfToken: input({ type: 'password', autocomplete: 'off', placeholder: 'hf_…' }),
    drgero: select([]),
  };
  const choose = select([['openrouter', 'OpenRouter'], ['custom', 'Custom endpoint'], ['huggingface', 'Hugging Face endpoint'], ['drgero', 'Dr.Gero model']]);
  async function draw() {
    clear(fields);
    if (platform === 'openrouter') append(fields, field('OpenRouter model id', c.model, { name: 'model', hint: 'Uses the workspace’s OpenRouter integration.' }));
    if (platform === 'custom') {
      append(fields, field('Endpoint URL', c.url, { name: 'url', hint: 'Receives a POST; answers OpenAI chat-completions, JSON or text.' }),
        field('Authentication', c.authKind, { name: 'auth.kind' }), field('Header name', c.headerName, { name: 'auth.header_name' }),
        field('Token', c.secret, { name: 'auth.secret', hint: 'Stored encrypted; never shown again.' }),
        field('Response format', c.responseFormat, { name: 'response_format' }), field('JSON path', c.jsonPath, { name: 'json_path' }));
    }
    if (platform === 'huggingface') append(fields, field('Endpoint URL', c.hfUrl, { name: 'url' }), field('Token (optional)', c.hfToken, { name: 'token' }));
    if (platform === 'drgero') {
      const listed = await optional(get('api/models')).catch(() => null);
      const models = (listed && listed.models) || [];
      append(clear(c.drgero), ...models.map((m) => h('option', { value: m.id, text: m.name })));
      append(fields, models.length ? field('Dr.Gero model', c.drgero, { name: 'model_id' }) : empty('No Dr.Gero models yet: create one under Models.'));
    }
    append(fields, field('Display name', c.name, { name: 'name' }));
  }
  choose.addEventListener('change', () => { platform = choose.value; draw(); });
  const form = h('form', { class: 'card', 'aria-labelledby': 'manual-title' }, h('h2', { id: 'manual-title', text: 'Manual' }),
    field('Platform', choose, { name: 'platform' }), fields, h('button', { type: 'submit', text: 'Attach model' }), box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let body;
    if (platform === 'openrouter') body = { platform, model: c.model.value.trim() };
    if (platform === 'custom') {
      const auth = { kind: c.authKind.value };
      if (auth.kind === 'header') auth.header_name = c.headerName.value.trim();
      if (auth.kind !== 'none') auth.secret = c.secret.value;
      body = { platform, url: c.url.value.trim(), auth, response_format: c.responseFormat.value };
      if (c.responseFormat.value === 'json') body.json_path = c.jsonPath.value.trim();
    }
    if (platform === 'huggingface') body = { platform, url: c.hfUrl.value.trim(), ...(c.hfToken.value ? { token: c.hfToken.value } : {}) };
    if (platform === 'drgero') body = { platform, model_id: c.drgero.value };
    if (c.name.value.trim()) body.name = c.name.value.trim();
    try {
      const m = await post(`api/leaderboards/${enc(lb.id)}/models`, body);
      ctx.announce(`${m.name} attached.`);
      ctx.go(`#/leaderboards/${enc(lb.id)}/detail`);
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  draw();
  return form;
}
