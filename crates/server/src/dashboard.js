// The aisle dashboard: four pages (Impact, Experiments, Models, Shop) drawn from the JSON API with
// small hand-made SVG charts; no library, no network beyond this server. Every loader catches its
// own failure and shows it in the page, so a failing endpoint never leaves a rejected promise.
'use strict';

const $ = id => document.getElementById(id);
const DAY = 864e5, HOUR = 36e5;
// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#d55e00', '#56b4e9', '#000000', '#8c6d1f'];
const VERDICT_COLOUR = { better: '#00795a', worse: '#b8430a', inconclusive: '#7a8394' };

// ---- API and formatting -------------------------------------------------------------------

const key = $('key');
key.value = localStorage.getItem('aisle-key') || '';
key.onchange = () => { localStorage.setItem('aisle-key', key.value); header(); show(current); };

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** JSON from `path`; throws an ApiError naming the route, the status and the server's message. */
async function api(path, opts = {}) {
  const headers = { 'content-type': 'application/json', ...(key.value ? { 'x-api-key': key.value } : {}) };
  let r;
  try {
    r = await fetch(path, { ...opts, headers });
  } catch (e) {
    throw new ApiError(0, `${path.split('?')[0]}: the server cannot be reached (${e.message})`);
  }
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!r.ok) {
    const why = (body && body.message) || r.statusText || 'failed';
    throw new ApiError(r.status, `${path.split('?')[0]}: ${r.status} ${why}`);
  }
  return body;
}

const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const fin = x => typeof x === 'number' && Number.isFinite(x);
const int = x => fin(x) ? Math.round(x).toLocaleString() : '—';
const pct = (x, d = 2) => fin(x) ? `${(100 * x).toFixed(d)}%` : '—';
const money = x => fin(x) ? x.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '—';
const signed = (x, f) => !fin(x) ? '—' : (x > 0 ? '+' : x < 0 ? '−' : '±') + f(Math.abs(x));
const pval = p => !fin(p) ? '—' : p < 0.001 ? p.toExponential(1) : p.toFixed(3);
const interval = (m, f) => `${f(m.value)}<br><span class="ci">[${f(m.low)}, ${f(m.high)}]</span>`;
const utcDay = ms => new Date(ms).toLocaleDateString(undefined, { timeZone: 'UTC', day: 'numeric', month: 'short' });
const utcHour = ms => `${utcDay(ms)} ${String(new Date(ms).getUTCHours()).padStart(2, '0')}h`;
const local = ms => fin(ms) ? new Date(ms).toLocaleString() : '—';
const r1 = v => Math.round(v * 10) / 10;

const error = e => `<p class="error" role="alert">${esc(e && e.message ? e.message : e)}</p>`;
const tokens = {};

/** Runs loader `fn` for element `el`: marks it `data-ready` when done, shows a failure in it, and
 * drops what an older run of the same loader returns after a newer one started. */
async function run(el, fn) {
  const t = tokens[el.id] = (tokens[el.id] || 0) + 1;
  const stale = () => tokens[el.id] !== t;
  delete el.dataset.ready;
  try {
    await fn(stale);
    if (!stale()) el.dataset.ready = '1';
  } catch (e) {
    if (!stale()) { el.innerHTML = error(e); el.dataset.ready = 'error'; }
  }
}

// ---- charts -------------------------------------------------------------------------------

/** About `n` round tick values covering [lo, hi]. */
function niceTicks(lo, hi, n = 4) {
  if (!(hi > lo)) hi = lo + (Math.abs(lo) || 1);
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw)), e = raw / mag;
  const step = (e >= 7.5 ? 10 : e >= 3.5 ? 5 : e >= 1.5 ? 2 : 1) * mag;
  const start = Math.floor(lo / step + 1e-9) * step, count = Math.ceil((hi - start) / step - 1e-9);
  return Array.from({ length: count + 1 }, (_, i) => +(start + i * step).toPrecision(12));
}

/** Splits points sorted by x where a bucket is missing, so lines do not bridge empty buckets. */
function segments(pts, step) {
  const out = [];
  for (const p of pts) {
    const last = out.at(-1);
    if (last && (!step || p.x - last.at(-1).x <= step * 1.5)) last.push(p); else out.push([p]);
  }
  return out;
}

/**
 * A line chart. `series`: [{name, colour, pts: [{x, y, lo?, hi?, tip?, label?, ring?}]}]; `lo`/`hi`
 * draw the interval as a band (an error bar where a point stands alone).
 */
