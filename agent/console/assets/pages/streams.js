// Streams: every local stream, searchable, filtered by label (the agent
// matches ?label=), with its labels, latest value, unit, quality and
// source. Latest values are read for the rows on screen only.

import * as api from '../api.js';
import { h, add, clear, table, fmtValue, fmtAgo, fmtTime, fmtBytes, qualityBadge, errorBox, labelChips, labelTerms, parseLabelFilter, addLabelTerm } from '../ui.js';
import { localSeries } from '../series.js';

const PAGE = 50;

export async function render(root, ctx) {
  document.title = 'Streams · Sluice';
  const search = h('input', { type: 'search', id: 'stream-search', placeholder: 'Search names, units, sources, descriptions', value: ctx.params.get('q') || '' });
  const labelInput = h('input', { type: 'search', id: 'stream-label', class: 'label-filter', placeholder: 'Labels: site=plant1, line', value: ctx.params.getAll('label').join(', '), spellcheck: false,
    title: 'Only streams with all these labels: key=value, or key for any value; commas between' });
  const count = h('span', { class: 'muted small', id: 'stream-count' });
  const disk = h('a', { class: 'muted small', id: 'store-summary', href: '#/status', title: 'Disk use and retention' });
  const list = h('div', { id: 'stream-list' });
  const pager = h('div', { class: 'pager' });
  add(root, 
    h('div', { class: 'page-head' }, h('h1', {}, 'Streams'), count, h('span', { class: 'actions' }, disk)),
    h('div', { class: 'toolbar' }, search, labelInput, h('a', { class: 'button', href: '#/trend', id: 'open-trend' }, 'Open trend')),
    list, pager);
  // Disk use, where the operator looks first; the status page has the rest.
  api.status().then((st) => {
    const sp = st.store;
    if (sp) disk.textContent = `Store ${fmtBytes(sp.disk_bytes)} on disk · ${fmtBytes(sp.free_bytes)} free` + (sp.max_size ? ` · max ${fmtBytes(sp.max_size)}` : '');
  }).catch(() => {});

  let all = [];
  let labels = parseLabelFilter(labelInput.value); // the filter all was read with
  let page = 0;
  let timer = null;
  let labelTimer = null;
  const latest = new Map(); // name -> point or null

  let loaded = null; // the filter's terms all holds the streams of, null after an error
  let loads = 0;
  // load reads the streams with the labels of the filter; false if it
  // failed (said in the list) or a later load overtook it.
  async function load() {
    const want = parseLabelFilter(labelInput.value);
    const n = ++loads;
    try {
      const got = await api.allStreams(undefined, want);
      if (n !== loads) return false;
      all = got;
      labels = want;
      loaded = want.join('\n');
      return true;
    } catch (e) {
      if (n !== loads) return false;
      loaded = null;
      add(clear(list), errorBox(e));
      clear(pager);
      count.textContent = '';
      return false;
    }
  }

  function syncHash() {
    const q = new URLSearchParams();
    if (search.value) q.set('q', search.value);
    for (const t of parseLabelFilter(labelInput.value)) q.append('label', t);
    const s = q.toString();
    history.replaceState(null, '', '#/streams' + (s ? '?' + s : ''));
  }

  // pick adds a label chip's term to the filter.
  const pick = (term) => {
    labelInput.value = addLabelTerm(labelInput.value, term);
    labelInput.dispatchEvent(new Event('input'));
  };

  const filtered = () => {
    const q = search.value.trim().toLowerCase();
    if (!q) return all;
    return all.filter((s) => [s.name, s.unit, s.source, s.description, s.kind, ...labelTerms(s.labels)].some((f) => f && f.toLowerCase().includes(q)));
  };

  async function fetchLatest(rows, force) {
    const todo = force ? rows : rows.filter((s) => !latest.has(s.name));
    let i = 0;
    const worker = async () => {
      while (i < todo.length) {
        const s = todo[i++];
        try {
          const r = await api.readStream(s.name, 'latest');
          latest.set(s.name, (r.points || [])[0] || null);
        } catch (_) {
          latest.set(s.name, null);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  async function draw(force) {
    const rows = filtered();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    page = Math.min(page, pages - 1);
    const shown = rows.slice(page * PAGE, page * PAGE + PAGE);
    count.textContent = `${rows.length} of ${all.length} streams` + (labels.length ? ' with ' + labels.join(', ') : '');
    const paint = () => {
      add(clear(list), table([
        { label: 'Name', cell: (s) => h('a', { href: '#/streams/' + encodeURIComponent(s.name), class: 'stream-link' }, s.name) },
        { label: 'Latest', class: 'num', cell: (s) => { const p = latest.get(s.name); return p ? h('span', { class: 'latest-value' }, fmtValue(p.value)) : latest.has(s.name) ? h('span', { class: 'muted' }, 'no data') : '…'; } },
        { label: 'Unit', cell: (s) => s.unit || '' },
        { label: 'Quality', cell: (s) => { const p = latest.get(s.name); return p ? qualityBadge(p.quality) : ''; } },
        { label: 'Updated', cell: (s) => { const p = latest.get(s.name); return p ? h('span', { title: fmtTime(p.time) }, fmtAgo(p.time)) : ''; } },
        { label: 'Kind', cell: (s) => s.kind },
        { label: 'Source', cell: (s) => s.source || h('span', { class: 'muted' }, 'API') },
        { label: 'Labels', class: 'labels-cell', cell: (s) => labelChips(s.labels, { onpick: pick }) },
        { label: '', cell: (s) => h('a', { href: '#/trend?s=' + encodeURIComponent(localSeries(s.name).id), class: 'small' }, 'Trend') },
      ], shown, { id: 'streams-table', empty: all.length ? 'No stream matches.' : labels.length ? 'No stream has these labels.' : 'No streams yet. Write some with `sluice stream write` or configure a source.', rowData: (s) => ({ stream: s.name }) }));
    };
    if (!force) paint();
    clear(pager);
    if (pages > 1) {
      pager.append(
        h('button', { type: 'button', disabled: page === 0, onclick: () => { page--; draw(); } }, '← Previous'),
        h('span', { class: 'muted small' }, ` page ${page + 1} of ${pages} `),
        h('button', { type: 'button', disabled: page >= pages - 1, onclick: () => { page++; draw(); } }, 'Next →'));
    }
    await fetchLatest(shown, force);
    if (ctx.isCurrent()) paint();
  }

  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      page = 0;
      syncHash();
      if (loaded !== null) draw();
    }, 150);
  });
  labelInput.addEventListener('input', () => {
    clearTimeout(labelTimer);
    labelTimer = setTimeout(async () => {
      if (parseLabelFilter(labelInput.value).join('\n') === loaded) return;
      syncHash();
      page = 0;
      if (await load() && ctx.isCurrent()) draw();
    }, 300);
  });
  if (await load()) await draw();
  search.focus();
  // Latest values refresh every 10 s while the page is open.
  const refresh = setInterval(() => { if (loaded !== null) draw(true); }, 10000);
  return () => { clearInterval(refresh); clearTimeout(timer); clearTimeout(labelTimer); };
}
