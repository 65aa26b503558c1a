// Charts as SVG markup: time series as lines, and grouped bars. No library: the page works
// offline and the charts are a few dozen lines.

import { escape } from './format.js';

const W = 640, H = 220, L = 52, R = 12, T = 12, B = 28;

function niceMax(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

function clock(unixSeconds) {
  return new Date(unixSeconds * 1000).toISOString().slice(11, 16);
}

function legend(series) {
  return `<div class="legend">${series.map((s) => `<span><i class="swatch" data-color="${escape(s.color)}"></i>${escape(s.name)}</span>`).join('')}</div>`;
}

// Colours legend swatches after the markup is in the page (no inline styles allowed).
export function paintLegends(root) {
  for (const swatch of root.querySelectorAll('i.swatch')) swatch.style.background = swatch.dataset.color;
}

// series: [{ name, color, points: [[unixSeconds, value], …] }]; yFormat formats the axis.
export function lineChart(series, { yFormat = String, unit = '', label = '' } = {}) {
  const all = series.flatMap((s) => s.points);
  if (all.length < 2) return `<p class="muted">Not enough history yet for ${escape(label || 'a chart')} (it fills in as blocks are finalized).</p>`;
  const x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  const yMax = niceMax(Math.max(...all.map((p) => p[1])));
  const x = (t) => L + ((t - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const y = (v) => H - B - (v / yMax) * (H - T - B);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => `<line x1="${L}" x2="${W - R}" y1="${y(f * yMax)}" y2="${y(f * yMax)}" stroke="#e3e6eb"/><text x="${L - 6}" y="${y(f * yMax) + 4}" text-anchor="end">${escape(yFormat(f * yMax))}</text>`).join('');
  const ticks = [0, 0.5, 1].map((f) => { const t = x0 + f * (x1 - x0); return `<text x="${x(t)}" y="${H - 8}" text-anchor="middle">${clock(t)}</text>`; }).join('');
  const lines = series.map((s) => s.points.length < 2 ? '' : `<polyline fill="none" stroke="${escape(s.color)}" stroke-width="2" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`).join('');
  return `${legend(series)}<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escape(label)}">${grid}${ticks}${lines}<text x="${L}" y="${T - 2}">${escape(unit)}</text></svg>`;
}

// groups: [{ label, values: [number per series] }]; series: [{ name, color }].
export function barChart(groups, series, { yFormat = String, unit = '', label = '' } = {}) {
  if (groups.length === 0) return `<p class="muted">Nothing to chart yet.</p>`;
  const yMax = niceMax(Math.max(...groups.flatMap((g) => g.values)));
  const y = (v) => H - B - (v / yMax) * (H - T - B);
  const slot = (W - L - R) / groups.length;
  const width = Math.max(2, (slot * 0.8) / series.length);
  const grid = [0, 0.5, 1].map((f) => `<line x1="${L}" x2="${W - R}" y1="${y(f * yMax)}" y2="${y(f * yMax)}" stroke="#e3e6eb"/><text x="${L - 6}" y="${y(f * yMax) + 4}" text-anchor="end">${escape(yFormat(f * yMax))}</text>`).join('');
  const bars = groups.map((g, i) => g.values.map((v, j) => {
    const left = L + i * slot + slot * 0.1 + j * width;
    return `<rect x="${left.toFixed(1)}" y="${y(v).toFixed(1)}" width="${width.toFixed(1)}" height="${(H - B - y(v)).toFixed(1)}" fill="${escape(series[j].color)}"><title>${escape(g.label)}: ${escape(series[j].name)} ${escape(yFormat(v))}</title></rect>`;
  }).join('') + (groups.length <= 24 ? `<text x="${(L + i * slot + slot / 2).toFixed(1)}" y="${H - 8}" text-anchor="middle">${escape(g.label)}</text>` : '')).join('');
  return `${legend(series)}<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escape(label)}">${grid}${bars}<text x="${L}" y="${T - 2}">${escape(unit)}</text></svg>`;
}