function lineChart({ label, series, x0, x1, step, xFmt, yFmt, zero = true, xTicks, W = 560, H = 210 }) {
  const L = 62, R = 16, T = 14, B = 26, pw = W - L - R, ph = H - T - B;
  const ys = series.flatMap(s => s.pts.flatMap(p => [p.y, p.lo, p.hi])).filter(fin);
  let lo = zero ? 0 : Math.min(...ys), hi = ys.length ? Math.max(...ys) : 1;
  if (!zero) { const pad = (hi - lo) * 0.15 || Math.abs(hi) * 0.05 || 0.01; lo -= pad; hi += pad; }
  const ticks = niceTicks(lo, hi, 4);
  [lo, hi] = [ticks[0], ticks.at(-1)];
  const sx = x => r1(L + (x1 > x0 ? (x - x0) / (x1 - x0) * pw : pw / 2));
  const sy = y => r1(T + (1 - (y - lo) / (hi - lo)) * ph);
  let g = '';
  for (const t of ticks) {
    g += `<line class="grid" x1="${L}" x2="${W - R}" y1="${sy(t)}" y2="${sy(t)}"/>`
      + `<text x="${L - 6}" y="${sy(t) + 4}" text-anchor="end">${esc(yFmt(t))}</text>`;
  }
  g += `<line class="axis" x1="${L}" x2="${W - R}" y1="${T + ph}" y2="${T + ph}"/>`;
  let xs = xTicks;
  if (!xs) {
    const n = step ? Math.round((x1 - x0) / step) + 1 : 2, every = Math.max(1, Math.ceil(n / 6));
    xs = step ? Array.from({ length: Math.ceil(n / every) }, (_, i) => x0 + i * every * step) : [x0, x1];
  }
  for (const t of xs) g += `<text x="${sx(t)}" y="${H - 8}" text-anchor="middle">${esc(xFmt(t))}</text>`;
  for (const s of series) {
    const pts = [...s.pts].filter(p => fin(p.y)).sort((a, b) => a.x - b.x);
    for (const seg of segments(pts, step)) {
      const banded = seg.filter(p => fin(p.lo) && fin(p.hi));
      if (banded.length > 1) {
        const up = banded.map(p => `${sx(p.x)},${sy(p.hi)}`), down = banded.map(p => `${sx(p.x)},${sy(p.lo)}`).reverse();
        g += `<path d="M${up.join('L')}L${down.join('L')}Z" fill="${s.colour}" fill-opacity="0.16" stroke="none"/>`;
      } else {
        for (const p of banded) g += `<line x1="${sx(p.x)}" x2="${sx(p.x)}" y1="${sy(p.lo)}" y2="${sy(p.hi)}" stroke="${s.colour}" stroke-opacity="0.45" stroke-width="6"/>`;
      }
      if (seg.length > 1) {
        g += `<path class="series" d="M${seg.map(p => `${sx(p.x)},${sy(p.y)}`).join('L')}" fill="none" stroke="${s.colour}" stroke-width="2"/>`;
      }
    }
    for (const p of pts) {
      const tip = p.tip || `${s.name}, ${xFmt(p.x)}: ${yFmt(p.y)}`;
      g += `<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="${p.ring ? 3.5 : 2.5}" fill="${s.colour}"><title>${esc(tip)}</title></circle>`;
      if (p.ring) g += `<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="8" fill="none" stroke="${s.colour}" stroke-width="2"/>`;
      if (p.label) g += `<text x="${sx(p.x)}" y="${sy(p.y) - 11}" text-anchor="middle"${p.ring ? ' font-weight="700" style="fill:#1d2330"' : ''}>${esc(p.label)}</text>`;
    }
  }
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)}">${g}</svg>`;
}

const legend = series => `<ul class="legend">${series.map(s =>
  `<li><span class="swatch" style="background:${s.colour}"></span>${esc(s.name)}</li>`).join('')}</ul>`;

/** A horizontal scale for an interval plot: value → x within [x0, x0 + w], clamped. */
function scale(lo, hi, x0, w) {
  return v => r1(x0 + (Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo) * w);
}

/**
 * One difference as a small plot: the always-valid interval as a wide light band (coloured by
 * verdict), the fixed-horizon 95% interval as a narrow dark bar, the estimate as a dot, and the
 * zero line dashed. Bounds off the scale (or infinite) end in an arrow.
 */
function diffPlot(d, fmt, label, bounds, single = false) {
  const W = 260, H = 38, pad = 10, mid = 16;
  const seqLo = fin(d.seq_ci_low) ? d.seq_ci_low : -Infinity, seqHi = fin(d.seq_ci_high) ? d.seq_ci_high : Infinity;
  let half;
  if (bounds) half = bounds;
  else {
    half = Math.max(Math.abs(d.ci_low), Math.abs(d.ci_high), Math.abs(d.absolute)) * 1.2 || 1e-9;
    const seqMax = Math.max(...[seqLo, seqHi].filter(fin).map(Math.abs), 0);
    half = Math.max(half, Math.min(seqMax * 1.05, half * 3));
  }
  const x = scale(-half, half, pad, W - 2 * pad);
  const verdict = d.verdict || 'inconclusive', c = VERDICT_COLOUR[verdict] || VERDICT_COLOUR.inconclusive;
  let g = `<line x1="${x(0)}" x2="${x(0)}" y1="2" y2="${mid + 12}" stroke="#7a8394" stroke-dasharray="3 3"/>`;
  if (!single) g += `<rect x="${x(seqLo)}" y="${mid - 8}" width="${Math.max(1, x(seqHi) - x(seqLo))}" height="16" fill="${c}" fill-opacity="0.22" stroke="${c}" stroke-opacity="0.7"><title>always-valid 95%: [${esc(fmt(seqLo))}, ${esc(fmt(seqHi))}]</title></rect>`;
  if (!single && seqLo < -half) g += `<path d="M${pad - 6},${mid}l7,-6v12z" fill="${c}"/>`;
  if (!single && seqHi > half) g += `<path d="M${W - pad + 6},${mid}l-7,-6v12z" fill="${c}"/>`;
  g += `<rect x="${x(d.ci_low)}" y="${mid - 3}" width="${Math.max(1, x(d.ci_high) - x(d.ci_low))}" height="6" fill="${single ? c : '#1d2330'}"><title>${single ? '' : 'fixed-horizon '}95%: [${esc(fmt(d.ci_low))}, ${esc(fmt(d.ci_high))}]</title></rect>`;
  g += `<circle cx="${x(d.absolute)}" cy="${mid}" r="4.5" fill="#fff" stroke="#1d2330" stroke-width="2"/>`;
  g += `<text x="${pad}" y="${H - 1}">${esc(fmt(-half))}</text><text x="${x(0)}" y="${H - 1}" text-anchor="middle">0</text>`
    + `<text x="${W - pad}" y="${H - 1}" text-anchor="end">${esc(fmt(half))}</text>`;
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" role="img" aria-label="${esc(label)}">${g}</svg>`;
}

