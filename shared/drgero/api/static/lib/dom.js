// DOM helpers. Everything a user or a model wrote reaches the page as text (textContent, text
// nodes, attribute values): this module never parses HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

// Like Element.append, but absent children (null, undefined, false) are left out rather than
// written as the text "null": pages pass optional parts.
export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let uid = 0;
export const nextId = (prefix = 'f') => `${prefix}-${++uid}`;

// A labelled form control with its own error slot (filled by showErrors by field name).
export function field(label, control, { hint, name } = {}) {
  const id = control.id || nextId();
  control.id = id;
  if (name) control.name = name;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field', dataset: { field: name || control.name || '' } },
    h('label', { for: id, text: label }),
    control,
    hint ? h('p', { class: 'hint', id: hintId, text: hint }) : null,
    h('p', { class: 'field-error', id: errorId, role: 'alert' }));
  return wrap;
}

export const input = (attrs = {}) => h('input', { type: 'text', ...attrs });
export const textarea = (attrs = {}) => h('textarea', attrs);
export function select(options, attrs = {}) {
  const el = h('select', attrs);
  for (const opt of options) {
    const [value, label] = Array.isArray(opt) ? opt : [opt, opt];
    el.append(h('option', { value, text: label }));
  }
  if (attrs.value !== undefined) el.value = attrs.value;
  return el;
}
export const checkbox = (attrs = {}) => h('input', { type: 'checkbox', ...attrs });
export const button = (label, attrs = {}) => h('button', { type: 'button', ...attrs, text: label });

// A box saying what went wrong, in plain words; empty until set.
export function errorBox() {
  return h('div', { class: 'error-box', role: 'alert', 'aria-live': 'assertive' });
}
export function setError(box, err) {
  clear(box);
  if (!err) return;
  box.append(h('p', { text: describeError(err) }));
  const list = detailLines(err);
  if (list.length) box.append(h('ul', {}, list.map((line) => h('li', { text: line }))));
}

export function describeError(err) {
  if (!err) return '';
  if (err.status === 0) return 'The server could not be reached. Check your connection and retry.';
  if (err.status === 404 && err.notAvailable) return 'Not available on this server yet.';
  const message = err.message || 'Something went wrong.';
  const id = err.requestId ? ` (request ${err.requestId})` : '';
  return err.status >= 500 ? `${message}${id}` : message;
}

function detailLines(err) {
  const details = err && err.details;
  if (!Array.isArray(details)) return [];
  return details.map((d) => {
    if (d && typeof d === 'object') {
      const where = d.field || d.index;
      const what = d.error || d.message || d.msg || JSON.stringify(d);
      return where !== undefined && where !== '' ? `${where}: ${what}` : what;
    }
    return String(d);
  });
}

// Puts each field error next to its control (by data-field, longest matching prefix);
// the rest go to the form's box.
export function showErrors(form, box, err) {
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const details = Array.isArray(err && err.details) ? err.details : [];
  const fields = [...form.querySelectorAll('.field[data-field]')].filter((f) => f.dataset.field);
  const rest = [];
  for (const d of details) {
    const name = d && (d.field || (err.param ?? ''));
    const target = name && fields
      .filter((f) => name === f.dataset.field || name.startsWith(`${f.dataset.field}.`) || f.dataset.field.endsWith(`.${name}`))
      .sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
    if (target) {
      target.querySelector('.field-error').textContent = d.error || d.message || 'Not valid.';
      const control = target.querySelector('input, select, textarea');
      if (control) control.setAttribute('aria-invalid', 'true');
    } else rest.push(d);
  }
  const pointed = !details.length && err && err.details && err.details.field
    ? fields.find((f) => f.dataset.field === err.details.field) : null;
  if (pointed) {
    pointed.querySelector('.field-error').textContent = describeError(err);
    clear(box);
    return;
  }
  setError(box, err ? { ...err, message: err.message, details: rest } : null);
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status', text });
}
export function empty(text) {
  return h('p', { class: 'empty', text });
}

export function table(columns, rows, { caption, rowAttrs } = {}) {
  const t = h('table', {},
    caption ? h('caption', { text: caption }) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', text: c.label })))),
    h('tbody', {}, rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : {},
      columns.map((c) => {
        const value = c.render ? c.render(row) : row[c.key];
        return h('td', { 'data-label': c.label }, value instanceof Node ? value : fmt(value));
      })))));
  return h('div', { class: 'table-wrap' }, t);
}

export function fmt(value) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(3);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}
export const usd = (v) => (v === null || v === undefined ? 'unknown' : `$${Number(v).toFixed(v < 0.01 && v > 0 ? 6 : 4)}`);
export const ms = (v) => (v === null || v === undefined ? '—' : `${Math.round(v)} ms`);
export function when(v) {
  if (!v) return '—';
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
}

export function jsonBlock(value, label) {
  return h('pre', { class: 'json', tabindex: '0', 'aria-label': label || 'JSON' }, JSON.stringify(value, null, 2));
}

export function copyBlock(text, label) {
  const pre = h('pre', { class: 'code', tabindex: '0', 'aria-label': label }, text);
  const status = h('span', { class: 'copy-status', role: 'status' });
  const copy = button('Copy', {
    class: 'secondary small',
    'aria-label': `Copy ${label}`,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = 'Copied.';
      } catch {
        status.textContent = 'Select the text and copy it (the browser refused clipboard access).';
      }
    },
  });
  return h('div', { class: 'copy-block' }, pre, h('div', { class: 'row' }, copy, status));
}

export function tabs(items, active) {
  return h('nav', { class: 'tabs', 'aria-label': 'Leaderboard sections' },
    items.map(([href, label, key]) => h('a', { href, 'aria-current': key === active ? 'page' : null, text: label })));
}

export function secretOnce(secret, what) {
  return h('div', { class: 'secret-once', role: 'status' },
    h('p', { text: `Your new ${what}. Copy it now: it is shown once and never again.` }),
    copyBlock(secret, what));
}
