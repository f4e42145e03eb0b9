// Traces: the list filtered by leaderboard, kind and time; one trace's JSON.
import { enc, get } from '../lib/api.js';
import { append, button, clear, empty, errorBox, field, h, input, jsonBlock, loading, select, setError, showErrors, table, when } from '../lib/dom.js';

export async function traces(view, _p, ctx) {
  const boards = (await get('api/leaderboards').catch(() => ({ leaderboards: [] }))).leaderboards || [];
  const lb = select([['', 'All leaderboards'], ...boards.map((b) => [b.id, b.name])], { value: ctx.query.get('leaderboard_id') || '' });
  const kind = select([['', 'All kinds'], 'run', 'inference', 'dataset', 'manual', 'fine_tune']);
  const since = input({ type: 'datetime-local' });
  const until = input({ type: 'datetime-local' });
  const box = errorBox();
  const list = h('div', { id: 'trace-list' });
  const boardName = (lbId) => (boards.find((b) => b.id === lbId) || {}).name || lbId;
  let cursor = null;
  const form = h('form', { class: 'filters', 'aria-label': 'Filter traces' }, field('Leaderboard', lb, { name: 'leaderboard_id' }), field('Kind', kind, { name: 'kind' }),
    field('Since', since, { name: 'since' }), field('Until', until, { name: 'until' }), h('button', { type: 'submit', text: 'Show traces' }));
  append(view, h('h1', { text: 'Traces' }), form, box, list);
  async function load(reset) {
    // A window that ends before it starts: said next to Until, nothing is asked.
    if (since.value && until.value && new Date(since.value) >= new Date(until.value)) {
      showErrors(form, box, { message: 'Until must be after Since.', details: [{ field: 'until', error: 'Until must be after Since.' }] });
      return;
    }
    if (reset) { cursor = null; append(clear(list), loading()); }
    const q = new URLSearchParams();
    if (lb.value) q.set('leaderboard_id', lb.value);
    if (kind.value) q.set('kind', kind.value);
    if (since.value) q.set('since', new Date(since.value).toISOString());
    if (until.value) q.set('until', new Date(until.value).toISOString());
    if (cursor) q.set('cursor', cursor);
    try {
      const page = await get(`api/traces?${q}`);
      if (reset) clear(list);
      list.querySelector('.more')?.remove();
      if (!page.traces.length && reset) { append(list, empty('No traces match these filters.')); showErrors(form, box, null); return; }
      append(list, table([
        { label: 'Trace', render: (t) => h('a', { href: `#/traces/${enc(t.id || t.trace_id)}`, text: t.id || t.trace_id }) },
        { label: 'Kind', key: 'kind' }, { label: 'Status', key: 'status' }, { label: 'Leaderboard', render: (t) => (t.leaderboard_id ? boardName(t.leaderboard_id) : '—') },
        { label: 'When', render: (t) => when(t.created_at) },
      ], page.traces));
      cursor = page.next_cursor;
      if (cursor) append(list, button('Load more', { class: 'secondary more', onclick: () => load(false) }));
      showErrors(form, box, null);
    } catch (err) {
      clear(list);
      showErrors(form, box, err);
    }
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(true); });
  await load(true);
}

export async function trace(view, [id]) {
  const t = await get(`api/traces/${enc(id)}`);
  append(view, h('p', { class: 'crumbs' }, h('a', { href: '#/traces', text: 'Traces' }), ' /'), h('h1', { text: `Trace ${id}` }), jsonBlock(t, 'Trace JSON'));
}