const DIFF_LEGEND = `<ul class="legend">
  <li><span class="swatch box" style="background:#7a839440;border:1px solid #7a8394"></span>always-valid 95% interval (safe to look every day; the verdict rests on it)</li>
  <li><span class="swatch" style="background:#1d2330;height:6px"></span>fixed-horizon 95% interval (valid for one look at the planned size)</li>
  <li><svg width="12" height="12" aria-hidden="true"><circle cx="6" cy="6" r="4" fill="#fff" stroke="#1d2330" stroke-width="2"/></svg>estimate</li>
  <li><svg width="12" height="12" aria-hidden="true"><line x1="6" x2="6" y1="0" y2="12" stroke="#7a8394" stroke-dasharray="3 3"/></svg>no difference</li></ul>`;

// ---- Impact -------------------------------------------------------------------------------

const colours = new Map();
const colourOf = k => { if (!colours.has(k)) colours.set(k, PALETTE[colours.size % PALETTE.length]); return colours.get(k); };
const groupKey = r => `${r.placement}|${r.experiment}|${r.variant}`;
const groupName = r => `${r.placement || '(no placement)'}${r.experiment ? ` · ${r.experiment}/${r.variant}` : ''}`;

async function loadPlacements() {
  const list = await api('/v1/placements');
  const sel = $('imp-placement'), was = sel.value;
  sel.innerHTML = '<option value="">all</option>' + list.map(p =>
    `<option value="${esc(p.id)}">${esc(p.id)} (${esc(p.config.kind)}, v${p.version})</option>`).join('')
    + '<option value="none">lists without a placement</option>';
  sel.value = [...sel.options].some(o => o.value === was) ? was : '';
}

function impactTab() {
  const body = $('imp-body');
  run(body, async stale => {
    await loadPlacements();
    if (!stale()) await impactReport(body, stale);
  });
}

function impactReport(body, stale) {
  const days = +$('imp-range').value, gran = $('imp-granularity').value, placement = $('imp-placement').value;
  const now = Date.now(), step = gran === 'hour' ? HOUR : DAY;
  const q = new URLSearchParams({ from: String(now - days * DAY), to: String(now + HOUR), granularity: gran });
  if (placement) q.set('placement', placement);
  $('imp-status').textContent = 'loading…';
  return api(`/v1/analytics/impact?${q}`).then(r => {
    if (stale()) return;
    $('imp-status').textContent = `updated ${new Date().toLocaleTimeString()}`;
    Object.assign(body.dataset, { placement, range: String(days), granularity: gran });
    body.innerHTML = renderImpact(r, Math.floor((now - days * DAY) / step) * step, Math.floor(now / step) * step, step);
  }, e => { $('imp-status').textContent = ''; throw e; });
}

function renderImpact(r, x0, x1, step) {
  const sum = k => r.totals.reduce((a, t) => a + t.metrics[k], 0);
  const revenue = r.totals.reduce((a, t) => a + t.metrics.revenue.value, 0);
  let h = `<div class="card"><div class="stats" id="imp-summary">
    <div><b id="imp-total" data-value="${sum('impressions')}">${int(sum('impressions'))}</b>lists served</div>
    <div><b>${int(sum('clicks'))}</b>attributed clicks</div><div><b>${int(sum('carts'))}</b>cart adds</div>
    <div><b>${int(sum('purchases'))}</b>purchases</div><div><b>${money(revenue)}</b>attributed revenue</div></div>`;
  if (r.dropped_impressions > 0) {
    h += `<p class="warning">This replica dropped ${int(r.dropped_impressions)} impressions since it started (queue full or store down): the figures undercount by about that many lists.</p>`;
  }
  const groups = new Map();
  for (const row of r.series) {
    const k = groupKey(row);
    if (!groups.has(k)) groups.set(k, { name: groupName(row), colour: colourOf(k), rows: [] });
    groups.get(k).rows.push(row);
  }
  if (groups.size) h += `${legend([...groups.values()])}<p class="muted">Each line is a placement, or a variant of an experiment on it; the shaded band is the 95% interval of each UTC ${step === HOUR ? 'hour' : 'day'}.</p>`;
  h += '</div>';
  if (!r.series.length) return h + '<p class="note">No lists were served in this range. Lists are counted when a recommendation route is called (with <code>placement=</code> to count them under a placement).</p>';
  const fmtX = step === HOUR ? utcHour : utcDay;
  const chart = (title, label, pick, yFmt, rate = true) => {
    const series = [...groups.values()].map(g => ({
      name: g.name, colour: g.colour,
      // A rate of a bucket without lists is undefined (its events were on earlier lists): no point.
      pts: g.rows.filter(row => !rate || row.metrics.impressions > 0).map(row => { const m = pick(row.metrics); return { x: row.bucket_ms, y: m.value, lo: m.low, hi: m.high,
        tip: `${g.name}, ${fmtX(row.bucket_ms)}: ${yFmt(m.value)}${fin(m.low) ? ` [${yFmt(m.low)}, ${yFmt(m.high)}]` : ''} (${int(row.metrics.impressions)} lists)` }; }),
    }));
    return `<div class="card"><h2>${title}</h2>${lineChart({ label, series, x0, x1, step, xFmt: fmtX, yFmt })}</div>`;
  };
  h += '<div class="grid two">'
    + chart('Lists served', 'Lists served per bucket, by placement and variant', m => ({ value: m.impressions }), int, false)
    + chart('Click-through rate (clicks per list)', 'Click-through rate per bucket with 95% interval', m => m.ctr, x => pct(x, 1))
    + chart('Conversion (purchases per list)', 'Purchases per list per bucket with 95% interval', m => m.conversion, x => pct(x, 1))
    + chart('Attributed revenue', 'Attributed revenue per bucket with 95% interval', m => m.revenue, money)
    + '</div>';
  h += `<div class="card"><h2>Totals over the range, with 95% intervals</h2><div class="scroll"><table id="imp-totals">
    <tr><th>Placement</th><th>Experiment</th><th>Variant</th><th class="n">Lists</th><th class="n">Items shown</th>
    <th class="n">Clicks</th><th class="n">Carts</th><th class="n">Purchases</th><th class="n">CTR</th><th class="n">Conversion</th>
    <th class="n">Revenue</th><th class="n">Revenue / 1,000 lists</th></tr>`
    + r.totals.map(t => { const m = t.metrics; return `<tr><td><span class="swatch box" style="background:${colourOf(groupKey(t))}"></span> ${esc(t.placement || '(none)')}</td>
      <td>${esc(t.experiment || '—')}</td><td>${esc(t.variant || '—')}</td><td class="n" data-value="${m.impressions}">${int(m.impressions)}</td>
      <td class="n">${int(m.shown)}</td><td class="n">${int(m.clicks)}</td><td class="n">${int(m.carts)}</td><td class="n">${int(m.purchases)}</td>
      <td class="n">${interval(m.ctr, x => pct(x))}</td><td class="n">${interval(m.conversion, x => pct(x))}</td>
      <td class="n">${interval(m.revenue, money)}</td><td class="n">${interval(m.revenue_per_mille, money)}</td></tr>`; }).join('')
    + '</table></div></div>';
  return h;
}

