// Communities: the ones this tenant owns or belongs to, creating one, and
// joining one with an invitation token from its owner.

import * as api from '../api.js';
import { can, ADMIN } from '../roles.js';
import { h, add, clear, table, badge, shortID, errorBox, notify, action, field, copyText } from '../ui.js';

export async function render(root, ctx) {
  document.title = 'Communities · Sluice';
  const listEl = h('div', { id: 'community-list' });
  const name = h('input', { type: 'text', id: 'community-name', required: true, placeholder: 'e.g. supply-chain' });
  const createForm = h('form', { class: 'card inline-form', id: 'create-community' },
    h('h2', {}, 'Create a community'),
    h('p', { class: 'muted small' }, 'You become its owner: you invite partners and confirm them. No data flows before you confirm.'),
    field('Name', name),
    h('button', { type: 'submit', class: 'primary' }, 'Create'));
  createForm.addEventListener('submit', action(async () => {
    const c = await api.createCommunity(name.value.trim());
    notify(`Community ${c.name} created.`);
    location.hash = '#/communities/' + encodeURIComponent(c.id);
  }));

  const token = h('textarea', { id: 'join-token', rows: 3, placeholder: 'sluice-invite-…', spellcheck: false, required: true });
  const joinResult = h('div', { id: 'join-result' });
  const accept = h('button', { type: 'submit', class: 'primary', id: 'join-accept' }, 'Accept invitation');
  const decline = h('button', { type: 'button', id: 'join-decline' }, 'Decline');
  const joinForm = h('form', { class: 'card inline-form', id: 'join-community' },
    h('h2', {}, 'Join with an invitation'),
    h('p', { class: 'muted small' }, 'Paste the token the community\'s owner sent you. Your agent contacts theirs over mutual TLS and hands over your acceptance; the owner then confirms you.'),
    field('Invitation token', token), accept, ' ', decline, joinResult);
  joinForm.addEventListener('submit', action(async () => {
    const r = await api.acceptInvitation(token.value.trim());
    token.value = '';
    add(clear(joinResult), h('p', { class: 'ok' }, `Accepted: ${r.name} (owner ${r.owner_name || shortID(r.owner)}). Waiting for the owner to confirm.`));
    await load();
  }));
  decline.addEventListener('click', action(async () => {
    await api.declineInvitation(token.value.trim());
    token.value = '';
    add(clear(joinResult), h('p', { class: 'muted' }, 'Declined.'));
  }));

  const idBox = h('input', { type: 'text', readonly: true, id: 'own-tenant-id', value: ctx.tenant.id, class: 'mono', size: 60 });
  add(root, 
    h('div', { class: 'page-head' }, h('h1', {}, 'Communities')),
    listEl,
    // Creating and joining communities are the tenant admin's.
    can(ADMIN) ? h('div', { class: 'columns' }, createForm, joinForm) : null,
    h('div', { class: 'card small' },
      h('p', {}, 'Your tenant id (give it to an owner who pins the invitation to you): '),
      idBox, ' ', h('button', { type: 'button', onclick: action(async () => { if (await copyText(idBox.value, idBox)) notify('Copied.'); }) }, 'Copy')));

  async function load() {
    let list;
    try {
      list = await api.communities();
    } catch (e) {
      add(clear(listEl), errorBox(e));
      return;
    }
    add(clear(listEl), table([
      { label: 'Community', cell: (c) => h('a', { href: '#/communities/' + encodeURIComponent(c.id), class: 'community-link' }, c.name) },
      { label: 'Owner', cell: (c) => c.role === 'owner' ? 'you' : (c.owner_name || shortID(c.owner)) },
      { label: 'Your role', cell: (c) => c.role },
      { label: 'Status', cell: (c) => badge(c.status) },
      { label: 'Id', cell: (c) => h('code', { class: 'muted small' }, shortID(c.id)) },
    ], list, { id: 'communities-table', empty: 'No communities yet: create one, or join one with an invitation.', rowData: (c) => ({ community: c.name }) }));
  }
  await load();
  const timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}
