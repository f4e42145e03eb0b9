// Create Leaderboard: 1 Name, 2 System prompt (live preview), 3 Dataset (Get / Push),
// 4 Evaluation (Exact / Judge / Human). Nothing is created until the last step.
import { enc, post } from '../lib/api.js';
import { append, button, checkbox, clear, errorBox, field, h, input, select, setError, showErrors, textarea } from '../lib/dom.js';

const PLACEHOLDERS = ['{input}', '{question}', '{query}'];
const SAMPLE = 'What is the capital of France?';
const DEFAULT_PROMPT = 'Answer the following task as clearly and concisely as possible.\n\nInput:\n{input}';

// The contract's prompt rendering: each placeholder replaced by the input; with none, the
// input appended after a blank line. Other braces stay as written.
export function renderPrompt(prompt, sample) {
  if (PLACEHOLDERS.some((p) => prompt.includes(p))) {
    return PLACEHOLDERS.reduce((text, p) => text.split(p).join(sample), prompt);
  }
  return `${prompt}\n\n${sample}`;
}

const num = (el) => (el.value.trim() === '' ? null : Number(el.value));

export async function wizard(view, _params, { go, announce }) {
  const state = { step: 1 };
  const c = {
    name: input({ maxlength: 200, required: true, autocomplete: 'off' }),
    prompt: textarea({ rows: 8, maxlength: 100000 }),
    sample: input({ value: SAMPLE }),
    mode: 'PUSH',
    url: input({ type: 'url', placeholder: 'https://huggingface.co/datasets/owner/name/blob/main/test.jsonl', spellcheck: 'false' }),
    autoLimit: checkbox({ checked: true }),
    maxSamples: input({ type: 'number', min: 1, value: 5000 }),
    daily: input({ type: 'number', min: 1, value: 1000 }),
    monthly: input({ type: 'number', min: 1, value: 20000 }),
    everyEvents: input({ type: 'number', min: 1, value: 100 }),
    everyHours: input({ type: 'number', min: 0.1, step: 'any', value: 24 }),
    endDate: input({ type: 'date' }),
    evalType: 'exact',
    exactMode: select([
      ['text', 'Text: the output equals the expected answer (spacing and Unicode normalized)'],
      ['contains', 'Contains: the expected answer appears in the output'],
      ['number', 'Number: the same number'],
      ['json', 'JSON: the same JSON value'],
      ['choice', 'Choice: the same option (e.g. A, B, C)'],
      ['regex', 'Regex: the expected answer is a pattern the output matches'],
    ]),
    judgeProvider: select([['openrouter', 'OpenRouter']]),
    judgeModel: input({ value: 'openai/gpt-4o-mini', spellcheck: 'false' }),
    rubric: textarea({ rows: 4, placeholder: 'Score 1 when the answer is correct and complete, 0 otherwise.' }),
  };
  c.prompt.value = DEFAULT_PROMPT;
  let urlValidated = '';
  const box = errorBox();
  const body = h('div', { class: 'wizard-step' });
  const steps = ['Name', 'System prompt', 'Dataset', 'Evaluation'];
  const progress = h('ol', { class: 'steps', 'aria-label': 'Steps' });
  const back = button('Back', { class: 'secondary' });
  const next = h('button', { type: 'submit', text: 'Continue' });
  const form = h('form', { novalidate: true, 'aria-labelledby': 'wizard-title' }, progress, body, h('div', { class: 'row' }, back, next), box);
  append(view, h('h1', { id: 'wizard-title', text: 'Create Leaderboard' }), form);

  const preview = h('pre', { class: 'preview', 'aria-live': 'polite', 'aria-label': 'Rendered prompt preview' });
  const updatePreview = () => { preview.textContent = renderPrompt(c.prompt.value, c.sample.value); };
  c.prompt.addEventListener('input', updatePreview);
  c.sample.addEventListener('input', updatePreview);
  c.url.addEventListener('input', () => { urlValidated = ''; });

  function radios(name, options, value, onchange) {
    return h('fieldset', { class: 'choices' }, h('legend', { text: name }), options.map(([v, label, hint]) => {
      const id = `${name}-${v}`.replace(/\W+/g, '-').toLowerCase();
      const r = h('input', { type: 'radio', name, id, value: v, checked: v === value, onchange: () => onchange(v) });
      return h('div', { class: 'choice' }, r, h('label', { for: id }, h('strong', { text: label }), hint ? h('span', { class: 'hint', text: ` ${hint}` }) : null));
    }));
  }

  function draw() {
    clear(body);
    append(clear(progress), ...steps.map((s, i) => h('li', { 'aria-current': i + 1 === state.step ? 'step' : null, class: i + 1 < state.step ? 'done' : '', text: `${i + 1} ${s}` })));
    back.disabled = state.step === 1;
    next.textContent = state.step === 4 ? 'Create leaderboard' : 'Continue';
    setError(box, null);
    if (state.step === 1) {
      append(body, h('h2', { text: '1 Name' }), field('Leaderboard name', c.name, { name: 'name', hint: 'Also the name of its challenge.' }));
    } else if (state.step === 2) {
      updatePreview();
      append(body, h('h2', { text: '2 System prompt' }),
        field('System prompt', c.prompt, { name: 'prompt', hint: 'Write {input}, {question} or {query} where each row’s input goes; every one is replaced by the input. Without a placeholder, the input is appended after a blank line. Other braces (JSON included) stay as written.' }),
        field('Sample input for the preview', c.sample, { name: 'sample' }),
        h('h3', { text: 'Preview of the rendered prompt' }), preview);
    } else if (state.step === 3) {
      append(body, h('h2', { text: '3 Dataset' }), radios('Dataset mode', [
        ['GET', 'Get dataset', 'Read a .jsonl or .jsonl.gz file of a Hugging Face dataset.'],
        ['PUSH', 'Push dataset', 'Your app sends rows through a webhook; they are consolidated into a dataset.'],
      ], c.mode, (v) => { c.mode = v; draw(); }));
      if (c.mode === 'GET') {
        append(body, field('Hugging Face URL', c.url, { name: 'dataset.url', hint: 'Checked before you continue (nothing is read or stored yet).' }));
      } else {
        append(body, h('div', { class: 'grid2' },
          h('div', { class: 'field check' }, c.autoLimit, h('label', { for: c.autoLimit.id || (c.autoLimit.id = 'auto-limit'), text: 'Auto-limit dataset size' })),
          field('Maximum samples to keep', c.maxSamples, { name: 'dataset.max_samples' }),
          field('Daily accepted-row limit', c.daily, { name: 'dataset.daily_limit' }),
          field('Monthly accepted-row limit', c.monthly, { name: 'dataset.monthly_limit' }),
          field('Consolidate every N events', c.everyEvents, { name: 'dataset.consolidate_every_events' }),
          field('Consolidate every N hours', c.everyHours, { name: 'dataset.consolidate_every_hours' }),
          field('End date (optional)', c.endDate, { name: 'dataset.end_date', hint: 'No rows are accepted after this day.' })));
      }
    } else {
      append(body, h('h2', { text: '4 Evaluation' }), radios('Evaluation type', [
        ['exact', 'Exact', 'Deterministic comparison with the expected output.'],
        ['judge', 'Judge', 'A judge model scores each output against a rubric.'],
        ['human', 'Human', 'People grade the outputs in Human review.'],
      ], c.evalType, (v) => { c.evalType = v; draw(); }));
      if (c.evalType === 'exact') append(body, field('Matching mode', c.exactMode, { name: 'evaluation.mode' }));
      if (c.evalType === 'judge') {
        append(body, field('Judge provider', c.judgeProvider, { name: 'evaluation.provider', hint: 'Uses the workspace’s OpenRouter integration.' }),
          field('Judge model', c.judgeModel, { name: 'evaluation.judge_model' }),
          field('Rubric', c.rubric, { name: 'evaluation.rubric' }));
      }
    }
    const first = body.querySelector('input, textarea, select');
    if (first) first.focus();
  }

  function payload() {
    const dataset = c.mode === 'GET' ? { mode: 'GET', url: c.url.value.trim() } : {
      mode: 'PUSH',
      auto_limit: c.autoLimit.checked,
      max_samples: num(c.maxSamples),
      daily_limit: num(c.daily),
      monthly_limit: num(c.monthly),
      consolidate_every_events: num(c.everyEvents),
      consolidate_every_hours: num(c.everyHours),
      end_date: c.endDate.value || null,
    };
    let evaluation = { type: c.evalType };
    if (c.evalType === 'exact') evaluation = { type: 'exact', mode: c.exactMode.value };
    if (c.evalType === 'judge') evaluation = { type: 'judge', judge_model: c.judgeModel.value.trim() || null, rubric: c.rubric.value || null };
    return { name: c.name.value, prompt: c.prompt.value, dataset, evaluation };
  }

  function localCheck() {
    if (state.step === 1 && !c.name.value.trim()) return { field: 'name', error: 'Give the leaderboard a name.' };
    if (state.step === 2 && !c.prompt.value.trim()) return { field: 'prompt', error: 'Write the task prompt.' };
    return null;
  }

  async function validateUrl() {
    const url = c.url.value.trim();
    if (!url) return { field: 'dataset.url', error: 'Paste the URL of a .jsonl or .jsonl.gz file.' };
    if (urlValidated === url) return null;
    next.disabled = true;
    next.textContent = 'Checking the URL…';
    try {
      const answer = await post('api/datasets/validate', { url });
      if (!answer.valid) return { field: 'dataset.url', error: answer.message };
      urlValidated = url;
      announce(`Dataset found: ${answer.repo} at ${answer.revision}.`);
      return null;
    } catch (err) {
      if (err.notAvailable) return null; // validated when the leaderboard is created
      throw err;
    } finally {
      next.disabled = false;
      next.textContent = 'Continue';
    }
  }

  back.addEventListener('click', () => { state.step -= 1; draw(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      let problem = localCheck();
      if (!problem && state.step === 3 && c.mode === 'GET') problem = await validateUrl();
      if (problem) {
        showErrors(form, box, { message: problem.error, details: [problem] });
        return;
      }
      if (state.step < 4) {
        state.step += 1;
        draw();
        return;
      }
      next.disabled = true;
      const created = await post('api/leaderboards', payload());
      announce(`Leaderboard ${created.name} created.`);
      go(`#/leaderboards/${enc(created.id)}/detail`);
    } catch (err) {
      next.disabled = false;
      // Send the person back to the step holding the field the server refused.
      const fieldName = (Array.isArray(err.details) && err.details[0] && err.details[0].field) || '';
      const stepOf = fieldName.startsWith('dataset') ? 3 : fieldName.startsWith('evaluation') ? 4 : fieldName === 'prompt' ? 2 : fieldName === 'name' ? 1 : state.step;
      if (stepOf !== state.step) { state.step = stepOf; draw(); }
      showErrors(form, box, err);
    }
  });
  draw();
}