for (const id of ['imp-placement', 'imp-range', 'imp-granularity']) {
  $(id).addEventListener('change', () => { const body = $('imp-body'); run(body, stale => impactReport(body, stale)); });
}
$('imp-form').addEventListener('submit', e => e.preventDefault());

// ---- Experiments --------------------------------------------------------------------------

let chosen = null;

function experimentsTab() {
  const el = $('exp-list');
  run(el, async stale => {
    const list = await api('/v1/experiments');
    if (stale()) return;
    list.sort((a, b) => (b.status.state === 'running') - (a.status.state === 'running') || b.created_at_ms - a.created_at_ms);
    if (!list.length) {
      el.innerHTML = '<p class="note">No experiments yet. Start one with <code>POST /v1/experiments</code> on a placement.</p>';
      $('exp-report').innerHTML = '';
      return;
    }
    if (!list.some(e => e.id === chosen)) chosen = list[0].id;
    el.innerHTML = `<table><tr><th>Experiment</th><th>Placement</th><th>Mode</th><th>Unit</th><th>Variants</th><th>State</th><th>Started</th><th>Stops</th></tr>${list.map(e => `
      <tr data-id="${esc(e.id)}"${e.id === chosen ? ' class="selected"' : ''}><td><button type="button" class="pick" data-exp="${esc(e.id)}" aria-pressed="${e.id === chosen}">${esc(e.id)}</button></td>
      <td>${esc(e.placement)}</td><td>${e.mode === 'interleaving' ? 'interleaving' : 'A/B'}</td><td>${esc(e.unit)}</td>
      <td>${e.variants.map((v, k) => `${esc(v.name)}${k === 0 && e.mode !== 'interleaving' && v.name !== 'control' ? ' (control)' : ''}${e.mode !== 'interleaving' ? ` <span class="muted">×${v.weight}</span>` : ''}`).join(', ')}</td>
      <td>${state(e.status)}</td><td>${local(e.started_ms)}</td><td>${e.stop_ms ? local(e.stop_ms) : '—'}</td></tr>`).join('')}</table>`;
    report(chosen);
  });
}

const state = s => `<span class="badge ${esc(s.state)}">${esc(s.state)}</span>${s.state === 'shipped' ? ` <span class="muted">${esc(s.variant)} → placement v${s.placement_version}</span>` : ''}`;

$('exp-list').addEventListener('click', e => {
  const b = e.target.closest('button[data-exp]');
  if (!b) return;
  chosen = b.dataset.exp;
  for (const tr of $('exp-list').querySelectorAll('tr[data-id]')) {
    const on = tr.dataset.id === chosen;
    tr.classList.toggle('selected', on);
    tr.querySelector('button').setAttribute('aria-pressed', on);
  }
  report(chosen);
});

function report(id) {
  const el = $('exp-report');
  el.innerHTML = '<p class="muted">loading the report…</p>';
  run(el, async stale => {
    const r = await api(`/v1/experiments/${encodeURIComponent(id)}/report`);
    if (!stale()) { el.dataset.experiment = id; el.innerHTML = renderReport(r); }
  });
}

const pp = x => fin(x) ? `${(100 * x).toFixed(2)} pp` : '—';
// [field, name, value format, difference format (rates differ in percentage points)]
const METRICS = [
  ['ctr', 'CTR (clicks per list)', x => pct(x, 2), pp],
  ['conversion', 'Conversion (units that bought)', x => pct(x, 2), pp],
  ['revenue_per_unit', 'Revenue per unit', money, money],
];

