// Status: the agent at a glance, for an operator: whether writes are
// refused, the store's disk use, free space and size bound, retention
// per rule, and the sources. Read from GET api/v1/status every 10 s.

import * as api from '../api.js';
import { h, add, clear, table, badge, fmtTime, fmtDuration, fmtBytes, errorBox, action } from '../ui.js';
import { refusal, showAlert } from '../store.js';

// The API writes durations as Go does in JSON: nanoseconds. Retention
// reads in days, as it is configured (7d, not 1w).
const DAY = 86400000;
const ns = (d) => (!d ? '' : (d / 1e6) % DAY === 0 ? d / 1e6 / DAY + 'd' : fmtDuration(d / 1e6));

function fmtUptime(s) {
  s = Math.floor(s || 0);
  const d = Math.floor(s / 86400), hr = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  return m ? `${m}m ${s % 60}s` : `${s}s`;
}

function meta(items) {
  return h('div', { class: 'meta' }, items.filter(Boolean).map(([k, v, id, bytes]) =>
    h('div', {}, h('div', { class: 'k' }, k), h('div', { class: 'v', id, dataset: bytes === undefined ? undefined : { bytes: String(bytes) } }, v))));
}

// selects says which streams a rule covers.
function selects(r) {
  const parts = [];
  if (r.prefix) parts.push('names starting ' + r.prefix);
  if (r.source) parts.push('source ' + r.source);
  return parts.join(', ') || 'every other stream';
}

function storePanel(sp) {
  const r = refusal(sp);
  const bounded = sp.max_size > 0;
  const pct = bounded ? Math.min(100, 100 * sp.disk_bytes / sp.max_size) : 0;
  const bar = bounded ? h('div', { class: 'usage', title: `${pct.toFixed(1)}% of store.max_size` }, h('div', { class: 'usage-fill' + (pct >= 90 ? ' high' : '') })) : null;
  if (bar) bar.firstChild.style.width = pct.toFixed(1) + '%';
  return h('section', { class: 'card', id: 'store-panel', dataset: { measured: sp.measured || '' } },
    h('div', { class: 'page-head' }, h('h2', {}, 'Store'),
      r ? badge('writes refused', 'st-refused') : badge('writing', 'st-writing')),
    // The warning above the page says since when; this says why.
    r ? h('p', { class: 'error', id: 'store-refused' }, r.detail) : null,
    meta([
      ['On disk', fmtBytes(sp.disk_bytes), 'store-disk', sp.disk_bytes],
      ['Free on its file system', fmtBytes(sp.free_bytes), 'store-free', sp.free_bytes],
      ['Max size', bounded ? fmtBytes(sp.max_size) : 'no bound', 'store-max-size', sp.max_size || 0],
      sp.min_free ? ['Kept free', fmtBytes(sp.min_free), 'store-min-free', sp.min_free] : null,
      ['Retention', ns(sp.retention) || 'forever', 'store-retention'],
      ['Measured', fmtTime(sp.measured), 'store-measured'],
    ]),
    bar,
    h('h3', {}, 'Retention by rule'),
    table([
      { label: 'Rule', cell: (x) => h('code', {}, x.rule) },
      { label: 'Selects', cell: (x) => selects(x) },
      { label: 'Streams', class: 'num', cell: (x) => String(x.streams || 0) },
      { label: 'Keeps', cell: (x) => h('span', { class: 'keep' }, ns(x.max_age) || 'forever') },
      { label: 'Size', cell: (x) => x.max_size ? `${fmtBytes(x.stored_bytes || 0)} of ${fmtBytes(x.max_size)}` : h('span', { class: 'muted' }, 'no bound of its own') },
      { label: 'Oldest point', cell: (x) => x.oldest ? fmtTime(x.oldest) : h('span', { class: 'muted' }, '—') },
      { label: 'State', cell: (x) => x.refused ? h('span', { title: x.refused }, badge('writes refused', 'st-refused')) : badge('ok', 'st-writing') },
    ], sp.rules || [], { id: 'retention-table', rowData: (x) => ({ rule: x.rule }) }));
}

export async function render(root, ctx) {
  document.title = 'Status · Sluice';
  const body = h('div', { id: 'status-body' });
  add(root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Status'),
      h('div', { class: 'actions' }, h('button', { type: 'button', id: 'status-refresh', onclick: action(load) }, 'Refresh'))),
    body);

  async function load() {
    let st;
    try {
      st = await api.status();
    } catch (e) {
      add(clear(body), errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    showAlert(st.store);
    add(clear(body),
      h('section', { class: 'card', id: 'agent-panel' }, h('h2', {}, 'Agent'), meta([
        ['Tenant', st.tenant || ctx.tenant.name || '—', 'status-tenant'],
        ['State', st.ready ? 'up' : 'starting', 'status-state'],
        ['Version', String(st.version || '—')],
        ['Up for', fmtUptime(st.uptime_seconds)],
        ['Streams', String(st.streams ?? '—'), 'status-streams'],
        ['Data dir', st.data_dir || '—'],
        st.federation_addr ? ['Federation', st.federation_addr] : null,
      ])),
      st.store ? storePanel(st.store) : h('p', { class: 'muted' }, 'This agent reports no disk use (an older agent).'),
      h('section', { class: 'card' }, h('h2', {}, 'Sources'),
        table([
          { label: 'Name', cell: (s) => s.name },
          { label: 'Type', cell: (s) => s.type },
          { label: 'State', cell: (s) => badge(s.state) },
        ], st.sources || [], { id: 'sources-table', empty: 'No sources configured: points come in through the API.', rowData: (s) => ({ source: s.name }) })));
  }

  await load();
  const timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}
