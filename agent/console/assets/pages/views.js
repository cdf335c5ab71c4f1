// Data views: a named set of streams (local or shared) aligned on one time
// grid, by interpolation or by one summary statistic per interval,
// previewed as a table and exported as CSV or JSON for other tools.
// Views are kept by the agent (GET/POST/PUT/DELETE /api/v1/views, see
// docs/api.md "Data views"), so the same view exports from a URL for
// other tools (/api/v1/views/<name>/export?token=...). An agent without
// views (GET /api/v1/views answers 404) gets them kept in this browser's
// localStorage instead.

import * as api from '../api.js';
import { h, add, clear, table, fmtTime, fmtValue, errorBox, errorText, notify, action, confirmButton, field, download, parseDuration, fmtDuration, copyText } from '../ui.js';
import { parseSeriesID, candidates, sourceLabel, readGrid, describe, localSeries, communitySeries, connectionSeries } from '../series.js';

const KEY = 'sluice.views';
const STATS = ['mean', 'time_weighted_mean', 'min', 'max', 'first', 'last', 'count', 'stddev'];
const PREVIEW_ROWS = 200;
const MAX_ROWS = 100000;

export function loadViews() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || '{}') || {};
  } catch (_) {
    return {};
  }
}

function saveViews(v) {
  localStorage.setItem(KEY, JSON.stringify(v));
}

// The console's form of a view: {name, series: [series id], start, end,
// interval, mode: interpolated|summaries, stat}. The agent's form
// (agent/views/views.go): {name, streams: [{community?, tenant?, stream,
// label?}], interval or count, mode: interpolated|<stat>, window: "-24h"}.

const blank = (name) => ({ name, series: [], start: '-1h', end: 'now', interval: '1m', mode: 'interpolated', stat: 'mean' });
const isWindow = (s) => /^-\s*\d/.test(s) && parseDuration(s.replace(/^-\s*/, '')) > 0;

function sourceOf(id, labels) {
  const s = parseSeriesID(id);
  if (!s) return null;
  const out = s.source === 'local' ? { stream: s.stream }
    : s.source === 'community' ? { community: s.community, tenant: s.tenant, stream: s.stream }
      : { tenant: s.tenant, stream: s.stream };
  if (labels && labels[id]) out.label = labels[id];
  return out;
}

function fromAgent(av) {
  const v = blank(av.name);
  const labels = {};
  v.series = (av.streams || []).map((x) => {
    const s = x.community ? communitySeries(x.community, '', x.tenant, '', x.stream)
      : x.tenant ? connectionSeries(x.tenant, '', x.stream) : localSeries(x.stream);
    if (x.label) labels[s.id] = x.label;
    return s.id;
  });
  v.labels = labels;
  v.start = av.window || '-24h';
  if (av.interval) v.interval = av.interval;
  else if (av.count > 0) {
    // A view made with count (rows over the window), e.g. by the CLI.
    v.count = av.count;
    v.interval = fmtDuration(Math.max(1000, Math.ceil(parseDuration(v.start.replace(/^-/, '')) / av.count / 1000) * 1000));
    v.countInterval = v.interval;
  }
  if (av.mode && av.mode !== 'interpolated') { v.mode = 'summaries'; v.stat = av.mode; }
  return v;
}

function toAgent(v, prevWindow) {
  const out = {
    name: v.name,
    streams: v.series.map((id) => sourceOf(id, v.labels)).filter(Boolean),
    mode: v.mode === 'summaries' ? v.stat : 'interpolated',
    window: isWindow(v.start) ? v.start.replace(/\s+/g, '') : (prevWindow || '-24h'),
  };
  if (v.count && v.interval === v.countInterval) out.count = v.count;
  else out.interval = v.interval;
  return out;
}

