// Trend: local streams and partners' shared streams on one time axis.
// The chosen series and window live in the URL (#/trend?s=ID&s=ID&w=1h),
// so a trend can be bookmarked or sent to a colleague.

import { h, add, clear, fmtDuration, parseDuration } from '../ui.js';
import { parseSeriesID, candidates as candidates_, sourceLabel } from '../series.js';
import { createTrend } from '../chart.js';

export async function render(root, ctx) {
  document.title = 'Trend · Sluice';
  const ids = ctx.params.getAll('s');
  const series = ids.map(parseSeriesID).filter(Boolean);
  const span = parseDuration(ctx.params.get('w') || '') || 3600e3;
  const end = Number(ctx.params.get('end')) || null;

  const pickerInput = h('input', { type: 'search', id: 'series-search', placeholder: 'Find a stream: local, or shared by a partner', autocomplete: 'off' });
  const results = h('ul', { class: 'picker-results', id: 'series-results' });
  const sourcesNote = h('p', { class: 'muted small', id: 'sources-note' });
  const chartEl = h('div', { class: 'chart card', id: 'trend-chart' });
  add(root, 
    h('div', { class: 'page-head' }, h('h1', {}, 'Trend')),
    h('div', { class: 'picker card' }, h('label', { for: 'series-search' }, 'Add a series'), pickerInput, results, sourcesNote),
    chartEl);

  let winSpan = span, winEnd = end, live = !end;
  const syncURL = () => {
    const q = new URLSearchParams();
    for (const s of chart.series()) q.append('s', s.id);
    q.set('w', fmtDuration(Math.round(winSpan)));
    if (!live && winEnd) q.set('end', String(Math.round(winEnd)));
    history.replaceState(null, '', '#/trend?' + q.toString());
  };
  let chart = null;
  chart = createTrend(chartEl, {
    series, spanMs: span, endMs: end, live: !end,
    onWindow: (a, b, isLive) => { winSpan = b - a; winEnd = b; live = isLive; if (chart) syncURL(); },
    onRemove: (s) => { chart.setSeries(chart.series().filter((x) => x.id !== s.id)); syncURL(); },
  });

  let candidates = [];
  const loadCandidates = async () => {
    const r = await candidates_(ctx.tenant.id);
    candidates = r.list;
    sourcesNote.textContent = r.notes.join(' · ');
  };
  const showResults = () => {
    const q = pickerInput.value.trim().toLowerCase();
    const have = new Set(chart.series().map((s) => s.id));
    const list = candidates.filter((s) => !have.has(s.id) && (!q || (s.label + ' ' + (s.communityName || '') + ' ' + (s.unit || '')).toLowerCase().includes(q))).slice(0, 30);
    clear(results);
    for (const s of list) {
      results.append(h('li', {}, h('button', {
        type: 'button', class: 'pick', dataset: { series: s.id },
        onclick: () => { chart.setSeries([...chart.series(), s]); syncURL(); pickerInput.value = ''; showResults(); },
      }, h('span', { class: 'src src-' + s.source }, sourceLabel(s)), ' ', s.label, s.unit ? h('span', { class: 'muted' }, ' ' + s.unit) : null)));
    }
    if (!list.length) results.append(h('li', { class: 'muted small' }, candidates.length ? 'Nothing else matches.' : 'Loading streams…'));
  };
  pickerInput.addEventListener('input', showResults);
  pickerInput.addEventListener('focus', showResults);
  loadCandidates().then(() => { if (ctx.isCurrent()) showResults(); });
  showResults();
  return () => chart.destroy();
}