function renderReport(r) {
  const e = r.experiment, ab = e.mode !== 'interleaving';
  let h = `<h2>${esc(e.id)} ${state(e.status)}</h2><p class="muted">${ab ? 'A/B' : 'Team-draft interleaving'} on placement <b>${esc(e.placement)}</b>
    · randomised by ${esc(e.unit)} · started ${local(e.started_ms)} · minimum effect worth detecting ${pct(e.minimum_effect, 0)}</p>`;
  const mismatch = r.srm && r.srm.mismatch;
  h += `<p class="verdict" id="exp-verdict">${esc(r.verdict)}</p>`;
  if (r.dropped_impressions > 0) h += `<p class="warning">This replica dropped ${int(r.dropped_impressions)} impressions since it started: the counts may be short by about that many lists.</p>`;
  if (r.srm) {
    h += `<p class="${mismatch ? 'error' : 'note'}" id="exp-srm"><b>Sample ratio check:</b> χ² = ${r.srm.chi2.toFixed(2)}, p = ${pval(r.srm.p_value)} — ${mismatch
      ? 'units do not follow the weights (p &lt; 0.001): assignment or logging is broken; do not trust the differences'
      : 'units follow the weights'}.</p>`;
  }
  if (fin(r.required_units_per_variant)) {
    const have = Math.min(...r.variants.map(v => v.units)), share = Math.min(1, have / Math.max(1, r.required_units_per_variant));
    h += `<div class="note" id="exp-size"><b>Sample size:</b> ${int(r.required_units_per_variant)} units per variant detect a ${pct(e.minimum_effect, 0)} change in revenue per unit
      (fixed horizon, α = 0.05, 80% power, from the control's variance so far). The smallest variant has ${int(have)} (${pct(share, 1)}).
      <div class="progress" role="progressbar" aria-label="units collected of the required sample" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${Math.round(share * 100)}"><div style="width:${(share * 100).toFixed(1)}%"></div></div></div>`;
  } else if (ab) {
    h += '<p class="note" id="exp-size"><b>Sample size:</b> not estimable yet (the control has no revenue variance so far).</p>';
  }
  h += `<h3>Variants <span class="muted">(± the 95% half-width)</span></h3><div class="scroll"><table id="exp-variants"><tr><th>Variant</th><th class="n">Units</th><th class="n">Lists</th><th class="n">Clicks</th>
    <th class="n">Purchases</th><th class="n">Revenue</th>${METRICS.map(([, name]) => `<th class="n">${name}</th>`).join('')}</tr>${r.variants.map((v, k) => `
    <tr><td>${esc(v.name)}${ab && k === 0 && v.name !== 'control' ? ' <span class="muted">(control)</span>' : ''}</td><td class="n">${int(v.units)}</td><td class="n">${int(v.impressions)}</td>
    <td class="n">${int(v.clicks)}</td><td class="n">${int(v.purchases)}</td><td class="n">${money(v.revenue)}</td>
    ${METRICS.map(([m, , f]) => `<td class="n">${f(v[m].value)} <span class="ci">± ${f(1.96 * v[m].se)}</span></td>`).join('')}</tr>`).join('')}</table></div>`;
  if (ab) {
    const control = r.variants[0];
    for (const v of r.variants.slice(1)) {
      h += `<h3>${esc(v.name)} against ${esc(control ? control.name : 'the control')}</h3>${DIFF_LEGEND}<div class="scroll"><table class="diff">
        <tr><th>Metric</th><th class="n">Control</th><th class="n">${esc(v.name)}</th><th class="n">Difference</th><th>Intervals</th><th class="n">p (fixed)</th><th>Verdict</th></tr>`;
      for (const [m, name, f, dfmt] of METRICS) {
        const d = v[m].difference;
        if (!d) { h += `<tr><td>${name}</td><td colspan="6" class="muted">no data yet</td></tr>`; continue; }
        const df = x => signed(x, dfmt);
        h += `<tr><td>${name}${d.cuped && d.variance_reduction >= 0.005 ? `<div class="reason">CUPED: −${pct(d.variance_reduction, 0)} variance</div>` : ''}</td>
          <td class="n">${f(control[m].value)}</td><td class="n">${f(v[m].value)}</td>
          <td class="n">${df(d.absolute)} <span class="ci">(${signed(d.relative, x => pct(x, 1))})</span></td>
          <td>${diffPlot(d, df, `${name}: difference ${df(d.absolute)}, fixed 95% [${df(d.ci_low)}, ${df(d.ci_high)}], always-valid [${df(d.seq_ci_low)}, ${df(d.seq_ci_high)}]`)}</td>
          <td class="n">${pval(d.p_value)}</td><td><span class="badge ${esc(d.verdict)}">${esc(d.verdict)}</span></td></tr>`;
      }
      h += '</table></div>';
    }
  }
  if (r.interleaving) h += renderInterleaving(r.interleaving, e);
  return h;
}

function renderInterleaving(i, e) {
  const [a, b] = [e.variants[0].name, e.variants[1].name];
  const f = x => signed(x, y => y.toFixed(3));
  const row = (name, delta, lo, hi, p) => `<tr><td>${name}</td><td class="n">${f(delta)}</td><td class="n ci">[${f(lo)}, ${f(hi)}]</td>
    <td>${diffPlot({ absolute: delta, ci_low: lo, ci_high: hi, seq_ci_low: lo, seq_ci_high: hi, verdict: p < 0.05 ? (delta > 0 ? 'better' : 'worse') : 'inconclusive' }, f,
      `${name}: preference ${f(delta)} [${f(lo)}, ${f(hi)}]`, 0.5, true)}</td><td class="n">${pval(p)}</td></tr>`;
  return `<h3>Preference</h3><p>Lists with clicks: <b>${int(i.wins_a)}</b> won by ${esc(a)}, <b>${int(i.wins_b)}</b> by ${esc(b)}, <b>${int(i.ties)}</b> tied;
    ${int(i.units)} units with a preference. Δ &gt; 0 means ${esc(a)} is preferred (scale −0.5 … +0.5; the verdict rests on units, which are independent).</p>
    <div class="scroll"><table id="exp-interleaving"><tr><th>Δ</th><th class="n">Estimate</th><th class="n">95% interval</th><th>← ${esc(b)} preferred · ${esc(a)} preferred →</th><th class="n">p (sign test)</th></tr>
    ${row('by unit', i.by_unit_delta, i.by_unit_ci_low, i.by_unit_ci_high, i.by_unit_p_value)}${row('by list', i.delta, i.ci_low, i.ci_high, i.p_value)}</table></div>`;
}

