// One local stream: its description and labels, a trend chart, and the
// points of the chart's window as a table, page by page.

import * as api from '../api.js';
import * as auth from '../auth.js';
import { h, add, clear, table, fmtTime, fmtValue, qualityBadge, errorBox, download, action, labelChips } from '../ui.js';
import { localSeries } from '../series.js';
import { createTrend } from '../chart.js';

const ROWS = 25;

export async function render(root, ctx) {
  const name = ctx.args[0];
  document.title = name + ' · Sluice';
  let st;
  try {
    st = await api.getStream(name);
  } catch (e) {
    add(root, h('h1', {}, name), errorBox(e));
    return null;
  }
  const s = localSeries(st.name, st);
  s.described = true;
  const meta = h('div', { class: 'meta' }, [
    ['Unit', st.unit || '—'], ['Kind', st.kind], ['Source', st.source || 'API'], ['Created', fmtTime(st.created)],
    ['Retention', st.retention || 'agent default'], ['Id', String(st.id)],
    // A label links to the streams that share it.
    ['Labels', labelChips(st.labels, { none: 'none', href: (t) => '#/streams?label=' + encodeURIComponent(t) }), 'stream-labels'],
  ].map(([k, v, id]) => h('div', {}, h('div', { class: 'k' }, k), h('div', { class: 'v', id }, v))));
  const chartEl = h('div', { class: 'chart card', id: 'stream-chart' });
  const rowsEl = h('div', { id: 'points' });
  const pager = h('div', { class: 'pager' });
  add(root, 
    h('div', { class: 'page-head' },
      h('h1', { id: 'stream-name' }, st.name),
      h('a', { class: 'button', href: '#/trend?s=' + encodeURIComponent(s.id) }, 'Open in trend')),
    st.description ? h('p', { class: 'lead' }, st.description) : null,
    meta, chartEl,
    h('div', { class: 'page-head' }, h('h2', {}, 'Points in the window'),
      h('button', { type: 'button', id: 'points-csv', onclick: action(exportCSV) }, 'Download CSV')),
    rowsEl, pager);

  let win = [0, 0];
  let tokens = [''];
  let pageNo = 0;
  let loadTimer = null;

  async function loadPoints() {
    const [start, end] = win;
    let res;
    try {
      res = await api.readStream(name, 'data', { start: new Date(start).toISOString(), end: new Date(end).toISOString(), limit: ROWS, page_token: tokens[pageNo] || undefined });
    } catch (e) {
      add(clear(rowsEl), errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    const pts = res.points || [];
    add(clear(rowsEl), table([
      { label: 'Time', cell: (p) => fmtTime(p.time) },
      { label: 'Value', class: 'num', cell: (p) => fmtValue(p.value) },
      { label: 'Quality', cell: (p) => qualityBadge(p.quality) },
    ], pts, { id: 'points-table', empty: 'No points in this window.' }));
    tokens[pageNo + 1] = res.next_page_token || '';
    clear(pager);
    if (pageNo > 0 || res.next_page_token) {
      pager.append(
        h('button', { type: 'button', disabled: pageNo === 0, onclick: () => { pageNo--; loadPoints(); } }, '← Earlier'),
        h('span', { class: 'muted small' }, ` page ${pageNo + 1} `),
        h('button', { type: 'button', disabled: !res.next_page_token, onclick: () => { pageNo++; loadPoints(); } }, 'Later →'));
    }
  }

  async function exportCSV() {
    const [start, end] = win;
    const res = await fetch('api/v1/streams/' + encodeURIComponent(name) + '/data?format=csv&start=' +
      encodeURIComponent(new Date(start).toISOString()) + '&end=' + encodeURIComponent(new Date(end).toISOString()),
    auth.authorize({}));
    if (!res.ok) throw new Error('download failed: ' + res.status);
    download(name.replace(/[^A-Za-z0-9._-]+/g, '_') + '.csv', 'text/csv', await res.text());
  }

  const chart = createTrend(chartEl, {
    series: [s], spanMs: 3600e3, live: true,
    onWindow: (start, end, live) => {
      win = [start, end];
      // A live chart moves every few seconds; the table keeps its page
      // unless the user zoomed or panned.
      if (live && tokens.length > 1 && pageNo > 0) return;
      tokens = [''];
      pageNo = 0;
      clearTimeout(loadTimer);
      loadTimer = setTimeout(loadPoints, 50);
    },
  });
  return () => { chart.destroy(); clearTimeout(loadTimer); };
}
