// Models: Dr.Gero models and versions; fine-tunes from a leaderboard (progress, cancel, cost);
// fine-tune schedules.
import { del, enc, get, post, put } from '../lib/api.js';
import { append, button, checkbox, clear, empty, errorBox, field, h, input, jsonBlock, loading, select, setError, showErrors, table, textarea, usd, when } from '../lib/dom.js';

// A job is active until it ends (own_models/finetune/records.py TERMINAL); the states on the way
// are the backend's (starting, validating_files, queued, running, ...), shown as they come.
const FINISHED_JOB = new Set(['succeeded', 'failed', 'cancelled']);
const active = (j) => !FINISHED_JOB.has(j.status);
const POLL_MS = 2000;

export async function models(view, _p, ctx) {
  const box = errorBox();
  append(view, h('h1', { text: 'Models' }), h('p', { text: 'Dr.Gero models are your own endpoints (or fine-tunes): attach them to leaderboards like any candidate.' }), box);
  try {
    const listed = (await get('api/models')).models || [];
    append(view, listed.length ? table([
      { label: 'Name', render: (m) => h('a', { href: `#/models/${enc(m.id)}`, text: m.name }) },
      { label: 'Base model', key: 'base_model' }, { label: 'Status', key: 'status' },
      { label: 'Current version', render: (m) => m.current_version }, { label: 'Updated', render: (m) => when(m.updated_at) },
    ], listed) : empty('No Dr.Gero models yet.'));
  } catch (err) {
    setError(box, err);
  }
  append(view, createForm(ctx));
}

function createForm(ctx) {
  const c = { name: input({ maxlength: 200 }), description: textarea({ rows: 2 }), base: input({ spellcheck: 'false' }), url: input({ type: 'url', spellcheck: 'false' }), model: input({ spellcheck: 'false' }), probe: checkbox({ id: 'probe', checked: true }) };
  const box = errorBox();
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-model' }, h('h2', { id: 'new-model', text: 'Create a Dr.Gero model' }),
    field('Name', c.name, { name: 'name' }), field('Description', c.description, { name: 'description' }), field('Base model (optional)', c.base, { name: 'base_model' }),
    field('Endpoint URL (OpenAI chat-completions)', c.url, { name: 'endpoint.url' }), field('Model field sent to the endpoint (optional)', c.model, { name: 'endpoint.model' }),
    h('div', { class: 'field check' }, c.probe, h('label', { for: 'probe', text: 'Send a test request first' })),
    h('button', { type: 'submit', text: 'Create model' }), box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: c.name.value, description: c.description.value, endpoint: { url: c.url.value.trim() }, probe: c.probe.checked };
    if (c.base.value.trim()) body.base_model = c.base.value.trim();
    if (c.model.value.trim()) body.endpoint.model = c.model.value.trim();
    try {
      const m = await post('api/models', body);
      ctx.go(`#/models/${enc(m.id)}`);
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  return form;
}

function versionsTable(m) {
  return (m.versions || []).length ? table([
    { label: 'Version', key: 'version' }, { label: 'Source', key: 'source' }, { label: 'Created', render: (v) => when(v.created_at) },
    { label: 'Current', render: (v) => (v.version === m.current_version ? 'yes' : '') },
  ], m.versions, { caption: 'Versions of this model; runs call the current one' }) : empty('No versions.');
}

// What a job has done so far, in words: the backend's state and the tokens trained.
function progress(j) {
  const parts = [];
  if (j.backend && j.backend.status && j.backend.status !== j.status) parts.push(`backend: ${j.backend.status}`);
  if (j.trained_tokens !== null && j.trained_tokens !== undefined) parts.push(`${j.trained_tokens} tokens trained`);
  if (j.dataset && j.dataset.rows) parts.push(`${j.dataset.rows} rows`);
  return parts.join(' · ') || '—';
}