// openStore picks where views are kept: the agent, or this browser when
// the agent has no views (404).
async function openStore() {
  let list;
  try {
    list = (await api.views()).views || [];
  } catch (e) {
    if (e.status !== 404) throw e;
    return {
      agent: false,
      all: () => loadViews(),
      async save(v) { const a = loadViews(); a[v.name] = v; saveViews(a); },
      async remove(name) { const a = loadViews(); delete a[name]; saveViews(a); },
    };
  }
  const known = new Map(list.map((av) => [av.name, av]));
  return {
    agent: true,
    all: () => Object.fromEntries([...known.values()].map((av) => [av.name, fromAgent(av)])),
    async save(v) {
      const prev = known.get(v.name);
      const body = toAgent(v, prev && prev.window);
      if (!body.streams.length) return false; // the agent keeps views of at least one stream
      const saved = prev ? await api.saveView(v.name, body) : await api.createView(body);
      known.set(v.name, saved || body);
      return true;
    },
    async remove(name) { await api.deleteView(name); known.delete(name); },
  };
}

// exportURL is the view's export for other tools, without credentials:
// TOKEN stands for an API token the user creates and pastes in.
export function exportURL(name, format = 'csv') {
  const u = new URL(api.viewExportPath(name, format), location.href);
  u.hash = '';
  return u.href + '&token=TOKEN';
}

// parseTime reads now, -1h, now-15m, +5m or RFC 3339, as the API does.
export function parseTime(s, now = Date.now()) {
  s = String(s || '').trim();
  if (s === '' || s === 'now') return now;
  const m = /^(?:now)?([+-])(\d+(?:\.\d+)?(?:ms|s|m|h|d|w))$/.exec(s);
  if (m) return now + (m[1] === '-' ? -1 : 1) * parseDuration(m[2]);
  const t = Date.parse(s);
  if (isNaN(t)) throw new Error(`"${s}" is not a time (use now, -1h or RFC 3339)`);
  return t;
}

export async function render(root, ctx) {
  return ctx.args[0] ? renderView(root, ctx, ctx.args[0]) : renderList(root);
}

async function renderList(root) {
  document.title = 'Data views · Sluice';
  const store = await openStore();
  const views = store.all();
  const name = h('input', { type: 'text', id: 'view-name', required: true, placeholder: 'e.g. boiler-weekly' });
  const form = h('form', { class: 'card inline-form', id: 'new-view' }, h('h2', {}, 'New data view'), field('Name', name),
    h('button', { type: 'submit', class: 'primary' }, 'Create'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const n = name.value.trim();
    if (!n) return;
    // A new view is saved once it has a stream (the agent wants one).
    if (!store.agent) {
      const all = loadViews();
      if (!all[n]) all[n] = blank(n);
      saveViews(all);
    }
    location.hash = '#/views/' + encodeURIComponent(n);
  });
  const rows = Object.values(views).sort((a, b) => a.name.localeCompare(b.name));
  add(root, 
    h('div', { class: 'page-head' }, h('h1', {}, 'Data views')),
    h('p', { class: 'muted', id: 'views-where' }, 'A data view lines up streams, yours and your partners\', on one time grid for export to other tools. ',
      store.agent ? 'Views are kept by the agent, for every user of this tenant.' : 'This agent does not keep views: they are kept in this browser.'),
    table([
      { label: 'View', cell: (v) => h('a', { href: '#/views/' + encodeURIComponent(v.name), class: 'view-link' }, v.name) },
      { label: 'Streams', cell: (v) => String(v.series.length) },
      { label: 'Window', cell: (v) => `${v.start} to ${v.end}` },
      { label: 'Grid', cell: (v) => `${v.mode === 'summaries' ? v.stat + ' per' : 'interpolated every'} ${v.interval}` },
      { label: '', cell: (v) => confirmButton('Delete', 'Really delete?', async () => { await store.remove(v.name); notify(`View ${v.name} deleted.`); clear(root); await renderList(root); }, { class: 'danger delete-view' }) },
    ], rows, { id: 'views-table', empty: 'No data views yet.' }),
    form);
  return null;
}

