// Small DOM and formatting helpers. Text always goes in as text nodes,
// never as HTML, so names and values from partners cannot inject markup.

const BOOL_PROPS = new Set(['checked', 'disabled', 'hidden', 'required', 'readOnly', 'selected', 'multiple']);

// h builds an element: h('button', {class: 'primary', onclick: fn}, 'Save').
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'readonly') el.readOnly = !!v;
    else if (BOOL_PROPS.has(k)) el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// add appends children to el as h() does: arrays flattened, null and
// false skipped (Element.append would write them as text).
export function add(el, ...children) {
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// table renders rows with columns [{label, cell(row) -> node|string, class}].
export function table(columns, rows, opts = {}) {
  const thead = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.label))));
  const body = h('tbody', {}, rows.map((r) => h('tr', { dataset: opts.rowData ? opts.rowData(r) : undefined },
    columns.map((c) => h('td', { class: c.class }, c.cell(r))))));
  if (!rows.length && opts.empty) {
    body.append(h('tr', {}, h('td', { colspan: columns.length, class: 'muted empty' }, opts.empty)));
  }
  return h('table', { class: 'grid ' + (opts.class || ''), id: opts.id }, thead, body);
}

// Formatting.

export function fmtTime(t) {
  if (t === null || t === undefined || t === '') return '';
  const d = t instanceof Date ? t : new Date(typeof t === 'number' ? t : Date.parse(t));
  if (isNaN(d)) return String(t);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    (d.getMilliseconds() ? '.' + pad(d.getMilliseconds(), 3) : '');
}

export function fmtAgo(t) {
  const ms = Date.now() - (typeof t === 'number' ? t : Date.parse(t));
  if (isNaN(ms)) return '';
  const s = Math.round(ms / 1000);
  if (s < 0) return 'in the future';
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' d ago';
}

export function fmtValue(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a >= 1e6 || a < 1e-3) ? v.toExponential(4) : String(+v.toPrecision(6));
  }
  return String(v);
}

// quality reads an OPC UA status code: top two bits 00 good, 01 uncertain,
// 10 bad.
export function quality(q) {
  const code = Number(q || 0) >>> 0;
  const sev = code >>> 30;
  const label = sev === 0 ? 'Good' : sev === 1 ? 'Uncertain' : 'Bad';
  return { label, cls: 'q-' + label.toLowerCase(), code };
}

export function qualityBadge(q) {
  const { label, cls, code } = quality(q);
  return h('span', { class: 'badge ' + cls, title: '0x' + code.toString(16).padStart(8, '0') }, label);
}