// ---- Models -------------------------------------------------------------------------------

async function header() {
  try {
    const m = await api('/v1/models');
    $('ver').textContent = m.serving_version ? `serving v${m.serving_version}` : 'no model yet';
  } catch (e) {
    $('ver').textContent = e.status === 401 || e.status === 403 ? 'an API key is needed' : '';
  }
}

function modelsTab() {
  const el = $('mod-chart');
  run(el, async stale => {
    const m = await api('/v1/models');
    if (stale()) return;
    $('ver').textContent = m.serving_version ? `serving v${m.serving_version}` : 'no model yet';
    const keys = [...new Set(m.models.flatMap(v => Object.keys(v.metrics)))].sort();
    const sel = $('mod-metric'), was = sel.value || 'ndcg@10';
    sel.innerHTML = keys.map(k => `<option>${esc(k)}</option>`).join('');
    sel.value = keys.includes(was) ? was : keys[0] || '';
    drawModels(m, sel.value);
    const status = m.training_since_ms ? `<p class="note">Training since ${local(m.training_since_ms)}…</p>` : '';
    const failed = m.last_training_error ? `<p class="error">The last training failed: ${esc(m.last_training_error)}</p>` : '';
    const f = m.follow_up;
    const follow = f ? `<p class="note">Slow candidates after v${f.after_version}: ${esc(f.reason)}</p>` : '';
    $('models-table').innerHTML = '<tr><th>v</th><th>model</th><th>parameters</th><th class="n">NDCG@10</th><th>trained</th><th class="n">events</th><th></th></tr>'
      + (m.models.length ? '' : '<tr><td colspan="7" class="muted">no stored versions yet</td></tr>')
      + m.models.map(v => `<tr><td>${v.version}</td><td>${esc(v.name)}</td><td class="reason">${params(v.params)}</td><td class="n">${fin(v.metrics['ndcg@10']) ? v.metrics['ndcg@10'].toFixed(4) : '—'}</td>
      <td>${local(v.created_at_ms)}</td><td class="n">${int(v.trained_on_seq)}</td><td>${v.serving ? '<b>serving</b>'
        : `<button type="button" data-activate="${v.version}">activate</button>`}</td></tr>`).join('');
    $('trainmsg').innerHTML = status + failed + follow;
  });
}

const param = v => typeof v === 'number' && !Number.isInteger(v) ? +v.toPrecision(4) : typeof v === 'object' ? JSON.stringify(v) : v;
const params = p => esc(Object.entries(p || {}).map(([k, v]) => `${k} ${param(v)}`).join(', '));

let lastModels = null;
function drawModels(m, metric) {
  lastModels = m;
  const el = $('mod-chart');
  const pts = m.models.filter(v => fin(v.metrics[metric])).map(v => ({ x: v.created_at_ms, y: v.metrics[metric],
    label: v.serving ? `v${v.version} serving` : `v${v.version}`, ring: v.serving,
    tip: `v${v.version} ${v.name}, ${local(v.created_at_ms)}: ${metric} ${v.metrics[metric].toFixed(4)}${v.serving ? ' (serving)' : ''}` }));
  if (!pts.length) { el.innerHTML = `<p class="note">No stored version has ${esc(metric || 'an offline metric')} yet. Train one below.</p>`; return; }
  const xs = pts.map(p => p.x), x0 = Math.min(...xs), x1 = Math.max(...xs);
  const span = x1 - x0, xFmt = span < 2 * DAY
    ? ms => new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: span < 600e3 ? '2-digit' : undefined })
    : ms => new Date(ms).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
  const ticks = pts.length <= 6 ? xs : [x0, x0 + span / 3, x0 + 2 * span / 3, x1];
  const pad = span * 0.06 || 1;
  el.innerHTML = lineChart({ label: `${metric} per model version over time; the serving version is ringed`, W: 720, H: 240,
    series: [{ name: metric, colour: PALETTE[0], pts }], x0: x0 - pad, x1: x1 + pad, xFmt, yFmt: y => y.toFixed(3), zero: false, xTicks: ticks });
}
$('mod-metric').addEventListener('change', () => { if (lastModels) drawModels(lastModels, $('mod-metric').value); });

$('models-table').addEventListener('click', async e => {
  const b = e.target.closest('button[data-activate]');
  if (!b) return;
  try {
    await api(`/v1/admin/models/${b.dataset.activate}/activate`, { method: 'POST', body: '{}' });
    $('trainmsg').textContent = `v${b.dataset.activate} serves now`;
  } catch (err) {
    $('trainmsg').innerHTML = error(err);
  }
  modelsTab();
  header();
});

$('train').addEventListener('click', async () => {
  $('trainmsg').textContent = 'training…';
  try {
    await api('/v1/admin/train', { method: 'POST', body: '{}' });
    $('trainmsg').textContent = 'training started; the list refreshes in a few seconds';
    setTimeout(() => { if (current === 'models') modelsTab(); }, 3000);
  } catch (err) {
    $('trainmsg').innerHTML = error(err);
  }
});

// ---- Shop ---------------------------------------------------------------------------------

