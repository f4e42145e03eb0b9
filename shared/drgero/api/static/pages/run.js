// One run: its record, per-row results side by side (filters), compare with another run, export.
import { enc, get, optional } from '../lib/api.js';
import { append, button, clear, empty, errorBox, field, fmt, h, jsonBlock, loading, select, setError, table, usd, when } from '../lib/dom.js';

const FILTERS = [
  ['', 'All rows'], ['outcome=fail', 'Failures'], ['outcome=error', 'Errors'], ['disagreement=true', 'Disagreements'], ['winner_lost=true', 'Winner lost'],
];

export async function run(view, [id], ctx) {
  const r = await get(`api/runs/${enc(id)}`);
  const lb = await get(`api/leaderboards/${enc(r.leaderboard_id)}`).catch(() => ({ name: r.leaderboard_id, models: [] }));
  const nameOf = (mid) => ((lb.models || []).find((m) => m.id === mid) || {}).name || mid;
  append(view, h('p', { class: 'crumbs' }, h('a', { href: '#/leaderboards', text: 'Leaderboards' }), ' / ',
    h('a', { href: `#/leaderboards/${enc(r.leaderboard_id)}/runs`, text: lb.name }), ' / Run Logs /'),
  h('h1', { text: `Run ${r.id}` }),
  h('dl', { class: 'stats' },
    h('dt', { text: 'Status' }), h('dd', {}, h('span', { class: `status ${r.status}`, text: r.status })),
    h('dt', { text: 'Source' }), h('dd', { text: r.source }),
    h('dt', { text: 'Started' }), h('dd', { text: when(r.started_at || r.created_at) }),
    h('dt', { text: 'Finished' }), h('dd', { text: when(r.finished_at) }),
    h('dt', { text: 'Execution' }), h('dd', { text: r.execution_seconds === null || r.execution_seconds === undefined ? '—' : `${fmt(r.execution_seconds)} s` }),
    h('dt', { text: 'Total cost' }), h('dd', { text: usd(r.total_cost_usd ?? r.cost_usd) })));
  if (r.status === 'awaiting_review') append(view, h('p', {}, h('a', { class: 'button', href: `#/runs/${enc(r.id)}/review`, text: 'Grade the outputs (Human review)' })));
  if (r.error) append(view, h('p', { class: 'error-box', role: 'alert', text: typeof r.error === 'string' ? r.error : JSON.stringify(r.error) }));
  const rows = r.ranking && r.ranking.rows ? [...r.ranking.rows].sort((a, b) => a.rank - b.rank) : [];
  if (rows.length) {
    append(view, h('h2', { text: 'Ranking summary' }), table([
      { label: 'Rank', key: 'rank' }, { label: 'Model', render: (x) => x.name || nameOf(x.model_id) }, { label: 'Score', render: (x) => fmt(x.score) },
      { label: 'n', key: 'n' }, { label: 'Errors', key: 'errors' }, { label: 'Cost', render: (x) => usd(x.cost_usd) },
    ], rows));
  }
  // ?row=N (Human review's link to an item): the results start at that row, marked.
  const row = /^[0-9]{1,9}$/.test(ctx.query.get('row') || '') ? Number(ctx.query.get('row')) : null;
  append(view, resultsSection(r, nameOf, row), compareSection(r, ctx), exportSection(r),
    h('details', {}, h('summary', { text: 'Leaderboard configuration JSON' }), jsonBlock(r.leaderboard_config, 'Leaderboard configuration')),
    h('details', {}, h('summary', { text: 'Model configuration JSON' }), jsonBlock(r.model_configs, 'Model configuration')));
}

function resultsSection(r, nameOf, startRow) {
  const box = errorBox();
  const list = h('div', { id: 'results' });
  const filter = select(FILTERS, { id: 'results-filter' });
  const from = h('p', { class: 'hint' });
  let cursor = null;
  let marked = startRow;
  async function load(reset) {
    if (reset) { cursor = marked === null ? null : String(marked); append(clear(list), loading()); }
    clear(from);
    if (marked !== null) {
      append(from, 'Starting at the row Human review linked to (marked). ',
        button('Show every row', { class: 'secondary small', onclick: () => { marked = null; load(true); } }));
    }
    try {
      const q = [filter.value, 'limit=20', cursor ? `cursor=${enc(cursor)}` : ''].filter(Boolean).join('&');
      const page = await get(`api/runs/${enc(r.id)}/results?${q}`);
      if (reset) clear(list);
      list.querySelector('.more')?.remove();
      if (!page.rows.length && reset) append(list, empty('No rows match this filter.'));
      for (const row of page.rows) {
        const card = rowCard(row, nameOf);
        append(list, card);
        if (reset && row.row === marked) {
          card.classList.add('highlight');
          card.tabIndex = -1;
          // After the router has put the page in place (this answer comes later).
          setTimeout(() => { card.scrollIntoView({ block: 'start' }); card.focus({ preventScroll: true }); }, 0);
        }
      }
      cursor = page.next_cursor;
      if (cursor) append(list, button('Load more rows', { class: 'secondary more', onclick: () => load(false) }));
    } catch (err) {
      clear(list);
      if (err.notAvailable) append(list, h('p', { class: 'empty', id: 'results-unavailable', text: 'Per-row results are not available on this server yet.' }));
      else setError(box, err);
    }
  }
  filter.addEventListener('change', () => { marked = null; load(true); });
  load(true);
  return h('section', { 'aria-labelledby': 'results-title' }, h('h2', { id: 'results-title', text: 'Per-row results' }),
    field('Show', filter, { name: 'filter' }), from, list, box);
}