async function renderView(root, ctx, name) {
  document.title = name + ' · Data views · Sluice';
  const store = await openStore();
  const v = store.all()[name] || blank(name);
  const series = v.series.map(parseSeriesID).filter(Boolean);
  const described = Promise.all(series.map(describe));

  const seriesEl = h('div', { id: 'view-series' });
  const pick = h('select', { id: 'view-add' }, h('option', { value: '' }, 'Loading streams…'));
  const start = h('input', { type: 'text', id: 'view-start', value: v.start, size: 24 });
  const end = h('input', { type: 'text', id: 'view-end', value: v.end, size: 24 });
  const interval = h('input', { type: 'text', id: 'view-interval', value: v.interval, size: 8 });
  const mode = h('select', { id: 'view-mode' }, h('option', { value: 'interpolated' }, 'Interpolated'), h('option', { value: 'summaries' }, 'Summaries'));
  const stat = h('select', { id: 'view-stat' }, STATS.map((s) => h('option', { value: s }, s)));
  mode.value = v.mode;
  stat.value = v.stat;
  const syncStat = () => { stat.disabled = mode.value !== 'summaries'; };
  mode.addEventListener('change', syncStat);
  syncStat();
  const preview = h('div', { id: 'view-preview' });

  const current = () => ({ ...v, series: series.map((s) => s.id), start: start.value.trim(), end: end.value.trim(), interval: interval.value.trim(), mode: mode.value, stat: stat.value });
  // Saves run one after another (a new view is created, then replaced).
  let saving = Promise.resolve(false);
  const save = () => {
    const next = current();
    saving = saving.catch(() => false).then(() => store.save(next));
    saving.catch((e) => notify('Not saved: ' + errorText(e), 'error'));
    return saving;
  };

  const drawSeries = () => {
    add(clear(seriesEl), table([
      { label: 'Column', cell: (s) => s.label },
      { label: 'Unit', cell: (s) => s.unit || '' },
      { label: 'Source', cell: (s) => sourceLabel(s) },
      { label: '', cell: (s) => h('button', { type: 'button', class: 'link', onclick: () => { series.splice(series.indexOf(s), 1); save(); drawSeries(); } }, 'Remove') },
    ], series, { id: 'view-series-table', empty: 'Add streams below.' }));
  };
  pick.addEventListener('change', () => {
    const s = options.get(pick.value);
    if (s && !series.some((x) => x.id === s.id)) { series.push(s); save(); drawSeries(); }
    pick.value = '';
  });
  let options = new Map();
  candidates(ctx.tenant.id).then(({ list }) => {
    options = new Map(list.map((s) => [s.id, s]));
    add(clear(pick), h('option', { value: '' }, 'Add a stream…'), ...list.map((s) => h('option', { value: s.id }, `${s.label} (${sourceLabel(s)})`)));
  });

  // compute reads every column on the grid and joins them by time.
  async function compute() {
    const now = Date.now();
    const iv = parseDuration(interval.value.trim());
    if (!(iv > 0)) throw new Error('interval: want a duration like 30s, 1m or 1h');
    const t1 = parseTime(end.value, now);
    let t0 = parseTime(start.value, now);
    t0 = Math.floor(t0 / iv) * iv; // a round grid
    if (t1 <= t0) throw new Error('the window ends before it starts');
    if ((t1 - t0) / iv > MAX_ROWS) throw new Error(`more than ${MAX_ROWS} rows: use a coarser interval`);
    await described;
    const cols = await Promise.all(series.map((s) => readGrid(s, t0, t1, iv, mode.value, stat.value).catch((e) => e)));
    const times = new Set();
    for (const c of cols) if (c instanceof Map) for (const t of c.keys()) times.add(t);
    const sorted = [...times].sort((a, b) => a - b);
    return {
      t0, t1, iv,
      errors: cols.map((c, i) => (c instanceof Map ? null : `${series[i].label}: ${errorText(c)}`)).filter(Boolean),
      rows: sorted.map((t) => ({ time: t, values: cols.map((c) => (c instanceof Map && c.has(t) ? c.get(t) : null)) })),
    };
  }

  const headers = () => series.map((s) => s.label + (s.unit ? ` (${s.unit})` : ''));
  const csvField = (x) => { const s = x === null || x === undefined ? '' : String(x); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
  const fileName = (ext) => name.replace(/[^A-Za-z0-9._-]+/g, '_') + '.' + ext;

  async function showPreview() {
    save();
    const r = await compute();
    add(clear(preview), 
      r.errors.length ? h('p', { class: 'error' }, r.errors.join(' · ')) : null,
      h('p', { class: 'muted small', id: 'view-rows' }, `${r.rows.length} rows, every ${fmtDuration(r.iv)} from ${fmtTime(r.t0)} to ${fmtTime(r.t1)}` + (r.rows.length > PREVIEW_ROWS ? ` (the first ${PREVIEW_ROWS} shown)` : '')),
      table([{ label: 'Time', cell: (row) => fmtTime(row.time) },
        ...headers().map((label, i) => ({ label, class: 'num', cell: (row) => fmtValue(row.values[i]) }))],
      r.rows.slice(0, PREVIEW_ROWS), { id: 'view-table', empty: 'No values in this window.' }));
  }

  async function exportCSV() {
    save();
    const r = await compute();
    if (r.errors.length) notify(r.errors.join(' · '), 'error');
    const lines = [['time', ...headers()].map(csvField).join(',')];
    for (const row of r.rows) lines.push([new Date(row.time).toISOString(), ...row.values].map(csvField).join(','));
    download(fileName('csv'), 'text/csv', lines.join('\n') + '\n');
  }

  async function exportJSON() {
    save();
    const r = await compute();
    if (r.errors.length) notify(r.errors.join(' · '), 'error');
    const cols = headers();
    const out = {
      view: name, start: new Date(r.t0).toISOString(), end: new Date(r.t1).toISOString(), interval: fmtDuration(r.iv),
      mode: mode.value, stat: mode.value === 'summaries' ? stat.value : undefined,
      columns: series.map((s, i) => ({ name: cols[i], source: sourceLabel(s), stream: s.stream, unit: s.unit || undefined })),
      rows: r.rows.map((row) => Object.fromEntries([['time', new Date(row.time).toISOString()], ...row.values.map((x, i) => [cols[i], x])])),
    };
    download(fileName('json'), 'application/json', JSON.stringify(out, null, 1) + '\n');
  }

  add(root, 
    h('div', { class: 'page-head' }, h('h1', { id: 'view-title' }, name), h('a', { href: '#/views' }, 'All views')),
    h('section', { class: 'card' }, h('h2', {}, 'Streams'), seriesEl, field('Add', pick)),
    h('section', { class: 'card inline-form' }, h('h2', {}, 'Time grid'),
      field('Start', start, 'now, -1h, -7d or RFC 3339'), field('End', end), field('Every', interval),
      field('Align by', mode), field('Statistic', stat, 'for summaries')),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'primary', id: 'view-preview-btn', onclick: action(showPreview) }, 'Preview'),
      h('button', { type: 'button', id: 'view-csv', onclick: action(exportCSV) }, 'Export CSV'),
      h('button', { type: 'button', id: 'view-json', onclick: action(exportJSON) }, 'Export JSON'),
      h('button', { type: 'button', id: 'view-save', onclick: action(async () => {
        const ok = await save();
        notify(!store.agent ? 'Saved in this browser.' : ok ? 'Saved on the agent.' : 'Add a stream first: the agent keeps views of at least one stream.', ok === false ? 'error' : 'ok');
      }) }, 'Save')),
    preview,
    store.agent ? exportBox(name) : null);
  await described;
  drawSeries();
  return null;
}

// exportBox shows the export URL for other tools (Excel, Power BI,
// Grafana). The token is never filled in: the user creates one.
function exportBox(name) {
  const format = h('select', { id: 'view-export-format' }, h('option', { value: 'csv' }, 'CSV'), h('option', { value: 'json' }, 'JSON'));
  const url = h('input', { type: 'text', readonly: true, id: 'view-export-url', class: 'mono', size: 80, value: exportURL(name) });
  format.addEventListener('change', () => { url.value = exportURL(name, format.value); });
  return h('section', { class: 'card', id: 'view-export' }, h('h2', {}, 'Export URL'),
    h('p', { class: 'muted small' }, 'Other tools read this view, saved, from this URL (the window ends now; add &start= and &end= to choose another).'),
    h('div', { class: 'toolbar' }, format, url,
      h('button', { type: 'button', id: 'view-export-copy', onclick: action(async () => { notify(await copyText(url.value, url) ? 'URL copied.' : 'Select the URL and copy it.'); }) }, 'Copy')),
    h('p', { class: 'muted small', id: 'view-export-note' }, 'Replace TOKEN with an API token (create one with ', h('code', {}, 'sluice token create'),
      '). Anyone with the URL and token reads what the token\'s user may read: keep it as secret as a password.'));
}
