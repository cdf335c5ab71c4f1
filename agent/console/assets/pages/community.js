// One community: members and their states, invitations (owner), this
// tenant's shared streams, pause and resume, and the catalog of what the
// members share, searchable and filtered by label.

import * as api from '../api.js';
import { can, SHARE, ADMIN } from '../roles.js';
import { h, add, clear, table, badge, shortID, fmtTime, errorBox, notify, action, confirmButton, field, copyText, errorText, labelChips, parseLabelFilter, addLabelTerm } from '../ui.js';
import { fromCatalog } from '../series.js';

function constraintsText(c) {
  if (!c) return '';
  const parts = [];
  if (c.lookback) parts.push('last ' + c.lookback);
  if (c.history_from) parts.push('from ' + fmtTime(c.history_from));
  if (c.min_interval) parts.push('summaries ≥ ' + c.min_interval);
  if (c.expires) parts.push('until ' + fmtTime(c.expires));
  return parts.join(', ') || 'full history';
}

export async function render(root, ctx) {
  const id = ctx.args[0];
  const self = ctx.tenant.id;
  const head = h('div', { class: 'page-head' });
  const summary = h('div', { id: 'community-summary' });
  const membersEl = h('div', { id: 'members' });
  const invitesEl = h('div', { id: 'invitations' });
  const sharesEl = h('div', { id: 'shares' });
  const catalogEl = h('div', { id: 'catalog' });
  let c; // the community as last loaded
  let lastSig = '';
  let catalogLive = null;

  // Invitations: issue, then show the token once with a copy button.
  const email = h('input', { type: 'email', id: 'invite-email', required: true, placeholder: 'ops@partner.example' });
  const pin = h('input', { type: 'text', id: 'invite-tenant', placeholder: 'optional: the partner\'s tenant id', class: 'mono', spellcheck: false });
  const issued = h('div', { id: 'invite-result' });
  const inviteForm = h('form', { class: 'inline-form', id: 'invite-form' },
    field('Partner e-mail', email), field('Pin to tenant', pin, 'Only that tenant can accept.'),
    h('button', { type: 'submit', class: 'primary', id: 'invite-submit' }, 'Issue invitation'));
  inviteForm.addEventListener('submit', action(async () => {
    const r = await api.invite(c.id, email.value.trim(), pin.value.trim());
    const tok = h('textarea', { id: 'invitation-token', readonly: true, rows: 3, class: 'mono', value: r.token });
    add(clear(issued), h('div', { class: 'card token-box' },
      h('p', {}, 'Send this token to ', h('strong', {}, email.value.trim()), ' out of band. It expires ', fmtTime(r.expires), '.',
        r.emailed ? ' It was also e-mailed.' : r.email_error ? ' E-mail failed: ' + r.email_error : ''),
      tok,
      h('button', { type: 'button', id: 'copy-token', onclick: action(async () => { notify(await copyText(r.token, tok) ? 'Token copied.' : 'Select the token and copy it.'); }) }, 'Copy token')));
    email.value = '';
    pin.value = '';
    await load();
  }));

  // Sharing one of this tenant's streams.
  const shareStream = h('input', { type: 'text', id: 'share-stream', list: 'local-streams', required: true, placeholder: 'site1/boiler/temp' });
  const streamList = h('datalist', { id: 'local-streams' });
  const lookback = h('input', { type: 'text', id: 'share-lookback', placeholder: 'e.g. 30d', size: 8 });
  const minInterval = h('input', { type: 'text', id: 'share-min-interval', placeholder: 'e.g. 1m', size: 8 });
  const expires = h('input', { type: 'text', id: 'share-expires', placeholder: 'RFC 3339 or +90d', size: 14 });
  const shareForm = h('form', { class: 'inline-form', id: 'share-form' },
    field('Stream', shareStream), streamList,
    field('Lookback', lookback, 'History partners may read'),
    field('Min interval', minInterval, 'Summaries only, this coarse'),
    field('Expires', expires),
    h('button', { type: 'submit', class: 'primary', id: 'share-submit' }, 'Share'));
  shareForm.addEventListener('submit', action(async () => {
    const body = { stream: shareStream.value.trim() };
    if (lookback.value.trim()) body.lookback = lookback.value.trim();
    if (minInterval.value.trim()) body.min_interval = minInterval.value.trim();
    if (expires.value.trim()) body.expires = expires.value.trim();
    await api.share(c.id, body);
    notify(`${body.stream} is shared into ${c.name}.`);
    shareStream.value = lookback.value = minInterval.value = expires.value = '';
    await load();
    loadCatalog();
  }));
  api.allStreams().then((list) => { for (const s of list) streamList.append(h('option', { value: s.name })); }).catch(() => {});

  // Catalog.
  const search = h('input', { type: 'search', id: 'catalog-search', placeholder: 'Search the catalog' });
  const labelInput = h('input', { type: 'search', id: 'catalog-label', class: 'label-filter', placeholder: 'Labels: site=plant1, line', spellcheck: false,
    title: 'Only streams with all these labels: key=value, or key for any value; commas between' });
  const catalogList = h('div', { id: 'catalog-list' });
  let searchTimer;
  search.addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadCatalog, 250); });
  labelInput.addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadCatalog, 300); });
  const pick = (term) => { labelInput.value = addLabelTerm(labelInput.value, term); loadCatalog(); };
  catalogEl.append(h('div', { class: 'page-head' }, h('h2', {}, 'Catalog'), search, labelInput,
    h('button', { type: 'button', id: 'catalog-refresh', onclick: action(loadCatalog) }, 'Refresh')), catalogList);

  add(root, head, summary,
    h('section', { class: 'card' }, h('h2', {}, 'Members'), membersEl),
    invitesEl,
    h('section', { class: 'card' }, h('h2', {}, 'Your shared streams'), sharesEl, shareForm),
    h('section', { class: 'card' }, catalogEl));

  let catalogLoads = 0;
  async function loadCatalog() {
    if (!c || (c.status !== 'owner' && c.status !== 'confirmed')) {
      add(clear(catalogList), h('p', { class: 'muted' }, 'The catalog opens once the owner has confirmed this tenant.'));
      return;
    }
    let entries;
    const labels = parseLabelFilter(labelInput.value);
    const n = ++catalogLoads;
    try {
      entries = await api.catalog(c.id, search.value.trim(), labels);
      if (n !== catalogLoads) return; // a later filter's answer wins
    } catch (e) {
      if (n !== catalogLoads) return;
      add(clear(catalogList), errorBox(e));
      return;
    }
    add(clear(catalogList), 
      entries.unreachable ? h('p', { class: 'warn small' }, 'Not reachable now: ' + entries.unreachable) : null,
      table([
        { label: 'Partner', cell: (e) => e.tenant === self ? 'you' : (e.tenant_name || shortID(e.tenant)) },
        { label: 'Stream', cell: (e) => e.stream },
        { label: 'Unit', cell: (e) => e.unit || '' },
        { label: 'Kind', cell: (e) => e.kind || '' },
        { label: 'Description', cell: (e) => e.description || '' },
        { label: 'Labels', class: 'labels-cell', cell: (e) => labelChips(e.labels, { onpick: pick }) },
        { label: 'Access', cell: (e) => constraintsText(e.constraints) },
        { label: '', cell: (e) => e.tenant === self ? '' : h('a', { class: 'trend-link', href: '#/trend?s=' + encodeURIComponent(fromCatalog(e, c.id, c.name).id) }, 'Trend') },
      ], entries, { id: 'catalog-table', empty: labels.length ? 'No shared stream has these labels.' : search.value.trim() ? 'No shared stream matches.' : 'No member shares a stream here yet.', rowData: (e) => ({ stream: e.stream, tenant: e.tenant_name || e.tenant }) }));
  }

  async function load() {
    try {
      c = await api.community(id);
    } catch (e) {
      add(clear(head), h('h1', {}, 'Community'));
      add(clear(summary), errorBox(e));
      return;
    }
    if (!ctx.isCurrent()) return;
    // Redraw only what changed, so a refresh does not move buttons under
    // the user's pointer.
    const sig = JSON.stringify(c);
    if (sig === lastSig) return;
    lastSig = sig;
    document.title = c.name + ' · Sluice';
    const owner = c.role === 'owner';
    // What this user may do here (roles.js); the agent checks again.
    const mayShare = can(SHARE, c.id);
    const mayAdmin = can(ADMIN, c.id);
    const live = c.status === 'owner' || c.status === 'confirmed';
    const mine = c.shares.filter((s) => s.tenant === self);
    const paused = mine.length ? mine.every((s) => s.paused) : null;

    add(clear(head), 
      h('h1', { id: 'community-title' }, c.name, ' ', badge(c.status)),
      h('div', { class: 'actions' },
        live && mayShare ? h('button', { type: 'button', id: 'pause', disabled: paused === true, title: 'Stop all of your sharing into this community at once',
          onclick: action(async () => { await api.pause(c.id); notify('Sharing paused: partners are denied from the next read.'); await load(); loadCatalog(); }) }, 'Pause sharing') : null,
        live && mayShare ? h('button', { type: 'button', id: 'resume', disabled: paused === false,
          onclick: action(async () => { await api.resume(c.id); notify('Sharing resumed.'); await load(); loadCatalog(); }) }, 'Resume sharing') : null,
        c.status === 'deleted' || !mayAdmin ? null : owner
          ? confirmButton('Delete community', 'Really delete it?', async () => { await api.deleteCommunity(c.id); notify('Community deleted.'); location.hash = '#/communities'; }, { id: 'delete-community' })
          : confirmButton('Leave', 'Really leave?', async () => { await api.leave(c.id); notify('You left ' + c.name + '.'); location.hash = '#/communities'; }, { id: 'leave-community' })));
    add(clear(summary), h('p', { class: 'muted' },
      owner ? 'You own this community.' : `Owned by ${c.owner_name || shortID(c.owner)}.`,
      ' Id ', h('code', {}, c.id), '.',
      paused === true ? h('strong', { class: 'warn', id: 'paused-note' }, ' Your sharing here is paused.') : null,
      !live && c.status === 'accepted' ? ' Waiting for the owner to confirm you: no data flows before that.' : null));

    add(clear(membersEl), table([
      { label: 'Tenant', cell: (m) => m.tenant === self ? `${m.name || 'you'} (you)` : (m.name || '—') },
      { label: 'Id', cell: (m) => m.tenant ? h('code', { class: 'small', title: m.tenant }, shortID(m.tenant)) : '' },
      { label: 'Status', cell: (m) => badge(m.status) },
      { label: '', cell: (m) => !owner || !mayAdmin || m.tenant === self || !m.tenant ? '' : [
        m.status === 'accepted' ? h('button', { type: 'button', class: 'primary confirm-member', onclick: action(async () => { await api.confirmMember(c.id, m.tenant); notify(`${m.name || shortID(m.tenant)} confirmed: data can flow.`); await load(); loadCatalog(); }) }, 'Confirm') : null,
        m.status === 'accepted' || m.status === 'confirmed' ? confirmButton('Remove', 'Really remove?', async () => { await api.removeMember(c.id, m.tenant); notify('Removed.'); await load(); }, { class: 'danger remove-member' }) : null,
      ] },
    ], c.members, { id: 'members-table', rowData: (m) => ({ tenant: m.name || m.tenant, status: m.status }) }));

    clear(invitesEl);
    if (owner && mayAdmin && c.status !== 'deleted') {
      invitesEl.append(h('section', { class: 'card' }, h('h2', {}, 'Invitations'),
        table([
          { label: 'E-mail', cell: (i) => i.email },
          { label: 'Answered by', cell: (i) => i.tenant ? h('code', { class: 'small', title: i.tenant }, shortID(i.tenant)) : '' },
          { label: 'Status', cell: (i) => badge(i.status) },
          { label: 'Expires', cell: (i) => fmtTime(i.expires) },
          { label: '', cell: (i) => i.status === 'pending' ? confirmButton('Revoke', 'Really revoke?', async () => { await api.revokeInvitation(c.id, i.id); notify('Invitation revoked.'); await load(); }, { class: 'danger revoke' }) : '' },
        ], c.invitations || [], { id: 'invitations-table', empty: 'No invitations yet.', rowData: (i) => ({ invitation: i.id, status: i.status }) }),
        inviteForm, issued));
    }

    add(clear(sharesEl), table([
      { label: 'Stream', cell: (s) => h('a', { href: '#/streams/' + encodeURIComponent(s.stream) }, s.stream) },
      { label: 'Access', cell: (s) => constraintsText(s) },
      { label: 'State', cell: (s) => badge(s.paused ? 'paused' : 'shared') },
      { label: '', cell: (s) => !mayShare ? '' : confirmButton('Unshare', 'Really unshare?', async () => { await api.unshare(c.id, s.stream); notify(`${s.stream} is no longer shared: partners lose it and its history now.`); await load(); loadCatalog(); }, { class: 'danger unshare' }) },
    ], mine, { id: 'shares-table', empty: 'You share no stream here.', rowData: (s) => ({ stream: s.stream }) }));
    shareForm.hidden = !live || !mayShare;
    if (live && catalogLive === false) loadCatalog(); // just confirmed
    catalogLive = live;
  }

  await load();
  await loadCatalog();
  // Members accept and partners share while the page is open.
  const timer = setInterval(() => { load().catch((e) => notify(errorText(e), 'error')); }, 5000);
  return () => { clearInterval(timer); clearTimeout(searchTimer); };
}