function rowCard(row, nameOf) {
  return h('article', { class: 'result-row card' },
    h('h3', { text: `Row ${row.row_id}` }),
    h('p', {}, h('strong', { text: 'Input: ' }), h('span', { class: 'pre', text: row.input ?? '' })),
    row.expected !== null && row.expected !== undefined ? h('p', {}, h('strong', { text: 'Expected: ' }), h('span', { class: 'pre', text: String(row.expected) })) : null,
    h('div', { class: 'side-by-side' }, (row.results || []).map((x) => h('div', { class: `result ${x.error ? 'error' : x.passed === false ? 'fail' : 'pass'}` },
      h('h4', { text: x.name || nameOf(x.model_id) }),
      h('p', { class: 'pre', text: x.error ? `Error: ${x.error}` : (x.output ?? '') }),
      h('p', { class: 'hint', text: `score ${fmt(x.score)} · ${x.latency_ms ?? '—'} ms · ${usd(x.cost_usd)}` }),
      x.judge ? h('p', { class: 'hint', text: `Judge: ${typeof x.judge === 'string' ? x.judge : (x.judge.reason || JSON.stringify(x.judge))}` }) : null))));
}

function compareSection(r, ctx) {
  const box = errorBox();
  const out = h('div');
  const other = select([]);
  const section = h('section', { 'aria-labelledby': 'cmp-title' }, h('h2', { id: 'cmp-title', text: 'Compare with another run' }));
  get(`api/leaderboards/${enc(r.leaderboard_id)}/runs?limit=50`).then((history) => {
    const runs = (history.runs || []).filter((x) => x.id !== r.id && x.status === 'completed');
    if (!runs.length) { append(section, empty('No other completed run to compare with.')); return; }
    append(other, ...runs.map((x) => h('option', { value: x.id, text: `${when(x.started_at || x.created_at)} (${x.id})` })));
    const go = button('Compare', {
      class: 'secondary',
      onclick: async () => {
        append(clear(out), loading());
        try {
          const c = await get(`api/runs/${enc(r.id)}/compare/${enc(other.value)}`);
          append(clear(out), jsonBlock(c, 'Comparison'));
        } catch (err) {
          clear(out);
          if (err.notAvailable) append(out, h('p', { class: 'empty', text: 'Comparing runs is not available on this server yet.' }));
          else setError(box, err);
        }
      },
    });
    append(section, field('Other run', other, { name: 'other' }), go, out, box);
  }).catch((err) => setError(box, err));
  return section;
}

function exportSection(r) {
  const box = errorBox();
  const progress = h('p', { class: 'hint', 'aria-live': 'polite' });
  const download = (format) => async () => {
    try {
      // Asked with the session header (never a secret in a URL).
      const { load } = await import('../lib/session.js');
      const s = load();
      const headers = { Authorization: `Bearer ${s.credential}` };
      if (s.kind === 'user') headers['X-Workspace-Id'] = s.workspace_id;
      // The export is a job: 202 while it is written (poll after Retry-After), then 200 with
      // a short-lived download URL (the file's Content-Disposition saves it).
      let res;
      for (let polls = 0; ; polls += 1) {
        res = await fetch(`api/runs/${enc(r.id)}/results/export?format=${format}&redirect=false`, { headers, credentials: 'omit', cache: 'no-store' });
        if (res.status !== 202) break;
        const wait = Number(res.headers.get('Retry-After')) || 2;
        if (polls >= 300) throw { message: 'The export is still being written; try again in a few minutes.' };
        progress.textContent = `Preparing the ${format.toUpperCase()} export…`;
        await new Promise((done) => setTimeout(done, wait * 1000));
      }
      if (res.status === 404) {
        const body = await res.json().catch(() => ({}));
        if (/No such route/.test(body.error?.message || '')) throw { message: 'Export is not available on this server yet.' };
        throw { message: body.error?.message || 'Not found.' };
      }
      if (!res.ok) throw { message: (await res.json().catch(() => ({}))).error?.message || `The server answered ${res.status}.` };
      progress.textContent = '';
      const ready = await res.json();
      const a = h('a', { href: ready.url, download: `run-${r.id}.${format}` });
      document.body.append(a);
      a.click();
      a.remove();
      setError(box, null);
    } catch (err) {
      progress.textContent = '';
      setError(box, err);
    }
  };
  return h('section', { 'aria-labelledby': 'exp-title' }, h('h2', { id: 'exp-title', text: 'Export' }),
    h('div', { class: 'row' }, button('Download JSONL', { class: 'secondary', onclick: download('jsonl') }), button('Download CSV', { class: 'secondary', onclick: download('csv') })), progress, box);
}
