// The store's disk use and write refusals, from the "store" object of
// GET api/v1/status (store.SpaceStatus in agent/store/retention.go): the
// status page shows all of it; the shell shows a refusal above every page,
// as it is the one thing an operator must not miss.

import * as api from './api.js';
import { h, add, clear, fmtTime } from './ui.js';

// When this console first saw each refusal. The agent does not say when
// a refusal began (no "refused_since" in the status, see refusal below).
const firstSeen = new Map();

// refusal describes why writes are refused, or returns null: the store's
// own refusal (a full disk, or store.max_size with nothing left to drop)
// first, else the first retention rule that refuses. since is the
// agent's refused_since when it sends one, else when this console first
// saw the refusal (seen: true).
export function refusal(store) {
  if (!store) return null;
  let r = null;
  if (store.refused) {
    const full = /file system full/.test(store.refused);
    r = { title: full ? 'The disk is full' : /max_size/.test(store.refused) ? 'The store is full (store.max_size)' : 'The store refuses writes',
      detail: store.refused, since: store.refused_since };
  } else {
    const rule = (store.rules || []).find((x) => x.refused);
    if (rule) r = { title: `Retention rule ${rule.rule} is full`, detail: rule.refused, since: rule.refused_since, rule: rule.rule };
  }
  for (const k of [...firstSeen.keys()]) if (!r || k !== r.title) firstSeen.delete(k);
  if (!r) return null;
  r.detail = r.detail.replace(/^store: insufficient storage: /, '');
  if (!/[.!?]$/.test(r.detail)) r.detail += '.';
  if (!r.since) {
    if (!firstSeen.has(r.title)) firstSeen.set(r.title, Date.now());
    r.since = firstSeen.get(r.title);
    r.seen = true;
  }
  return r;
}

// refusalText is the one-line warning: "The disk is full: writes are
// refused since 2026-11-23 15:30:02".
export function refusalText(r) {
  return `${r.title}: writes are refused since ${fmtTime(r.since)}` + (r.seen ? ' (when this console first saw it)' : '');
}

// showAlert shows or hides the warning above every page for a status's
// store object.
export function showAlert(store) {
  const el = document.getElementById('store-alert');
  if (!el) return;
  const r = refusal(store);
  el.hidden = !r;
  if (!r) { clear(el); return; }
  add(clear(el),
    h('strong', { id: 'store-alert-text' }, refusalText(r), '.'), ' ',
    h('span', {}, r.detail), ' ',
    h('span', {}, 'Sources stop acknowledging, so brokers keep their data; reads go on. '),
    h('a', { href: '#/status' }, 'Disk and retention →'));
}

let last = 0; // when checkAlert last read the status

// hideAlert hides the warning (signed out); the next check reads anew.
export function hideAlert() {
  const el = document.getElementById('store-alert');
  if (el) { el.hidden = true; clear(el); }
  last = 0;
}

// checkAlert reads the status at most every 15 s (force: now) and shows
// the warning; errors leave it as it was.
export async function checkAlert(force) {
  if (!force && Date.now() - last < 15000) return;
  last = Date.now();
  try {
    const st = await api.status();
    showAlert(st.store);
  } catch (_) { /* the page says what failed */ }
}
