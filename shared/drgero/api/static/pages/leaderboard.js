// Leaderboard detail: the Ranking, Detail and Run Logs tabs, with Add Model and Run.
import { del, enc, get, optional, patch, post, put } from '../lib/api.js';
import { costScoreChart, scoreChart, winnerTrendChart } from '../lib/charts.js';
import {
  append, button, clear, copyBlock, empty, errorBox, field, fmt, h, jsonBlock, loading, ms, secretOnce, select, setError,
  showErrors, table, tabs, textarea, usd, when,
} from '../lib/dom.js';

const ACTIVE = new Set(['queued', 'running', 'evaluating', 'judging', 'aggregating', 'fanning_out', 'cancelling']);
const MIN_PUSH_ROWS = 100; // limits.min_rows_before_models when a server does not say it
const rowsNeeded = (st) => (st && st.limits && st.limits.min_rows_before_models) ?? MIN_PUSH_ROWS;
// "Consolidate now" queued (leaderboard id -> when): the Detail tab polls the status meanwhile.
const consolidating = new Map();

function apiBase() {
  return new URL('.', location.href.split('#')[0]).href.replace(/\/$/, '');
}

async function header(view, id, active, ctx) {
  const lb = await get(`api/leaderboards/${enc(id)}`);
  const base = `#/leaderboards/${enc(id)}`;
  append(view, h('p', { class: 'crumbs' }, h('a', { href: '#/leaderboards', text: 'Leaderboards' }), ' / '),
    h('div', { class: 'page-head' }, h('h1', { text: lb.name })),
    tabs([[base, 'Ranking', 'ranking'], [`${base}/detail`, 'Detail', 'detail'], [`${base}/runs`, 'Run Logs', 'runs']], active));
  const actions = h('div', { class: 'actions' });
  append(view, actions);
  const stop = await runControls(actions, lb, ctx);
  return { lb, stop };
}

