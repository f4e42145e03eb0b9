// Leaderboards: the list (name, dataset mode, evaluation, production model, last run).
import { enc, get, optional } from '../lib/api.js';
import { append, empty, errorBox, h, setError, table, when } from '../lib/dom.js';

export async function list(view) {
  const box = errorBox();
  append(view, h('div', { class: 'page-head' }, h('h1', { text: 'Leaderboards' }),
    h('a', { class: 'button', href: '#/leaderboards/new', text: 'Create Leaderboard' })), box);
  let boards;
  try {
    boards = (await get('api/leaderboards')).leaderboards || [];
  } catch (err) {
    setError(box, err);
    return;
  }
  if (!boards.length) {
    append(view, empty('No leaderboards yet. Create one to compare models on your task.'));
    return;
  }
  const [lastRuns, rankings] = await Promise.all([
    Promise.all(boards.map((b) => optional(get(`api/leaderboards/${enc(b.id)}/runs?limit=1`)).catch(() => null))),
    Promise.all(boards.map((b) => get(`api/leaderboards/${enc(b.id)}/ranking`).catch(() => null))),
  ]);
  const rows = boards.map((b, i) => {
    const run = lastRuns[i] && lastRuns[i].runs && lastRuns[i].runs[0];
    const production = rankings[i] && rankings[i].production ? rankings[i].production.model_id : null;
    const model = (b.models || []).find((m) => m.id === production);
    return { ...b, run, productionName: model ? model.name : (production || '') };
  });
  append(view, table([
    { label: 'Name', render: (r) => h('a', { href: `#/leaderboards/${enc(r.id)}`, text: r.name }) },
    { label: 'Dataset', render: (r) => r.dataset.mode },
    { label: 'Evaluation', render: (r) => r.evaluation.type },
    { label: 'Production model', render: (r) => r.productionName || 'none yet' },
    { label: 'Last run', render: (r) => (r.run ? when(r.run.started_at || r.run.created_at) : 'never') },
    { label: 'Status', render: (r) => (r.run ? h('span', { class: `status ${r.run.status}`, text: r.run.status }) : '—') },
  ], rows, { caption: `${rows.length} leaderboard${rows.length === 1 ? '' : 's'}` }));
}
