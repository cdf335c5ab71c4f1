// Connection manager: one-way links between this tenant and another, laid
// out as the cloud products do: Incoming (review: accept with an access
// level and a comment, or reject), Outgoing (cancel), Paired, Rejected.

import * as api from '../api.js';
import { can, ADMIN } from '../roles.js';
import { h, add, clear, table, badge, shortID, errorBox, notify, action, confirmButton, field, tabs, copyText } from '../ui.js';
import { connectionSeries } from '../series.js';

const TABS = [['incoming', 'Incoming'], ['outgoing', 'Outgoing'], ['paired', 'Paired'], ['rejected', 'Rejected']];
const LEVELS = { catalog: 'Catalog only', 'catalog+data': 'Catalog and data' };

const nameOf = (id, name) => name || shortID(id);

export async function render(root, ctx) {
  document.title = 'Connections · Sluice';
  const self = ctx.tenant.id;
  const admin = can(ADMIN); // requesting, reviewing and cancelling are the tenant admin's
  const tab = TABS.some(([k]) => k === ctx.params.get('tab')) ? ctx.params.get('tab') : 'incoming';
  const tabsEl = h('div');
  const body = h('div', { id: 'connections-body' });

  const peer = h('input', { type: 'text', id: 'conn-tenant', required: true, class: 'mono', placeholder: 'partner tenant id', spellcheck: false });
  const addr = h('input', { type: 'text', id: 'conn-address', placeholder: 'gw1.partner.example:7443' });
  const comment = h('input', { type: 'text', id: 'conn-comment', placeholder: 'why you ask' });
  const requestForm = h('form', { class: 'card inline-form', id: 'request-connection' },
    h('h2', {}, 'Request a connection'),
    h('p', { class: 'muted small' }, 'A connection is one-way: once the partner accepts, you can see what they share with you. For both ways, each side requests.'),
    field('Partner tenant id', peer), field('Partner agent address', addr, 'host:port of its federation listener'), field('Comment', comment),
    h('button', { type: 'submit', class: 'primary' }, 'Send request'));
  requestForm.addEventListener('submit', action(async () => {
    const r = await api.requestConnection(peer.value.trim(), addr.value.trim(), comment.value.trim());
    notify(r.status === 'accepted' ? 'Connected at once: they had asked you too.' : 'Request sent.');
    peer.value = addr.value = comment.value = '';
    location.hash = '#/connections?tab=' + (r.status === 'accepted' ? 'paired' : 'outgoing');
  }));

  const card = h('input', { type: 'text', readonly: true, class: 'mono', id: 'own-card', size: 70, value: `${self} ${ctx.tenant.federation_addr || ''}`.trim() });
  add(root, 
    h('div', { class: 'page-head' }, h('h1', {}, 'Connection manager')),
    tabsEl, body,
    h('div', { class: 'columns' }, admin ? requestForm : null,
      h('div', { class: 'card' }, h('h2', {}, 'Your connection card'),
        h('p', { class: 'muted small' }, 'A partner needs your tenant id and agent address to request a connection to you.'),
        card, ' ', h('button', { type: 'button', onclick: action(async () => { if (await copyText(card.value, card)) notify('Copied.'); }) }, 'Copy'))));

  let lastSig = '';
  async function load() {
    let l;
    try {
      l = await api.connections();
    } catch (e) {
      add(clear(body), errorBox(e));
      return;
    }
    const sig = JSON.stringify(l);
    if (sig === lastSig || !ctx.isCurrent()) return;
    lastSig = sig;
    add(clear(tabsEl), tabs(TABS.map(([k, label]) => [k, label, (l[k] || []).length]), tab, (k) => '#/connections?tab=' + k));
    const rows = l[tab] || [];
    clear(body);
    if (tab === 'incoming') {
      body.append(table([
        { label: 'From', cell: (x) => h('span', { title: x.from }, nameOf(x.from, x.from_name)) },
        { label: 'Comment', cell: (x) => x.comment || '' },
        { label: '', cell: (x) => admin ? h('button', { type: 'button', class: 'primary review', onclick: (ev) => openReview(ev.currentTarget, x) }, 'Review') : '' },
      ], rows, { id: 'incoming-table', empty: 'No pending requests.', rowData: (x) => ({ tenant: x.from_name || x.from }) }));
    } else if (tab === 'outgoing') {
      body.append(table([
        { label: 'To', cell: (x) => h('span', { title: x.to }, nameOf(x.to, x.to_name)) },
        { label: 'Comment', cell: (x) => x.comment || '' },
        { label: 'Status', cell: (x) => badge(x.status) },
        { label: '', cell: (x) => !admin ? '' : confirmButton('Cancel request', 'Really cancel?', async () => { await api.cancelConnection(x.to); notify('Request cancelled.'); await load(); }, { class: 'danger cancel-request' }) },
      ], rows, { id: 'outgoing-table', empty: 'No requests waiting for a partner.', rowData: (x) => ({ tenant: x.to_name || x.to }) }));
    } else if (tab === 'paired') {
      body.append(h('p', { class: 'muted small' }, 'The tenant on the left can see what the tenant on the right shares with it.'),
        table([
          { label: 'Has access', cell: (x) => x.from === self ? 'you' : nameOf(x.from, x.from_name) },
          { label: '', cell: () => '→' },
          { label: 'To', cell: (x) => x.to === self ? 'you' : nameOf(x.to, x.to_name) },
          { label: 'Level', cell: (x) => LEVELS[x.access] || x.access || '' },
          { label: 'Request', cell: (x) => x.comment || '' },
          { label: 'Review', cell: (x) => x.auto ? 'linked at once (both asked)' : (x.review || '') },
          { label: '', cell: (x) => x.from === self ? h('button', { type: 'button', class: 'show-catalog', onclick: action((ev) => showCatalog(ev.currentTarget, x)) }, 'Catalog') : '' },
        ], rows, { id: 'paired-table', empty: 'No connections yet.', rowData: (x) => ({ from: x.from_name || x.from, to: x.to_name || x.to }) }));
    } else {
      body.append(table([
        { label: 'From', cell: (x) => x.from === self ? 'you' : nameOf(x.from, x.from_name) },
        { label: 'To', cell: (x) => x.to === self ? 'you' : nameOf(x.to, x.to_name) },
        { label: 'Status', cell: (x) => badge(x.status) },
        { label: 'Request', cell: (x) => x.comment || '' },
        { label: 'Review', cell: (x) => x.review || '' },
      ], rows, { id: 'rejected-table', empty: 'Nothing rejected.', rowData: (x) => ({ tenant: x.from === self ? x.to_name || x.to : x.from_name || x.from }) }));
    }
  }

  // openReview shows the review form under an incoming request.
  function openReview(btn, x) {
    const row = btn.closest('tr');
    if (row.nextElementSibling && row.nextElementSibling.classList.contains('review-row')) return;
    const acceptR = h('input', { type: 'radio', name: 'decision', value: 'accept', id: 'decision-accept', checked: true });
    const rejectR = h('input', { type: 'radio', name: 'decision', value: 'reject', id: 'decision-reject' });
    const level = h('select', { id: 'review-level' }, Object.entries(LEVELS).map(([v, l]) => h('option', { value: v }, l)));
    const note = h('textarea', { id: 'review-comment', rows: 2, required: true, placeholder: 'required: why you accept or reject' });
    const form = h('form', { class: 'review-form', id: 'review-form' },
      h('fieldset', {}, h('legend', {}, `Review the request from ${nameOf(x.from, x.from_name)}`),
        h('label', {}, acceptR, ' Allow the connection'), ' ', h('label', {}, rejectR, ' Reject it'),
        field('Access level', level, 'What they may see of yours'),
        field('Comment', note),
        h('button', { type: 'submit', class: 'primary', id: 'review-submit' }, 'Review connection request'), ' ',
        h('button', { type: 'button', onclick: () => tr.remove() }, 'Close')));
    const sync = () => { level.disabled = rejectR.checked; };
    acceptR.addEventListener('change', sync);
    rejectR.addEventListener('change', sync);
    form.addEventListener('submit', action(async () => {
      const accept = acceptR.checked;
      await api.reviewConnection(x.from, accept, level.value, note.value.trim());
      notify(accept ? `Accepted: ${nameOf(x.from, x.from_name)} now has ${LEVELS[level.value].toLowerCase()} access.` : 'Rejected.');
      location.hash = '#/connections?tab=' + (accept ? 'paired' : 'rejected');
    }));
    const tr = h('tr', { class: 'review-row' }, h('td', { colspan: 3 }, form));
    row.after(tr);
    note.focus();
  }

  async function showCatalog(btn, x) {
    const row = btn.closest('tr');
    const entries = await api.connectionCatalog(x.to);
    const next = row.nextElementSibling;
    if (next && next.classList.contains('catalog-row')) next.remove();
    row.after(h('tr', { class: 'catalog-row' }, h('td', { colspan: 7 }, table([
      { label: 'Stream', cell: (e) => e.stream },
      { label: 'Unit', cell: (e) => e.unit || '' },
      { label: 'Description', cell: (e) => e.description || '' },
      { label: '', cell: (e) => h('a', { href: '#/trend?s=' + encodeURIComponent(connectionSeries(x.to, x.to_name, e.stream).id) }, 'Trend') },
    ], entries, { empty: 'They share nothing with you yet.' }))));
  }

  await load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}