// Add Model and Run, with the estimate, live progress, and cancel; conflicting actions are
// disabled while a run is active.
async function runControls(el, lb, ctx) {
  const box = errorBox();
  const status = h('div', { class: 'run-status', role: 'status', 'aria-live': 'polite' });
  const models = lb.models || [];
  let rows = null;
  let needed = MIN_PUSH_ROWS;
  if (lb.dataset.mode === 'PUSH') {
    const st = await get(`v1/leaderboard/${enc(lb.id)}/dataset/status`).catch(() => null);
    rows = st ? st.consolidated : 0;
    needed = rowsNeeded(st);
  }
  let tooFewRows = lb.dataset.mode === 'PUSH' && rows < needed;
  const add = h('a', { class: 'button secondary', href: `#/leaderboards/${enc(lb.id)}/add-model`, text: 'Add Model' });
  if (tooFewRows) {
    add.setAttribute('aria-disabled', 'true');
    add.classList.add('disabled');
    add.removeAttribute('href');
  }
  const run = button('Run', { id: 'run-button' });
  const cancel = button('Cancel run', { class: 'danger', hidden: true });
  let rowCount = lb.dataset.mode === 'PUSH' ? rows : null;
  const estimate = () => {
    // As the server estimates it with no observed latencies yet (evaluation.* defaults).
    const n = rowCount ?? 100;
    const judge = lb.evaluation.type === 'judge' ? models.length : 0;
    return Math.round((n * (models.length + judge) * 2.0) / 8 + 5);
  };
  const hint = h('p', { class: 'hint' });
  const sayHint = () => {
    if (tooFewRows) hint.textContent = `Models can be added from ${needed} consolidated rows; this dataset has ${rows}. Push rows, then use “Consolidate now” on the Detail tab.`;
    else if (models.length < 2) hint.textContent = `Run needs at least two models (${models.length} attached).`;
    else hint.textContent = `Estimated run time: about ${estimate()} s for ${models.length} models${rowCount !== null ? ` on ${rowCount} rows` : ''}.`;
  };
  sayHint();
  run.disabled = models.length < 2;
  append(el, h('div', { class: 'row' }, add, run, cancel), hint, status, box);

  let timer = null;
  let runId = null;
  const setActive = (active) => {
    run.disabled = active || models.length < 2;
    cancel.hidden = !active;
    for (const b of document.querySelectorAll('[data-conflicts-with-run]')) b.disabled = active;
    const addable = !active && !tooFewRows;
    if (addable) {
      add.removeAttribute('aria-disabled');
      add.setAttribute('href', `#/leaderboards/${enc(lb.id)}/add-model`);
    } else {
      add.setAttribute('aria-disabled', 'true');
      add.removeAttribute('href');
    }
  };
  async function poll() {
    try {
      const r = await get(`api/runs/${enc(runId)}`);
      const p = r.progress || {};
      append(clear(status), h('span', { class: `status ${r.status}`, text: r.status }), ' ',
        h('progress', { max: p.shards_total || 1, value: p.shards_done || 0, 'aria-label': 'Run progress' }),
        ` ${p.shards_done ?? 0} / ${p.shards_total ?? '?'} shards done`,
        ' · ', h('a', { href: `#/runs/${enc(r.id)}`, text: 'open run' }));
      if (ACTIVE.has(r.status)) {
        setActive(true); // again each tick: the tab's own buttons render after the first one
        return;
      }
      clearInterval(timer);
      timer = null;
      setActive(false);
      ctx.announce(`Run ${r.status}.`);
      if (r.status === 'awaiting_review') append(status, ' ', h('a', { href: `#/runs/${enc(r.id)}/review`, text: 'Grade the outputs' }));
      if (ctx.onRunFinished) ctx.onRunFinished(r);
    } catch (err) {
      setError(box, err);
    }
  }
  const watch = (id) => {
    runId = id;
    setActive(true);
    poll();
    timer = setInterval(poll, 1000);
  };
  run.addEventListener('click', async () => {
    setError(box, null);
    run.disabled = true;
    try {
      const started = await post(`api/leaderboards/${enc(lb.id)}/runs`, {});
      ctx.announce(`Run started; estimated ${started.estimated_seconds} s.`);
      hint.textContent = `Estimated run time: ${started.estimated_seconds} s.`;
      watch(started.run_id);
    } catch (err) {
      setError(box, err);
      run.disabled = models.length < 2;
    }
  });
  cancel.addEventListener('click', async () => {
    try {
      await post(`api/runs/${enc(runId)}/cancel`, {});
      ctx.announce('Cancelling the run.');
    } catch (err) {
      setError(box, err);
    }
  });
  // The Detail tab's dataset status is newer than ours once rows are consolidated: Add Model
  // follows it (without a reload that would drop a dataset token shown once).
  const onStatus = (ev) => {
    if (ev.detail.leaderboard_id !== lb.id || lb.dataset.mode !== 'PUSH') return;
    rows = ev.detail.status.consolidated;
    rowCount = rows;
    needed = rowsNeeded(ev.detail.status);
    tooFewRows = rows < needed;
    sayHint();
    setActive(timer !== null);
  };
  document.addEventListener('drgero:dataset-status', onStatus);
  const ranking = await get(`api/leaderboards/${enc(lb.id)}/ranking`).catch(() => null);
  if (ranking && ranking.active_run_id) watch(ranking.active_run_id);
  return () => {
    document.removeEventListener('drgero:dataset-status', onStatus);
    if (timer) clearInterval(timer);
  };
}

// The verdict names models by id; people read names.
function withNames(text, lb) {
  if (!text) return text;
  return (lb.models || []).reduce((out, m) => out.split(m.id).join(m.name), text);
}

const nameOf = (lb) => (row) => row.name || ((lb.models || []).find((m) => m.id === row.model_id) || {}).name || row.model_id;