export async function model(view, [id], ctx) {
  const m = await get(`api/models/${enc(id)}`);
  const box = errorBox();
  const versionsEl = h('div', { id: 'versions' }, versionsTable(m));
  append(view, h('p', { class: 'crumbs' }, h('a', { href: '#/models', text: 'Models' }), ' /'), h('h1', { text: m.name }),
    m.description ? h('p', { text: m.description }) : null, box,
    h('h2', { text: 'Versions' }), versionsEl);
  const boards = (await get('api/leaderboards').catch(() => ({ leaderboards: [] }))).leaderboards || [];
  const boardName = (lbId) => (boards.find((b) => b.id === lbId) || {}).name || lbId;
  const jobsEl = h('div', { id: 'fine-tunes' }, loading());
  append(view, h('h2', { text: 'Fine-tunes' }), jobsEl, await fineTuneForm(m, ctx, () => drawJobs()), await scheduleForm(m, ctx));
  let timer = null;
  let stopped = false;
  let wasActive = false;
  async function drawJobs() {
    if (timer) { clearTimeout(timer); timer = null; }
    try {
      const jobs = (await get(`api/models/${enc(id)}/fine-tunes`)).fine_tunes || [];
      append(clear(jobsEl), jobs.length ? table([
        { label: 'Job', key: 'id' }, { label: 'Leaderboard', render: (j) => h('a', { href: `#/leaderboards/${enc(j.leaderboard_id)}`, text: boardName(j.leaderboard_id) }) },
        { label: 'Status', render: (j) => h('span', { class: `status ${j.status}`, text: j.status }) },
        { label: 'Progress', render: progress },
        { label: 'Started', render: (j) => when(j.started_at || j.created_at) },
        { label: 'Cost', render: (j) => (j.cost_usd === null || j.cost_usd === undefined ? (active(j) ? 'cost not known yet' : 'unknown') : usd(j.cost_usd)) },
        { label: 'Result', render: (j) => j.fine_tuned_model || (j.error ? (j.error.message || String(j.error)) : '—') },
        {
          label: 'Cancel',
          render: (j) => (active(j) && j.status !== 'cancelling' ? button('Cancel', {
            class: 'danger small', 'aria-label': `Cancel fine-tune ${j.id}`,
            onclick: async (ev) => {
              ev.target.disabled = true;
              try { await post(`api/models/${enc(id)}/fine-tunes/${enc(j.id)}/cancel`, {}); ctx.announce('Fine-tune cancelled.'); setError(box, null); drawJobs(); } catch (err) { ev.target.disabled = false; setError(box, err); }
            },
          }) : ''),
        },
      ], jobs, { caption: 'Fine-tune jobs, newest first' }) : empty('No fine-tunes yet.'));
      const running = jobs.some(active);
      // A job that just ended may have added a version (a succeeded fine-tune).
      if (wasActive && !running) append(clear(versionsEl), versionsTable(await get(`api/models/${enc(id)}`)));
      wasActive = running;
      if (running && !stopped) timer = setTimeout(drawJobs, POLL_MS);
    } catch (err) {
      clear(jobsEl);
      setError(box, err);
    }
  }
  await drawJobs();
  return () => { stopped = true; if (timer) clearTimeout(timer); timer = null; };
}

async function leaderboardSelect() {
  const boards = (await get('api/leaderboards').catch(() => ({ leaderboards: [] }))).leaderboards || [];
  return select(boards.map((b) => [b.id, b.name]));
}

async function fineTuneForm(m, ctx, after) {
  const lb = await leaderboardSelect();
  const base = input({ spellcheck: 'false', value: m.base_model || '' });
  const fraction = input({ type: 'number', min: 0, max: 0.5, step: 0.05, value: 0 });
  const box = errorBox();
  const form = h('form', { class: 'card', 'aria-labelledby': 'ft-title' }, h('h2', { id: 'ft-title', text: 'Fine-tune from a leaderboard' }),
    field('Leaderboard (its current dataset version)', lb, { name: 'leaderboard_id' }), field('Base model', base, { name: 'base_model' }),
    field('Validation fraction', fraction, { name: 'validation_fraction' }), h('button', { type: 'submit', text: 'Start fine-tune' }), box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await post(`api/models/${enc(m.id)}/fine-tunes`, { leaderboard_id: lb.value, base_model: base.value.trim(), validation_fraction: Number(fraction.value) || 0 });
      ctx.announce('Fine-tune started.');
      showErrors(form, box, null);
      after();
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  return form;
}

async function scheduleForm(m, ctx) {
  // 404: no schedule yet (any other failure is said in the form's box).
  let current = null;
  let failed = null;
  try { current = await get(`api/models/${enc(m.id)}/fine-tune-schedule`); } catch (err) { if (err.status !== 404) failed = err; }
  const lb = await leaderboardSelect();
  if (current && current.leaderboard_id) lb.value = current.leaderboard_id;
  const base = input({ spellcheck: 'false', value: m.base_model || '' });
  const sched = textarea({ rows: 2, spellcheck: 'false' });
  sched.value = JSON.stringify((current && current.schedule) || { cron: '0 4 * * 1' });
  const box = errorBox();
  const form = h('form', { class: 'card', 'aria-labelledby': 'fts-title' }, h('h2', { id: 'fts-title', text: 'Fine-tune schedule' }),
    h('div', { id: 'schedule-now' }, current ? jsonBlock(current, 'Current fine-tune schedule') : empty('No schedule.')),
    field('Leaderboard', lb, { name: 'leaderboard_id' }), field('Base model of scheduled fine-tunes', base, { name: 'base_model' }),
    field('Schedule JSON', sched, { name: 'schedule', hint: '{"cron": "0 4 * * 1"} or {"rate": "7 days"}; skipped while the dataset is unchanged.' }),
    h('div', { class: 'row' }, h('button', { type: 'submit', text: 'Save schedule' }),
      current ? button('Remove schedule', { class: 'danger', onclick: async () => { try { await del(`api/models/${enc(m.id)}/fine-tune-schedule`); ctx.announce('Schedule removed.'); ctx.go(`#/models/${enc(m.id)}`); } catch (err) { setError(box, err); } } }) : null), box);
  if (failed) setError(box, failed);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let schedule;
    try { schedule = JSON.parse(sched.value); } catch { showErrors(form, box, { message: 'Not valid JSON.', details: [{ field: 'schedule', error: 'This is not valid JSON.' }] }); return; }
    try {
      await put(`api/models/${enc(m.id)}/fine-tune-schedule`, { leaderboard_id: lb.value, base_model: base.value.trim(), schedule });
      ctx.announce('Schedule saved.');
      ctx.go(`#/models/${enc(m.id)}`);
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  return form;
}