async function stats() {
  const el = $('stats');
  try {
    const r = await fetch('/metrics');
    if (!r.ok) throw new Error(`/metrics: ${r.status} ${r.statusText}`);
    const text = await r.text();
    const g = name => (text.match(new RegExp('^' + name + ' (\\S+)', 'm')) || [])[1] || '0';
    el.innerHTML = [['items', 'aisle_catalog_items'], ['users', 'aisle_users'], ['events', 'aisle_events'], ['serving model', 'aisle_serving_model_version']]
      .map(([l, m]) => `<div><b>${Number(g(m)).toLocaleString()}</b>${l}</div>`).join('');
  } catch (e) {
    el.innerHTML = error(e);
  }
}

async function popular() {
  const el = $('popular');
  try {
    const p = await api('/v1/popular?window=24h&n=10&log=false');
    const max = Math.max(...p.items.map(i => i.score), 1);
    el.innerHTML = p.items.length ? p.items.map(i => `<tr><td>${esc(i.title || i.id)}</td>
      <td style="width:40%"><div class="bar" style="width:${100 * i.score / max}%"></div></td><td class="n">${i.score}</td></tr>`).join('')
      : '<tr><td class="muted">nothing in the last 24 hours</td></tr>';
  } catch (e) {
    el.innerHTML = `<tr><td>${error(e)}</td></tr>`;
  }
}

async function explore() {
  const el = $('recs'), u = encodeURIComponent($('user').value);
  try {
    const r = await api(`/v1/users/${u}/recommendations?n=10&explain=true&log=false`);
    el.innerHTML = `<tr><td colspan=3 class="muted">source: ${esc(r.source)}${r.fallback ? ' (fallback)' : ''}</td></tr>`
      + r.items.map(i => `<tr><td>${esc(i.title || i.id)}<div class="reason">${(i.reasons || []).map(x => esc(x.text)).join('; ')}</div></td>
      <td class="n">${i.price ?? ''}</td><td class="n">${i.score.toFixed(3)}</td></tr>`).join('');
  } catch (e) {
    el.innerHTML = `<tr><td>${error(e)}</td></tr>`;
  }
}
$('explore').addEventListener('submit', e => { e.preventDefault(); explore(); });

function shopTab() {
  stats();
  popular();
  const el = $('overview');
  run(el, async stale => {
    let o;
    try {
      o = await api('/v1/analytics/overview');
    } catch (e) {
      if (e.status !== 404) throw e;
      if (!stale()) el.innerHTML = '<div class="card"><h2>Shop overview</h2><p class="note" id="overview-missing">Not available: this server has no <code>/v1/analytics/overview</code>.</p></div>';
      return;
    }
    if (!stale()) el.innerHTML = renderOverview(o);
  });
}

const KINDS = [['view', 'views'], ['click', 'clicks'], ['add_to_cart', 'cart adds'], ['purchase', 'purchases'], ['other', 'other']];

function renderOverview(o) {
  let h = `<div class="card"><h2>Shop overview</h2><div class="stats"><div><b id="ov-events" data-value="${o.events}">${int(o.events)}</b>events</div>
    <div><b>${int(o.users)}</b>shoppers</div><div><b>${int(o.items)}</b>items</div>
    <div><b>${fin(o.first_ms) ? utcDay(o.first_ms) : '—'} – ${fin(o.last_ms) ? utcDay(o.last_ms) : '—'}</b>first and last event (UTC)</div></div></div>`;
  const days = o.per_day || [];
  // One small chart per type, each on its own scale: purchases would be a flat line under views.
  const series = KINDS.map(([k, name], i) => ({ name, colour: PALETTE[i], total: days.reduce((a, d) => a + (d[k] || 0), 0),
    pts: days.map(d => ({ x: d.day_ms, y: d[k] || 0 })) })).filter(s => s.total > 0);
  h += '<div class="card"><h2>Events per day, by type</h2>';
  if (days.length) {
    const xs = days.map(d => d.day_ms), x0 = Math.min(...xs), x1 = Math.max(...xs);
    h += '<p class="muted">UTC days; each type on its own scale.</p><div class="grid small">' + series.map(s => `<div><h3>${esc(s.name)}
      <span class="muted">${int(s.total)} in all</span></h3>${lineChart({ label: `${s.name} per UTC day`, series: [s], x0, x1, step: DAY,
      xFmt: utcDay, yFmt: int, W: 420, H: 170 })}</div>`).join('') + '</div>';
  } else h += '<p class="note">No events yet.</p>';
  h += '</div><div class="grid">' + funnel(o.funnel) + longTail(o.long_tail) + activity(o.activity || []) + '</div>';
  return h;
}

function funnel(f) {
  if (!f) return '';
  const rows = (items) => { const max = Math.max(...items.map(([, v]) => v), 1); return items.map(([name, v, note]) =>
    `<tr><td>${name}</td><td style="width:30%"><div class="bar" style="width:${(100 * v / max).toFixed(1)}%"></div></td><td class="n">${int(v)}</td><td class="muted nowrap">${note || ''}</td></tr>`).join(''); };
  const share = (a, b) => b > 0 ? pct(a / b, 1) : '—';
  return `<div class="card"><h2>Funnel</h2><table class="funnel" id="ov-funnel">
    <tr><th colspan="4">Events</th></tr>${rows([['views', f.views], ['cart adds', f.carts, `${share(f.carts, f.views)} of views`], ['purchases', f.purchases, `${share(f.purchases, f.carts)} of cart adds`]])}
    <tr><th colspan="4">Shoppers</th></tr>${rows([['viewed', f.viewers], ['added to cart', f.carters, `${share(f.carters, f.viewers)} of viewers`], ['bought', f.buyers, `${share(f.buyers, f.viewers)} of viewers`]])}
    </table><p class="muted">Conversion: view → cart ${pct(f.view_to_cart, 1)} · cart → purchase ${pct(f.cart_to_purchase, 1)} · view → purchase ${pct(f.view_to_purchase, 1)}</p></div>`;
}