// ------------------------------------------------------------------ Ranking
export async function ranking(view, [id], ctx) {
  const content = h('div');
  const { lb, stop } = await header(view, id, 'ranking', { ...ctx, onRunFinished: () => ctx.go(`#/leaderboards/${enc(id)}`) });
  append(view, content);
  const r = await get(`api/leaderboards/${enc(id)}/ranking`);
  const name = nameOf(lb);
  const rows = [...(r.rows || [])].sort((a, b) => (a.rank ?? 99) - (b.rank ?? 99));
  const production = r.production ? ((lb.models || []).find((m) => m.id === r.production.model_id) || { name: r.production.model_id }) : null;
  append(content, h('section', { class: 'card', 'aria-labelledby': 'prod-title' },
    h('h2', { id: 'prod-title', text: 'Production model' }),
    h('p', { id: 'production-model' }, production ? h('strong', { text: production.name }) : 'None yet: run the leaderboard to pick a winner.',
      production ? ` (${r.production.strategy === 'manual' ? 'pinned by hand' : 'the ranking winner'})` : '')));
  if (!rows.length) {
    append(content, empty('No ranking yet. Attach at least two models and run the leaderboard.'));
  } else {
    const winner = rows[0];
    append(content, h('section', { 'aria-labelledby': 'rank-title' },
      h('h2', { id: 'rank-title', text: 'Ranking' }),
      h('p', { id: 'winner' }, 'Winner: ', h('strong', { text: name(winner) }), r.finished_at ? ` · run finished ${when(r.finished_at)}` : ''),
      h('p', { class: 'verdict', text: withNames(r.verdict, lb) || (r.winner_significant ? 'The winner is significantly better than the runner-up.' : 'The winner is not significantly better than the runner-up (the difference may be noise).') }),
      table([
        { label: 'Rank', key: 'rank' },
        { label: 'Model', render: (x) => name(x) },
        { label: 'Score', render: (x) => fmt(x.score) },
        { label: '95% CI', render: (x) => (x.ci_low === null || x.ci_low === undefined ? '—' : `${fmt(x.ci_low)} – ${fmt(x.ci_high)}`) },
        { label: 'n', key: 'n' },
        { label: 'Errors', key: 'errors' },
        { label: 'Cost', render: (x) => usd(x.cost_usd) },
        { label: 'Latency p50', render: (x) => ms(x.latency_p50_ms) },
        { label: 'Latency p95', render: (x) => ms(x.latency_p95_ms) },
      ], rows, { caption: 'Models ranked by score; ties broken by cost then latency' }),
      h('figure', {}, scoreChart(rows, name), h('figcaption', { text: 'Score per model; the whisker is the 95% confidence interval.' })),
      h('figure', {}, costScoreChart(rows, name), h('figcaption', { text: 'Cost against score: the best value sits top left.' }))));
    const history = await get(`api/leaderboards/${enc(id)}/runs?limit=20`).catch(() => null);
    const points = ((history && history.runs) || []).filter((x) => x.status === 'completed' && x.ranking && x.ranking.rows && x.ranking.rows.length)
      .reverse().map((x, i) => ({ label: `#${i + 1}`, score: Math.max(...x.ranking.rows.map((row) => Number(row.score) || 0)) }));
    if (points.length) append(content, h('figure', {}, winnerTrendChart(points), h('figcaption', { text: "The winner's score in each completed run, oldest first." })));
  }
  append(content, selectionCard(lb, r, ctx), endpointCard(lb));
  return stop;
}

function selectionCard(lb, r, ctx) {
  const box = errorBox();
  const models = lb.models || [];
  const strategy = select([['ranking_winner', 'Ranking winner (automatic)'], ['manual', 'Manual pin']], { value: (r.selection || {}).strategy || 'ranking_winner' });
  const model = select(models.map((m) => [m.id, m.name]), { value: (r.selection || {}).model_id || (models[0] || {}).id });
  const form = h('form', { class: 'card', 'aria-labelledby': 'sel-title' }, h('h2', { id: 'sel-title', text: 'Model selection' }),
    field('Strategy', strategy, { name: 'strategy' }), field('Pinned model', model, { name: 'model_id' }),
    h('button', { type: 'submit', text: 'Save selection', 'data-conflicts-with-run': true }), box);
  const sync = () => { model.disabled = strategy.value !== 'manual'; };
  strategy.addEventListener('change', sync);
  sync();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const body = strategy.value === 'manual' ? { strategy: 'manual', model_id: model.value } : { strategy: 'ranking_winner' };
      await put(`api/leaderboards/${enc(lb.id)}/selection`, body);
      ctx.announce('Selection saved.');
      ctx.go(`#/leaderboards/${enc(lb.id)}`);
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  return form;
}

function endpointCard(lb) {
  const base = apiBase();
  const url = `${base}/v1/leaderboard/${lb.id}/inference`;
  const curl = `curl -sS -X POST "${url}" \\\n  -H "Authorization: Bearer $DRGERO_TOKEN" \\\n  -H "Content-Type: application/json" \\\n  -d '{"input": "Your input here"}'`;
  const sdk = `from openai import OpenAI\n\nclient = OpenAI(base_url="${base}/v1", api_key=os.environ["DRGERO_TOKEN"])\nanswer = client.chat.completions.create(\n    model="leaderboard/${lb.id}",\n    messages=[{"role": "user", "content": "Your input here"}],\n)\nprint(answer.choices[0].message.content)`;
  return h('section', { class: 'card', 'aria-labelledby': 'ep-title' }, h('h2', { id: 'ep-title', text: 'Inference endpoint' }),
    h('p', { text: 'Call the production model with an API token that has the inference scope (create one under Tokens).' }),
    h('h3', { text: 'curl' }), copyBlock(curl, 'curl example'),
    h('h3', { text: 'OpenAI SDK (Python)' }), copyBlock(sdk, 'OpenAI SDK example'));
}

