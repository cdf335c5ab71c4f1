// Audit: the summary report of partner reads and denials per community,
// partner and stream (GET /api/v1/audit/report). Agents without the audit
// log answer 404, and the page says so.

import * as api from '../api.js';
import { h, add, clear, table, fmtTime, errorBox, shortID } from '../ui.js';

const COLUMNS = [
  ['community', 'Community'], ['connection', 'Connection'], ['tenant', 'Partner'], ['stream', 'Stream'], ['side', 'Side'],
  ['reads', 'Reads'], ['points', 'Points'], ['denials', 'Denied'], ['errors', 'Errors'], ['first', 'First'], ['last', 'Last'],
];

function cell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) return fmtTime(v);
  if (typeof v === 'object') return Object.entries(v).map(([k, n]) => `${k}: ${n}`).join(', ');
  return String(v);
}

export async function render(root) {
  document.title = 'Audit · Sluice';
  const body = h('div', { id: 'audit-body' }, h('p', { class: 'muted' }, 'Loading…'));
  add(root, h('div', { class: 'page-head' }, h('h1', {}, 'Audit')),
    h('p', { class: 'muted' }, 'Every cross-tenant event and read, on both sides, in a tamper-evident log. This is the summary per community, partner and stream.'),
    body);
  let report;
  try {
    report = await api.auditReport();
  } catch (e) {
    add(clear(body), e.status === 404
      ? h('p', { class: 'card notice', id: 'audit-unavailable' }, 'The audit log is not available on this agent.')
      : errorBox(e));
    return null;
  }
  const rows = Array.isArray(report) ? report : (report && (report.rows || report.summary)) || [];
  // Show names where this agent knows them; ids stay in the tooltip.
  const names = new Map();
  const [comms, conns] = await Promise.allSettled([api.communities(), api.connections()]);
  if (comms.status === 'fulfilled') {
    for (const c of comms.value) {
      names.set(c.id, c.name);
      if (c.owner_name) names.set(c.owner, c.owner_name);
    }
  }
  if (conns.status === 'fulfilled') {
    for (const list of Object.values(conns.value)) {
      for (const x of Array.isArray(list) ? list : []) {
        if (x.from_name) names.set(x.from, x.from_name);
        if (x.to_name) names.set(x.to, x.to_name);
      }
    }
  }
  const named = (v) => (names.has(v) ? h('span', { title: v }, names.get(v)) : typeof v === 'string' && v.length > 24 ? h('code', { title: v, class: 'small' }, shortID(v)) : cell(v));
  const used = COLUMNS.filter(([k]) => rows.some((r) => r[k] !== undefined && r[k] !== '' && r[k] !== null));
  const extra = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => !COLUMNS.some(([c]) => c === k)).map((k) => [k, k]);
  const idCols = new Set(['community', 'connection', 'tenant']);
  add(clear(body), table([...used, ...extra].map(([k, label]) => ({ label, class: ['reads', 'points', 'errors'].includes(k) ? 'num' : undefined, cell: (r) => (idCols.has(k) ? named(r[k]) : cell(r[k])) })), rows,
    { id: 'audit-table', empty: 'No partner reads recorded yet.' }));
  return null;
}