function longTail(t) {
  if (!t) return '';
  const curve = (t.curve || []).filter(p => fin(p[0]) && fin(p[1]));
  const W = 400, H = 260, L = 46, R = 14, T = 12, B = 34, pw = W - L - R, ph = H - T - B;
  const mx = Math.max(1, ...curve.map(p => p[0])), my = Math.max(1, ...curve.map(p => p[1]));
  const sx = x => r1(L + x / mx * pw), sy = y => r1(T + (1 - y / my) * ph);
  let g = '';
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    g += `<line class="grid" x1="${L}" x2="${W - R}" y1="${sy(v * my)}" y2="${sy(v * my)}"/><text x="${L - 6}" y="${sy(v * my) + 4}" text-anchor="end">${pct(v, 0)}</text>`
      + `<text x="${sx(v * mx)}" y="${T + ph + 14}" text-anchor="middle">${pct(v, 0)}</text>`;
  }
  g += `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(mx)}" y2="${sy(my)}" stroke="#7a8394" stroke-dasharray="4 3"><title>every item equally popular</title></line>`;
  if (curve.length > 1) g += `<path d="M${curve.map(p => `${sx(p[0])},${sy(p[1])}`).join('L')}" fill="none" stroke="${PALETTE[0]}" stroke-width="2.5"/>`;
  for (const [x, share] of [[0.01, t.top_1pct_share], [0.1, t.top_10pct_share], [0.2, t.top_20pct_share]]) {
    if (fin(share)) g += `<circle cx="${sx(x * mx)}" cy="${sy(share * my)}" r="3.5" fill="${PALETTE[1]}"><title>top ${pct(x, 0)} of items: ${pct(share, 1)} of events</title></circle>`;
  }
  g += `<text x="${L + pw / 2}" y="${H - 3}" text-anchor="middle">items, most popular first</text>`;
  return `<div class="card"><h2>Long tail</h2><svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="Share of events against share of items, most popular first">${g}</svg>
    <p id="ov-longtail">The top 1% of items get <b>${pct(t.top_1pct_share, 1)}</b> of events, the top 10% <b>${pct(t.top_10pct_share, 1)}</b>, the top 20% <b>${pct(t.top_20pct_share, 1)}</b>.
    Gini ${fin(t.gini) ? t.gini.toFixed(3) : '—'}; ${int(t.items_with_events)} items have events.</p></div>`;
}

function activity(buckets) {
  if (!buckets.length) return '<div class="card"><h2>Shoppers by activity</h2><p class="note">No shoppers yet.</p></div>';
  const W = 420, H = 240, L = 50, R = 10, T = 12, B = 40, pw = W - L - R, ph = H - T - B;
  const ticks = niceTicks(0, Math.max(...buckets.map(b => b.users), 1), 4), top = ticks.at(-1);
  const bw = pw / buckets.length, sy = y => r1(T + (1 - y / top) * ph);
  const name = b => b.max_events == null ? `${b.min_events}+` : b.max_events === b.min_events ? `${b.min_events}` : `${b.min_events}–${b.max_events}`;
  let g = ticks.map(t => `<line class="grid" x1="${L}" x2="${W - R}" y1="${sy(t)}" y2="${sy(t)}"/><text x="${L - 6}" y="${sy(t) + 4}" text-anchor="end">${int(t)}</text>`).join('');
  buckets.forEach((b, i) => {
    const x = r1(L + i * bw + bw * 0.12);
    g += `<rect x="${x}" y="${sy(b.users)}" width="${r1(bw * 0.76)}" height="${r1(T + ph - sy(b.users))}" fill="${PALETTE[2]}"><title>${esc(name(b))} events: ${int(b.users)} shoppers</title></rect>`
      + `<text x="${r1(L + (i + 0.5) * bw)}" y="${T + ph + 14}" text-anchor="middle">${esc(name(b))}</text>`;
  });
  g += `<line class="axis" x1="${L}" x2="${W - R}" y1="${T + ph}" y2="${T + ph}"/><text x="${L + pw / 2}" y="${H - 4}" text-anchor="middle">events per shopper</text>`;
  return `<div class="card"><h2>Shoppers by activity</h2><svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="Shoppers by number of events">${g}</svg></div>`;
}

// ---- tabs ---------------------------------------------------------------------------------

const TABS = { impact: impactTab, experiments: experimentsTab, models: modelsTab, shop: shopTab };
const NAMES = Object.keys(TABS);
let current = null;

function show(name) {
  if (!TABS[name]) name = 'impact';
  for (const t of NAMES) {
    const on = t === name, tab = $(`tab-${t}`);
    tab.setAttribute('aria-selected', on);
    tab.tabIndex = on ? 0 : -1;
    $(`page-${t}`).hidden = !on;
  }
  current = name;
  TABS[name]();
}

const fromHash = () => show(location.hash.slice(1));
window.addEventListener('hashchange', fromHash);
const tablist = document.querySelector('[role=tablist]');
tablist.addEventListener('click', e => {
  const tab = e.target.closest('[role=tab]');
  if (!tab) return;
  const name = tab.id.slice(4);
  if (location.hash === `#${name}`) show(name); else location.hash = name;
});
tablist.addEventListener('keydown', e => {
  const i = NAMES.indexOf(current);
  const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: NAMES.length - 1 }[e.key];
  if (j === undefined) return;
  e.preventDefault();
  const name = NAMES[(j + NAMES.length) % NAMES.length];
  location.hash = name;
  $(`tab-${name}`).focus();
});

header();
fromHash();
setInterval(() => { if (current === 'shop' && !document.hidden) { stats(); popular(); } }, 10000);