// ------------------------------------------------------------------ Detail
export async function detail(view, [id], ctx) {
  const { lb, stop } = await header(view, id, 'detail', ctx);
  append(view, modelsCard(lb, ctx));
  append(view, h('section', { class: 'card' }, h('h2', { text: 'System prompt' }), h('pre', { class: 'preview', text: lb.prompt })));
  append(view, h('section', { class: 'card' }, h('h2', { text: 'Dataset configuration' }), jsonBlock(lb.dataset, 'Dataset configuration')));
  if (lb.dataset.mode === 'PUSH') append(view, await pushCard(lb, ctx), rowsCard(lb, ctx));
  else append(view, h('section', { class: 'card' }, h('h2', { text: 'Dataset path' }), h('p', { text: lb.dataset.url })));
  append(view, h('section', { class: 'card' }, h('h2', { text: 'Evaluation' }), jsonBlock(lb.evaluation, 'Evaluation configuration')));
  append(view, h('section', { class: 'card' }, h('h2', { text: 'Traces' }),
    h('p', {}, h('a', { href: `#/traces?leaderboard_id=${enc(lb.id)}`, text: 'Open this leaderboard’s traces' })),
    h('p', { class: 'hint', text: `API: ${lb.traces_url}` })));
  append(view, scheduleCard(lb, ctx));
  return stop;
}

function modelsCard(lb, ctx) {
  const box = errorBox();
  const models = lb.models || [];
  const card = h('section', { class: 'card', 'aria-labelledby': 'models-title' }, h('h2', { id: 'models-title', text: 'Candidate models' }));
  if (!models.length) append(card, empty('No models attached yet: use Add Model.'));
  else {
    append(card, table([
      { label: 'Name', key: 'name' },
      { label: 'Platform', key: 'platform' },
      { label: 'Added', render: (m) => when(m.created_at) },
      {
        label: 'Remove',
        render: (m) => button('Remove', {
          class: 'danger small', 'aria-label': `Remove ${m.name}`, 'data-conflicts-with-run': true,
          onclick: async () => {
            if (!window.confirm(`Remove ${m.name} from this leaderboard?`)) return;
            try {
              await del(`api/leaderboards/${enc(lb.id)}/models/${enc(m.id)}`);
              ctx.announce(`${m.name} removed.`);
              ctx.go(`#/leaderboards/${enc(lb.id)}/detail`);
            } catch (err) {
              setError(box, err);
            }
          },
        }),
      },
    ], models));
  }
  append(card, box);
  return card;
}

