// The console's shell: a hash router (#/streams, #/trend?s=..., ...) that
// renders one page module at a time into <main id="view">. A page module
// exports render(root, ctx) and may return a cleanup function, called when
// the user leaves the page (timers, charts).

import * as auth from './auth.js';
import * as api from './api.js';
import * as roles from './roles.js';
import * as store from './store.js';
import { h, add, clear, notify, errorBox, shortID } from './ui.js';
import * as status from './pages/status.js';
import * as streams from './pages/streams.js';
import * as stream from './pages/stream.js';
import * as trend from './pages/trend.js';
import * as communities from './pages/communities.js';
import * as community from './pages/community.js';
import * as connections from './pages/connections.js';
import * as views from './pages/views.js';
import * as audit from './pages/audit.js';

const routes = [
  [/^status$/, 'status', status],
  [/^streams$/, 'streams', streams],
  [/^streams\/(.+)$/, 'streams', stream],
  [/^trend$/, 'trend', trend],
  [/^communities$/, 'communities', communities],
  [/^communities\/(.+)$/, 'communities', community],
  [/^connections$/, 'connections', connections],
  [/^views$/, 'views', views],
  [/^views\/(.+)$/, 'views', views],
  [/^audit$/, 'audit', audit],
];

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const whoEl = document.getElementById('who');
let cleanup = null;
let tenant = null; // {id, name, federation_addr}

// A Content-Security-Policy violation is a bug in the console: say so.
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation:', e.violatedDirective, e.blockedURI);
  notify('Blocked by the Content-Security-Policy: ' + e.violatedDirective + ' ' + e.blockedURI, 'error');
});

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?', 2);
  return { path: path || '', params: new URLSearchParams(query || '') };
}

async function loadTenant() {
  if (tenant) return tenant;
  try {
    tenant = await api.tenant();
  } catch (e) {
    if (e.status === 401) return null;
    tenant = { id: '', name: '' };
  }
  return tenant;
}

function renderWho() {
  clear(whoEl);
  if (!auth.signedIn()) return;
  add(whoEl,
    tenant && tenant.name ? h('span', { class: 'tenant', title: 'tenant id ' + tenant.id, id: 'tenant-name' }, tenant.name, ' ', h('code', { class: 'muted' }, shortID(tenant.id))) : null,
    h('span', { class: 'muted', id: 'who-user', title: 'signed in as' }, auth.who()),
    h('button', { type: 'button', class: 'link', id: 'signout', onclick: () => { tenant = null; auth.signOut(); } }, 'Sign out'));
}

let generation = 0;

async function route() {
  const gen = ++generation;
  if (cleanup) { try { cleanup(); } catch (_) { /* ignore */ } cleanup = null; }
  const { path, params } = parseHash();
  if (path === 'signin' || !auth.signedIn()) {
    nav.hidden = true;
    tenant = null;
    store.hideAlert();
    renderWho();
    document.title = 'Sign in · Sluice';
    auth.renderSignIn(view, path === 'signin' ? params : new URLSearchParams({ next: path ? location.hash.slice(2) : '' }), (next) => {
      location.hash = '#/' + (next || 'streams');
    });
    return;
  }
  nav.hidden = false;
  await Promise.all([loadTenant(), roles.load()]);
  if (gen !== generation) return;
  renderWho();
  // Pages the user may not use are left out of the menu (the agent
  // refuses them anyway): the audit log is the tenant admin's; local
  // streams, connections and data views need tenant-wide read.
  const allowed = {
    status: true, streams: roles.can(roles.READ), trend: true, communities: true,
    connections: roles.can(roles.READ), views: roles.can(roles.READ), audit: roles.can(roles.ADMIN),
  };
  for (const a of nav.querySelectorAll('a')) a.hidden = allowed[a.dataset.page] === false;
  let match = null;
  for (const [re, page, mod] of routes) {
    const m = re.exec(path);
    if (m) { match = { page, mod, args: m.slice(1).map(decodeURIComponent) }; break; }
  }
  if (!match) { location.replace('#/streams'); return; }
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === match.page);
  if (match.page !== 'status') store.checkAlert(); // the status page shows its own status
  clear(view);
  const root = h('div', { class: 'page page-' + match.page });
  view.append(root);
  try {
    const ctx = { args: match.args, params, tenant: tenant || { id: '', name: '' }, isCurrent: () => root.isConnected };
    const done = (await match.mod.render(root, ctx)) || null;
    if (gen === generation) cleanup = done;
    else if (done) done(); // the user moved on while the page loaded
  } catch (e) {
    if (e.status !== 401) add(root, errorBox(e));
  }
}

window.addEventListener('hashchange', route);
route();
// A full disk shows above every page within half a minute, whichever
// page is open.
setInterval(() => { if (auth.signedIn()) store.checkAlert(true); }, 30000);