export function badge(text, cls) {
  return h('span', { class: 'badge ' + (cls || 'st-' + String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-')) }, text);
}

export function shortID(id) {
  return id && id.length > 14 ? id.slice(0, 12) + '…' : id || '';
}

// Durations in milliseconds, as the API writes them (90s, 15m, 1h, 7d).
export function fmtDuration(ms) {
  const units = [['w', 604800000], ['d', 86400000], ['h', 3600000], ['m', 60000], ['s', 1000], ['ms', 1]];
  for (const [u, n] of units) if (ms >= n && ms % n === 0) return ms / n + u;
  return Math.max(1, Math.round(ms)) + 'ms';
}

export function parseDuration(s) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(s || '');
  if (!m) return NaN;
  return +m[1] * { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000 }[m[2]];
}

// Bytes in binary units, as the agent writes them (72.1 GiB).
export function fmtBytes(n) {
  if (n === null || n === undefined || isNaN(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (n < 0 ? '-' : '') + (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
}

// Labels: a stream's key/value metadata, shown as "key=value" chips in
// key order. A filter is a list of terms, "key=value" or "key" (has the
// label), all of which must hold; the agent matches them.

export function labelTerms(labels) {
  return Object.keys(labels || {}).sort().map((k) => k + '=' + labels[k]);
}

// labelChips renders labels; with onpick each chip is a button that
// hands its term on (to add it to a filter), with href a link.
export function labelChips(labels, opts = {}) {
  const terms = labelTerms(labels);
  if (!terms.length) return h('span', { class: 'muted' }, opts.none === undefined ? '' : opts.none);
  return h('span', { class: 'labels' }, terms.map((t) => opts.onpick
    ? h('button', { type: 'button', class: 'label-chip', title: 'Only streams with ' + t, dataset: { label: t }, onclick: () => opts.onpick(t) }, t)
    : opts.href ? h('a', { class: 'label-chip', href: opts.href(t), dataset: { label: t } }, t)
      : h('span', { class: 'label-chip', dataset: { label: t } }, t)));
}

// parseLabelFilter reads "site=plant1, line" into terms; commas separate
// terms, so a value with a comma in it is for the CLI or the API's
// ?label= to match.
export function parseLabelFilter(text) {
  return String(text || '').split(',').map((t) => t.trim()).filter((t) => t);
}

// addLabelTerm adds a term to a filter input's text, once.
export function addLabelTerm(text, term) {
  const terms = parseLabelFilter(text);
  if (!terms.includes(term)) terms.push(term);
  return terms.join(', ');
}

// Feedback.

// errorText gives a one-line message of an API or network error.
export function errorText(e) {
  if (!e) return '';
  if (e.reason && e.status === 403) return `denied: ${e.reason}`;
  return e.message || String(e);
}

export function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, errorText(e));
}

let bannerTimer;
// notify shows a message in the banner under the header.
export function notify(msg, kind = 'ok') {
  const b = document.getElementById('banner');
  if (!b) return;
  b.textContent = msg;
  b.className = 'banner ' + kind;
  b.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { b.hidden = true; }, kind === 'error' ? 10000 : 4000);
}

// action wraps a button's work: disables it while it runs and reports an
// error in the banner.
export function action(fn) {
  return async (ev) => {
    const el = ev && ev.currentTarget;
    const btn = el && el.tagName === 'FORM' ? el.querySelector('[type=submit]') : el;
    if (ev && ev.preventDefault) ev.preventDefault();
    if (btn) btn.disabled = true;
    try {
      await fn(ev);
    } catch (e) {
      notify(errorText(e), 'error');
    } finally {
      if (btn && btn.isConnected) btn.disabled = false;
    }
  };
}

// confirmButton asks for a second click instead of a modal dialog.
export function confirmButton(label, question, fn, attrs = {}) {
  let armed = false;
  let timer;
  const btn = h('button', { type: 'button', class: 'danger', ...attrs }, label);
  const run = action(fn);
  btn.addEventListener('click', (ev) => {
    if (!armed) {
      armed = true;
      btn.textContent = question;
      btn.classList.add('armed');
      timer = setTimeout(() => { armed = false; btn.textContent = label; btn.classList.remove('armed'); }, 5000);
      return;
    }
    clearTimeout(timer);
    armed = false;
    btn.textContent = label;
    btn.classList.remove('armed');
    run(ev);
  });
  return btn;
}

// copyText copies to the clipboard, also on plain-http gateways where the
// Clipboard API is missing.
export async function copyText(text, fallbackInput) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (_) { /* fall back */ }
  if (fallbackInput) {
    fallbackInput.select();
    return document.execCommand && document.execCommand('copy');
  }
  return false;
}

// download saves text as a file.
export function download(filename, mime, text) {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// tabs renders a tab strip; current is the active key.
export function tabs(items, current, hrefOf) {
  return h('div', { class: 'tabs', role: 'tablist' }, items.map(([key, label, count]) =>
    h('a', { href: hrefOf(key), role: 'tab', class: key === current ? 'active' : '', 'aria-selected': key === current ? 'true' : 'false', dataset: { tab: key } },
      label, count !== undefined ? h('span', { class: 'count' }, String(count)) : null)));
}

export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}
