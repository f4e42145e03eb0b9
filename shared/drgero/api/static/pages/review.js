// Human review: grade the items of a run awaiting review, page by page; once every item is
// graded (or an admin closes the review) the run ranks on the grades and the ranking shows here.
import { enc, get, post } from '../lib/api.js';
import { append, button, clear, empty, errorBox, field, fmt, h, input, loading, select, setError, table } from '../lib/dom.js';

// The grade scales of a human evaluation (evaluation/config.py HumanOptions.scale).
const SCALES = { '0-1': [0, 1], '1-5': [1, 5], '0-10': [0, 10] };
const scaleWords = (scale) => (scale === 'pass_fail' ? 'pass or fail' : `a score from ${SCALES[scale][0]} to ${SCALES[scale][1]}`);

export async function review(view, [id], ctx) {
  const box = errorBox();
  const r = await get(`api/runs/${enc(id)}`);
  const lb = await get(`api/leaderboards/${enc(r.leaderboard_id)}`).catch(() => ({ name: r.leaderboard_id, models: [] }));
  const nameOf = (mid) => ((lb.models || []).find((m) => m.id === mid) || {}).name || mid;
  append(view, h('p', { class: 'crumbs' }, h('a', { href: `#/leaderboards/${enc(r.leaderboard_id)}/runs`, text: lb.name }), ' / ',
    h('a', { href: `#/runs/${enc(id)}`, text: `Run ${id}` }), ' /'), h('h1', { text: 'Human review' }), box);
  const area = h('div');
  append(view, area);
  let page = 0;
  let timer = null;
  const stop = () => { if (timer) { clearTimeout(timer); timer = null; } };

  async function draw() {
    stop();
    append(clear(area), loading());
    let listed;
    try {
      listed = await get(`api/runs/${enc(id)}/reviews?page=${page}`);
    } catch (err) {
      clear(area);
      setError(box, err);
      return;
    }
    clear(area);
    if (listed.status !== 'awaiting_review') { await finished(); return; }
    const total = listed.items_total ?? 0;
    append(area,
      h('p', { id: 'review-remaining', role: 'status', text: `${Math.max(0, total - listed.graded)} of ${total} items left to grade.` }),
      h('p', { class: 'hint', text: `Grade each output as ${scaleWords(listed.scale)}${listed.blind ? ' · model names hidden until the review closes' : ''}${listed.pages > 1 ? ` · page ${listed.page + 1} of ${listed.pages}` : ''}.` }));
    if (!listed.rows.length) { append(area, empty('Nothing to grade on this page.')); return; }
    const controls = [];
    // novalidate: the page says what is wrong next to the grade (the browser's bubble is easy to miss).
    const form = h('form', { 'aria-label': 'Grades', novalidate: true });
    for (const row of listed.rows) {
      const card = h('fieldset', { class: 'card' }, h('legend', { text: `Row ${row.row_id}` }),
        h('p', {}, h('a', { href: `#/runs/${enc(id)}?row=${row.row}`, text: `Row ${row.row_id} in the run's results` })),
        h('p', {}, h('strong', { text: 'Input: ' }), h('span', { class: 'pre', text: row.input ?? '' })),
        row.expected !== null && row.expected !== undefined ? h('p', {}, h('strong', { text: 'Expected: ' }), h('span', { class: 'pre', text: String(row.expected) })) : null,
        row.rubric ? h('p', {}, h('strong', { text: 'Rubric: ' }), h('span', { class: 'pre', text: row.rubric })) : null);
      const outputs = h('div', { class: 'side-by-side' });
      for (const item of row.items) {
        const who = item.model_id ? nameOf(item.model_id) : `output ${item.label}`;
        const graded = item.grade !== null && item.grade !== undefined;
        const control = listed.scale === 'pass_fail'
          ? select([['', 'Not graded'], ['true', 'Pass'], ['false', 'Fail']], { value: graded ? String(item.grade === true || item.grade === 1) : '' })
          : input({ type: 'number', step: 'any', min: SCALES[listed.scale][0], max: SCALES[listed.scale][1], value: graded ? item.grade : '' });
        controls.push({ item, control });
        append(outputs, h('div', { class: 'result' }, h('h4', { text: item.model_id ? who : `Output ${item.label}` }),
          h('p', { class: 'pre', text: item.output ?? '' }),
          field(`Row ${row.row_id}, ${who}`, control, { name: item.item_id, hint: listed.scale === 'pass_fail' ? null : `${SCALES[listed.scale][0]} to ${SCALES[listed.scale][1]}` })));
      }
      append(card, outputs);
      append(form, card);
    }
    const formBox = errorBox();
    append(form, h('div', { class: 'row' }, h('button', { type: 'submit', text: 'Save grades' }),
      listed.pages > 1 ? button('Previous page', { class: 'secondary', disabled: page === 0, onclick: () => { page -= 1; draw(); } }) : null,
      listed.pages > 1 ? button('Next page', { class: 'secondary', disabled: listed.next_page === null, onclick: () => { page += 1; draw(); } }) : null,
      ctx.session.is_admin ? button('Close the review and rank', { class: 'secondary', onclick: () => submit(true) }) : null), formBox);

    // A grade off the scale is said next to its control before anything is sent.
    function checked() {
      let first = null;
      for (const { control } of controls) {
        const slot = document.getElementById(`${control.id}-error`);
        slot.textContent = '';
        control.removeAttribute('aria-invalid');
        if (listed.scale === 'pass_fail' || control.value === '') continue;
        const [low, high] = SCALES[listed.scale];
        const value = Number(control.value);
        if (!Number.isFinite(value) || value < low || value > high) {
          slot.textContent = `Enter a number from ${low} to ${high}.`;
          control.setAttribute('aria-invalid', 'true');
          first = first || control;
        }
      }
      if (first) first.focus();
      return !first;
    }
    async function submit(close) {
      if (!checked()) return;
      const grades = controls
        .filter(({ item, control }) => control.value !== '' && control.value !== String(item.grade ?? ''))
        .map(({ item, control }) => ({ item_id: item.item_id, grade: listed.scale === 'pass_fail' ? control.value === 'true' : Number(control.value) }));
      if (!grades.length && !close) { setError(formBox, { message: 'Nothing new to save: grade at least one output.' }); return; }
      try {
        const saved = await post(`api/runs/${enc(id)}/reviews`, { grades, close });
        ctx.announce(close ? 'Review closed.' : `${grades.length} grades saved.`);
        setError(box, null);
        if (saved.status === 'awaiting_review') await draw();
        else await finished();
      } catch (err) {
        setError(formBox, err);
      }
    }
    form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(false); });
    append(area, form);
  }

  // The review is over: the run ranks on the grades (the aggregation may take a moment).
  async function finished() {
    stop();
    let run;
    try {
      run = await get(`api/runs/${enc(id)}`);
    } catch (err) {
      setError(box, err);
      return;
    }
    const rows = run.ranking && run.ranking.rows ? [...run.ranking.rows].sort((a, b) => (a.rank ?? 99) - (b.rank ?? 99)) : [];
    append(clear(area), h('p', { role: 'status', text: run.status === 'completed' ? 'Review complete: every grade is in and the run is ranked.' : `Review complete: the run is ${run.status}.` }));
    if (rows.length) {
      append(area, h('section', { id: 'review-ranking', 'aria-labelledby': 'review-ranking-title' },
        h('h2', { id: 'review-ranking-title', text: 'Ranking on the grades' }),
        table([{ label: 'Rank', key: 'rank' }, { label: 'Model', render: (x) => x.name || nameOf(x.model_id) }, { label: 'Score', render: (x) => fmt(x.score) }, { label: 'n', key: 'n' }], rows),
        h('p', {}, h('a', { href: `#/leaderboards/${enc(run.leaderboard_id)}`, text: 'Open the leaderboard’s Ranking' }))));
    } else if (['aggregating', 'awaiting_review', 'running'].includes(run.status)) {
      append(area, loading('Ranking the run on the grades…'));
      timer = setTimeout(finished, 1000);
    } else {
      append(area, empty('This run has no ranking.'));
    }
  }

  await draw();
  return stop;
}