async function pushCard(lb, ctx) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'push-title' }, h('h2', { id: 'push-title', text: 'Push dataset' }));
  const box = errorBox();
  const statusEl = h('div');
  const tokenArea = h('div', { id: 'dataset-token-area' });
  const pushUrl = `${apiBase()}/v1/leaderboard/${lb.id}/dataset/push`;
  const example = (token) => `curl -sS -X POST "${pushUrl}" \\\n  -H "Authorization: Bearer ${token}" \\\n  -H "Content-Type: application/json" \\\n  -d '{"input": "What did the user ask?", "output": "The answer your current LLM returned"}'`;
  async function drawStatus(quiet) {
    if (!quiet) append(clear(statusEl), loading());
    try {
      const st = await get(`v1/leaderboard/${enc(lb.id)}/dataset/status`);
      document.dispatchEvent(new CustomEvent('drgero:dataset-status', { detail: { leaderboard_id: lb.id, status: st } }));
      // A queued consolidation: look again each second (for a minute) until nothing is pending.
      const asked = consolidating.get(lb.id);
      if (asked && st.pending > 0 && Date.now() - asked < 60_000) {
        setTimeout(() => { if (statusEl.isConnected) drawStatus(true); }, 1000);
      } else consolidating.delete(lb.id);
      append(clear(statusEl), 
        h('dl', { class: 'stats' },
          h('dt', { text: 'Accepted' }), h('dd', { id: 'ds-accepted', text: String(st.accepted) }),
          h('dt', { text: 'Pending' }), h('dd', { id: 'ds-pending', text: String(st.pending) }),
          h('dt', { text: 'Consolidated' }), h('dd', { id: 'ds-consolidated', text: String(st.consolidated) }),
          h('dt', { text: 'Version' }), h('dd', { text: String(st.dataset.version) }),
          h('dt', { text: 'Today / this month' }), h('dd', { text: `${st.limits.accepted_today} / ${st.limits.accepted_this_month}` })),
        st.consolidated < rowsNeeded(st) ? h('p', { class: 'hint', text: `Models can be added from ${rowsNeeded(st)} consolidated rows (now ${st.consolidated}).` }) : null,
        h('h3', { text: 'Dataset tokens' }),
        st.tokens.length ? table([
          { label: 'Name', key: 'name' }, { label: 'Token', render: (t) => `${t.prefix}…${t.last4}` }, { label: 'Created', render: (t) => when(t.created_at) },
          {
            label: 'Revoke',
            render: (t) => button('Revoke', {
              class: 'danger small', 'aria-label': `Revoke dataset token ${t.prefix}…${t.last4}`,
              onclick: async () => {
                try {
                  await del(`api/leaderboards/${enc(lb.id)}/dataset/tokens/${enc(t.id)}`);
                  ctx.announce('Dataset token revoked.');
                  drawStatus();
                } catch (err) {
                  setError(box, err.notAvailable ? { message: 'Revoking dataset tokens is not available on this server yet.' } : err);
                }
              },
            }),
          },
        ], st.tokens) : empty('No dataset tokens yet.'),
        h('h3', { text: 'Recent batches' }),
        st.recent_batches.length ? table([
          { label: 'Batch', key: 'batch_id' }, { label: 'Rows', key: 'rows' }, { label: 'Received', render: (b) => when(b.received_at) },
          { label: 'State', render: (b) => (b.reason ? `${b.state}: ${b.reason}` : b.state) },
        ], st.recent_batches) : empty('No rows pushed yet.'));
    } catch (err) {
      clear(statusEl);
      setError(box, err);
    }
  }
  const tokenName = h('input', { type: 'text', maxlength: 100, value: 'production app' });
  const create = h('form', { class: 'inline' }, field('Token name', tokenName, { name: 'name' }), h('button', { type: 'submit', text: 'Create dataset token' }));
  create.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const t = await post(`v1/leaderboard/${enc(lb.id)}/dataset/tokens`, { name: tokenName.value });
      append(clear(tokenArea), secretOnce(t.token, 'dataset token'),
        h('h3', { text: 'Push a row with this token' }), copyBlock(example(t.token), 'push example'));
      drawStatus();
    } catch (err) {
      setError(box, err);
    }
  });
  const consolidate = button('Consolidate now', {
    class: 'secondary',
    onclick: async () => {
      try {
        const r = await post(`v1/leaderboard/${enc(lb.id)}/dataset/consolidate`, {});
        if (r.status === 'queued') consolidating.set(lb.id, Date.now());
        ctx.announce(r.status === 'queued' ? 'Consolidation queued.' : `Consolidated: version ${r.version}, ${r.rows} rows.`);
        ctx.go(`#/leaderboards/${enc(lb.id)}/detail`);
      } catch (err) {
        setError(box, err);
      }
    },
  });
  append(card, h('h3', { text: 'Webhook' }), h('p', {}, 'POST rows to ', h('code', { text: pushUrl }), ' with a dataset token (hpd_…) or an API token with leaderboards:write.'),
    create, tokenArea, h('div', { class: 'row' }, consolidate, button('Refresh status', { class: 'secondary', onclick: drawStatus })), statusEl, box);
  await drawStatus();
  return card;
}

