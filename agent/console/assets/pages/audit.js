// Audit: the tamper-evident log of cross-tenant events and reads. The
// log itself with filters (GET /api/v1/audit, NDJSON), its verification
// (GET /api/v1/audit/verify: 409 when damaged) and the summary report of
// partner reads and denials per community, partner and stream (GET
// /api/v1/audit/report). Only a tenant admin may read it. Agents without
// the audit log answer 404, and the page says so.

import * as api from '../api.js';
import { can, ADMIN } from '../roles.js';
import { h, add, clear, table, fmtTime, errorBox, errorText, shortID, field, action } from '../ui.js';

const KINDS = ['admin', 'partner_read', 'read_denied', 'record_rejected', 'checkpoint', 'retention'];
const LOG_LIMIT = 500;

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
  if (!can(ADMIN)) {
    add(root, h('div', { class: 'page-head' }, h('h1', {}, 'Audit')),
      h('p', { class: 'card notice', id: 'audit-forbidden' }, 'Only a tenant administrator may read the audit log.'));
    return null;
  }
  const body = h('div', { id: 'audit-body' }, h('p', { class: 'muted' }, 'Loading…'));
  const verifyOut = h('div', { id: 'audit-verify-result' });
  const verify = h('button', { type: 'button', id: 'audit-verify', onclick: action(async () => {
    add(clear(verifyOut), h('p', { class: 'muted' }, 'Verifying…'));
    try {
      const r = await api.auditVerify();
      add(clear(verifyOut), h('pre', { class: 'ok', id: 'audit-verify-report' }, (r && r.report) || 'The log is intact.'));
    } catch (e) {
      // 409: the chain is damaged; the report says where.
      const text = e.status === 409 && e.body && e.body.report ? e.body.report : errorText(e);
      add(clear(verifyOut), h('pre', { class: 'error', id: 'audit-verify-report', role: 'alert' }, text));
    }
  }) }, 'Verify');
  const logSection = renderLog();
  add(root, h('div', { class: 'page-head' }, h('h1', {}, 'Audit'), verify),
    h('p', { class: 'muted' }, 'Every cross-tenant event and read, on both sides, in a tamper-evident log.'),
    verifyOut,
    logSection.el,
    h('section', { class: 'card' }, h('h2', {}, 'Summary per community, partner and stream'), body));
  logSection.load();
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

// renderLog is the log's entries, newest last, filtered by since, kind
// and community (an id or a name: the agent resolves it).
function renderLog() {
  const since = h('input', { type: 'text', id: 'audit-since', value: '-24h', size: 20 });
  const kind = h('select', { id: 'audit-kind' }, h('option', { value: '' }, 'all'), KINDS.map((k) => h('option', { value: k }, k)));
  const community = h('input', { type: 'text', id: 'audit-community', size: 20, placeholder: 'id or name' });
  const out = h('div', { id: 'audit-log' });
  const form = h('form', { class: 'inline-form', id: 'audit-filters' },
    field('Since', since, 'now, -1h, -7d or RFC 3339'), field('Kind', kind), field('Community', community),
    h('button', { type: 'submit', class: 'primary', id: 'audit-filter' }, 'Show'));
  async function load() {
    let entries;
    try {
      entries = await api.auditEntries({ since: since.value.trim(), kind: kind.value, community: community.value.trim(), limit: LOG_LIMIT });
    } catch (e) {
      add(clear(out), e.status === 404 ? h('p', { class: 'muted' }, 'The audit log is not available on this agent.') : errorBox(e));
      return;
    }
    add(clear(out),
      h('p', { class: 'muted small', id: 'audit-log-count' }, `${entries.length} entries` + (entries.length >= LOG_LIMIT ? ` (the first ${LOG_LIMIT})` : '')),
      table([
        { label: '#', class: 'num', cell: (e) => String(e.seq) },
        { label: 'Time', cell: (e) => fmtTime(e.time) },
        { label: 'Kind', cell: (e) => e.kind },
        { label: 'Actor', cell: (e) => e.actor || '' },
        { label: 'Community', cell: (e) => (e.community ? h('code', { class: 'small', title: e.community }, shortID(e.community)) : '') },
        { label: 'Partner', cell: (e) => (e.tenant ? h('code', { class: 'small', title: e.tenant }, shortID(e.tenant)) : e.connection || '') },
        { label: 'Stream', cell: (e) => e.stream || '' },
        { label: 'Points', class: 'num', cell: (e) => (e.points ? String(e.points) : '') },
        { label: 'Outcome', cell: (e) => [e.outcome, e.reason].filter(Boolean).join(': ') },
        { label: 'Side', cell: (e) => e.side || '' },
        { label: 'Detail', cell: (e) => e.detail || '' },
      ], entries, { id: 'audit-log-table', empty: 'No entries match.', rowData: (e) => ({ seq: String(e.seq), kind: e.kind }) }));
  }
  form.addEventListener('submit', action(load));
  return { el: h('section', { class: 'card' }, h('h2', {}, 'Log'), form, out), load };
}
