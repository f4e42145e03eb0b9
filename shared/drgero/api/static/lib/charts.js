// Small SVG charts, built node by node (labels are text nodes: model names are user data).
const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function frame(width, height, title, desc) {
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart' });
  const titleId = `t${Math.random().toString(36).slice(2)}`;
  svg.setAttribute('aria-labelledby', titleId);
  svg.append(s('title', { id: titleId }, title));
  if (desc) svg.append(s('desc', {}, desc));
  return svg;
}

const clamp01 = (v) => Math.max(0, Math.min(1, Number(v) || 0));
const short = (text, n = 28) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

// One row per model: the score as a dot, its 95% confidence interval as a whisker.
export function scoreChart(rows, nameOf) {
  const left = 190;
  const width = 640;
  const rowH = 28;
  const height = 40 + rows.length * rowH;
  const x = (v) => left + clamp01(v) * (width - left - 20);
  const svg = frame(width, height, 'Score per model with 95% confidence interval',
    rows.map((r) => `${nameOf(r)}: ${r.score ?? 'no score'}`).join('; '));
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(s('line', { x1: x(t), x2: x(t), y1: 10, y2: height - 20, class: 'grid' }));
    svg.append(s('text', { x: x(t), y: height - 5, 'text-anchor': 'middle', class: 'axis' }, t.toFixed(2)));
  }
  rows.forEach((r, i) => {
    const y = 24 + i * rowH;
    svg.append(s('text', { x: left - 8, y: y + 4, 'text-anchor': 'end', class: 'label' }, short(nameOf(r))));
    if (r.ci_low !== null && r.ci_low !== undefined && r.ci_high !== null && r.ci_high !== undefined) {
      svg.append(s('line', { x1: x(r.ci_low), x2: x(r.ci_high), y1: y, y2: y, class: 'whisker' }));
      svg.append(s('line', { x1: x(r.ci_low), x2: x(r.ci_low), y1: y - 6, y2: y + 6, class: 'whisker' }));
      svg.append(s('line', { x1: x(r.ci_high), x2: x(r.ci_high), y1: y - 6, y2: y + 6, class: 'whisker' }));
    }
    if (r.score !== null && r.score !== undefined) svg.append(s('circle', { cx: x(r.score), cy: y, r: 5, class: i === 0 ? 'dot winner' : 'dot' }));
  });
  return svg;
}

// Cost (x) against score (y): the cheap good models sit top left. A model whose cost (or
// score) is unknown gets no point (never one at $0): it is named under the plot instead.
const known = (v) => v !== null && v !== undefined && Number.isFinite(Number(v));

export function costScoreChart(rows, nameOf) {
  const width = 640;
  const pad = { l: 50, r: 20, t: 15, b: 40 };
  const plotH = 300;
  const priced = rows.filter((r) => known(r.cost_usd) && known(r.score));
  const unpriced = rows.filter((r) => !priced.includes(r));
  const height = plotH + (unpriced.length ? 10 + unpriced.length * 18 : 0);
  const svg = frame(width, height, 'Cost against score per model',
    rows.map((r) => `${nameOf(r)}: score ${known(r.score) ? r.score : 'unknown'}, cost ${known(r.cost_usd) ? `$${r.cost_usd}` : 'unknown'}`).join('; '));
  svg.classList.add('cost-score');
  const maxCost = Math.max(...priced.map((r) => Number(r.cost_usd)), 0) || 1;
  // Some room right of the dearest point, so its label stays inside the chart.
  const x = (v) => pad.l + (Number(v) / (maxCost * 1.25)) * (width - pad.l - pad.r);
  const y = (v) => plotH - pad.b - clamp01(v) * (plotH - pad.t - pad.b);
  svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: plotH - pad.b, y2: plotH - pad.b, class: 'axis-line' }));
  svg.append(s('line', { x1: pad.l, x2: pad.l, y1: pad.t, y2: plotH - pad.b, class: 'axis-line' }));
  svg.append(s('text', { x: width / 2, y: plotH - 8, 'text-anchor': 'middle', class: 'axis' }, `cost (USD, up to $${maxCost < 0.01 ? maxCost.toPrecision(2) : maxCost.toFixed(2)})`));
  svg.append(s('text', { x: 12, y: plotH / 2, transform: `rotate(-90 12 ${plotH / 2})`, 'text-anchor': 'middle', class: 'axis' }, 'score'));
  for (const r of priced) {
    svg.append(s('circle', { cx: x(r.cost_usd), cy: y(r.score), r: 5, class: 'dot' }));
    svg.append(s('text', { x: x(r.cost_usd) + 8, y: y(r.score) - 6, class: 'label small' }, short(nameOf(r), 22)));
  }
  if (!priced.length) svg.append(s('text', { x: width / 2, y: plotH / 2, 'text-anchor': 'middle', class: 'axis' }, 'No costs known yet'));
  unpriced.forEach((r, i) => {
    const what = known(r.cost_usd) ? 'score unknown' : 'cost unknown';
    svg.append(s('text', { x: pad.l, y: plotH + 14 + i * 18, class: 'label small' }, `${short(nameOf(r), 40)}: ${what}`));
  });
  return svg;
}

// The winner's score across completed runs, oldest to newest.
export function winnerTrendChart(points) {
  const width = 640;
  const height = 220;
  const pad = { l: 50, r: 20, t: 15, b: 35 };
  const svg = frame(width, height, "Winner's score across runs",
    points.map((p) => `${p.label}: ${p.score}`).join('; '));
  const n = points.length;
  const x = (i) => pad.l + (n <= 1 ? 0.5 : i / (n - 1)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - clamp01(v) * (height - pad.t - pad.b);
  for (const t of [0, 0.5, 1]) {
    svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: y(t), y2: y(t), class: 'grid' }));
    svg.append(s('text', { x: pad.l - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'axis' }, t.toFixed(1)));
  }
  if (n > 1) svg.append(s('polyline', { points: points.map((p, i) => `${x(i)},${y(p.score)}`).join(' '), class: 'trend' }));
  points.forEach((p, i) => {
    svg.append(s('circle', { cx: x(i), cy: y(p.score), r: 4, class: 'dot' }));
    svg.append(s('text', { x: x(i), y: height - 12, 'text-anchor': 'middle', class: 'axis' }, p.label));
  });
  return svg;
}