function rowsCard(lb, ctx) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'rows-title' }, h('h2', { id: 'rows-title', text: 'Dataset rows' }),
    h('p', { class: 'hint', text: 'Deleting a row removes it from pending batches and from the next dataset version (it may hold personal data). The same id pushed again is dropped too.' }));
  const box = errorBox();
  const list = h('div');
  const cursors = [null];
  let page = 0;
  async function draw() {
    append(clear(list), loading());
    try {
      const cursor = cursors[page];
      const r = await get(`api/leaderboards/${enc(lb.id)}/dataset/rows?limit=10${cursor ? `&cursor=${enc(cursor)}` : ''}`);
      if (r.next_cursor) cursors[page + 1] = r.next_cursor;
      clear(list);
      if (!r.rows.length) { append(list, empty('No rows yet.')); return; }
      append(list, table([
        { label: 'Id', key: 'id' }, { label: 'State', key: 'state' }, { label: 'Input', render: (x) => h('span', { class: 'clip', text: x.input }) },
        { label: 'Output', render: (x) => h('span', { class: 'clip', text: x.output ?? '' }) },
        {
          label: 'Delete',
          render: (x) => button('Delete', {
            class: 'danger small', 'aria-label': `Delete row ${x.id}`,
            onclick: async () => {
              if (!window.confirm(`Delete row ${x.id}? It is removed from pending batches and from the next dataset version.`)) return;
              try {
                await post(`api/leaderboards/${enc(lb.id)}/dataset/rows/delete`, { row_ids: [x.id] });
                ctx.announce(`Row ${x.id} deleted.`);
                draw();
              } catch (err) {
                setError(box, err);
              }
            },
          }),
        },
      ], r.rows), h('div', { class: 'row' },
        button('Previous page', { class: 'secondary small', disabled: page === 0, onclick: () => { page -= 1; draw(); } }),
        h('span', { text: `Page ${page + 1}` }),
        button('Next page', { class: 'secondary small', disabled: !r.next_cursor, onclick: () => { page += 1; draw(); } })));
    } catch (err) {
      clear(list);
      setError(box, err.notAvailable ? { message: 'The row preview is not available on this server yet.' } : err);
    }
  }
  append(card, list, box);
  draw();
  return card;
}

function scheduleCard(lb, ctx) {
  const box = errorBox();
  const area = textarea({ rows: 3, spellcheck: 'false' });
  area.value = JSON.stringify(lb.schedule ?? null, null, 2);
  const form = h('form', { class: 'card', 'aria-labelledby': 'sched-title' }, h('h2', { id: 'sched-title', text: 'Schedule' }),
    field('Schedule JSON', area, { name: 'schedule', hint: 'For example {"cron": "0 3 * * *"}, or null for no schedule.' }),
    h('button', { type: 'submit', text: 'Save schedule' }), box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let value;
    try {
      value = JSON.parse(area.value || 'null');
    } catch {
      showErrors(form, box, { message: 'Not valid JSON.', details: [{ field: 'schedule', error: 'This is not valid JSON.' }] });
      return;
    }
    try {
      await patch(`api/leaderboards/${enc(lb.id)}`, { schedule: value });
      ctx.announce('Schedule saved.');
      showErrors(form, box, null);
    } catch (err) {
      showErrors(form, box, err);
    }
  });
  return form;
}

// ------------------------------------------------------------------ Run Logs
export async function runLogs(view, [id], ctx) {
  const { lb, stop } = await header(view, id, 'runs', { ...ctx, onRunFinished: () => ctx.go(`#/leaderboards/${enc(id)}/runs`) });
  const box = errorBox();
  append(view, box);
  let history;
  try {
    history = await get(`api/leaderboards/${enc(id)}/runs?limit=50`);
  } catch (err) {
    setError(box, err);
    return stop;
  }
  const runs = history.runs || [];
  if (!runs.length) {
    append(view, empty('No runs yet.'));
    return stop;
  }
  const name = nameOf(lb);
  append(view, table([
    { label: 'Run', render: (r) => h('a', { href: `#/runs/${enc(r.id)}`, text: r.id }) },
    { label: 'Source', render: (r) => r.source.replace('_', ' ') },
    { label: 'Status', render: (r) => h('span', { class: `status ${r.status}`, text: r.status }) },
    { label: 'Started', render: (r) => when(r.started_at || r.created_at) },
    { label: 'Finished', render: (r) => when(r.finished_at) },
    { label: 'Execution', render: (r) => (r.execution_seconds === null || r.execution_seconds === undefined ? '—' : `${fmt(r.execution_seconds)} s`) },
    { label: 'Total cost', render: (r) => usd(r.total_cost_usd ?? r.cost_usd) },
    { label: 'Ranking', render: (r) => (r.ranking && r.ranking.rows && r.ranking.rows.length ? [...r.ranking.rows].sort((a, b) => a.rank - b.rank).slice(0, 3).map((x) => `${x.rank}. ${name(x)} (${fmt(x.score)})`).join('; ') : '—') },
  ], runs, { caption: 'Runs, newest first' }));
  return stop;
}
