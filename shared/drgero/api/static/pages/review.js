// Human review: grade the items of a run awaiting review, page by page.
import { enc, get, post } from '../lib/api.js';
import { append, button, clear, empty, errorBox, field, h, input, select, setError } from '../lib/dom.js';

export async function review(view, [id], ctx) {
  const box = errorBox();
  append(view, h('p', { class: 'crumbs' }, h('a', { href: `#/runs/${enc(id)}`, text: `Run ${id}` }), ' /'), h('h1', { text: 'Human review' }), box);
  const area = h('div');
  append(view, area);
  let page = 0;
  async function draw() {
    clear(area);
    let r;
    try {
      r = await get(`api/runs/${enc(id)}/reviews?page=${page}`);
    } catch (err) {
      setError(box, err);
      return;
    }
    append(area, h('p', { text: `${r.graded} of ${r.items_total ?? '?'} items graded · scale ${r.scale}${r.blind ? ' · model names hidden' : ''} · page ${r.page + 1} of ${r.pages}` }));
    if (!r.rows.length) { append(area, empty('Nothing to grade on this page.')); return; }
    const controls = [];
    const form = h('form', {});
    for (const row of r.rows) {
      const card = h('fieldset', { class: 'card' }, h('legend', { text: `Row ${row.row}` }),
        h('p', {}, h('strong', { text: 'Input: ' }), h('span', { class: 'pre', text: row.input ?? '' })),
        row.expected ? h('p', {}, h('strong', { text: 'Expected: ' }), h('span', { class: 'pre', text: row.expected })) : null,
        row.rubric ? h('p', {}, h('strong', { text: 'Rubric: ' }), h('span', { class: 'pre', text: row.rubric })) : null);
      for (const item of row.items) {
        const control = r.scale === 'pass_fail'
          ? select([['', 'Not graded'], ['true', 'Pass'], ['false', 'Fail']], { value: item.grade === null || item.grade === undefined ? '' : String(item.grade === true || item.grade === 1) })
          : input({ type: 'number', step: 'any', value: item.grade ?? '' });
        controls.push([item.item_id, control, r.scale]);
        append(card, h('div', { class: 'result' }, h('h4', { text: item.model_id || item.label }), h('p', { class: 'pre', text: item.output ?? '' }),
          field(`Grade for ${item.model_id || item.label}`, control, { name: item.item_id })));
      }
      append(form, card);
    }
    const save = h('button', { type: 'submit', text: 'Save grades' });
    append(form, h('div', { class: 'row' }, save,
      button('Previous page', { class: 'secondary', disabled: page === 0, onclick: () => { page -= 1; draw(); } }),
      button('Next page', { class: 'secondary', disabled: r.next_page === null, onclick: () => { page += 1; draw(); } })));
    if (ctx.session.is_admin) append(form, button('Close the review and rank', { class: 'secondary', onclick: () => submit(true) }));
    async function submit(close) {
      const grades = controls.filter(([, c]) => c.value !== '').map(([itemId, c, scale]) => ({ item_id: itemId, grade: scale === 'pass_fail' ? c.value === 'true' : Number(c.value) }));
      try {
        await post(`api/runs/${enc(id)}/reviews`, { grades, close });
        ctx.announce(close ? 'Review closed.' : `${grades.length} grades saved.`);
        setError(box, null);
        draw();
      } catch (err) {
        setError(box, err);
      }
    }
    form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(false); });
    append(area, form);
  }
  await draw();
}
