// Streams: every local stream, searchable, with its latest value, unit,
// quality and source. Latest values are read for the rows on screen only.

import * as api from '../api.js';
import { h, add, clear, table, fmtValue, fmtAgo, fmtTime, qualityBadge, errorBox } from '../ui.js';
import { localSeries } from '../series.js';

const PAGE = 50;

export async function render(root, ctx) {
  document.title = 'Streams · Sluice';
  const search = h('input', { type: 'search', id: 'stream-search', placeholder: 'Search names, units, sources, descriptions', value: ctx.params.get('q') || '' });
  const count = h('span', { class: 'muted small', id: 'stream-count' });
  const list = h('div', { id: 'stream-list' });
  const pager = h('div', { class: 'pager' });
  add(root, 
    h('div', { class: 'page-head' }, h('h1', {}, 'Streams'), count),
    h('div', { class: 'toolbar' }, search, h('a', { class: 'button', href: '#/trend', id: 'open-trend' }, 'Open trend')),
    list, pager);

  let all;
  try {
    all = await api.allStreams();
  } catch (e) {
    list.append(errorBox(e));
    return null;
  }
  let page = 0;
  let timer = null;
  const latest = new Map(); // name -> point or null

  const filtered = () => {
    const q = search.value.trim().toLowerCase();
    if (!q) return all;
    return all.filter((s) => [s.name, s.unit, s.source, s.description, s.kind].some((f) => f && f.toLowerCase().includes(q)));
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
    count.textContent = `${rows.length} of ${all.length} streams`;
    const paint = () => {
      add(clear(list), table([
        { label: 'Name', cell: (s) => h('a', { href: '#/streams/' + encodeURIComponent(s.name), class: 'stream-link' }, s.name) },
        { label: 'Latest', class: 'num', cell: (s) => { const p = latest.get(s.name); return p ? h('span', { class: 'latest-value' }, fmtValue(p.value)) : latest.has(s.name) ? h('span', { class: 'muted' }, 'no data') : '…'; } },
        { label: 'Unit', cell: (s) => s.unit || '' },
        { label: 'Quality', cell: (s) => { const p = latest.get(s.name); return p ? qualityBadge(p.quality) : ''; } },
        { label: 'Updated', cell: (s) => { const p = latest.get(s.name); return p ? h('span', { title: fmtTime(p.time) }, fmtAgo(p.time)) : ''; } },
        { label: 'Kind', cell: (s) => s.kind },
        { label: 'Source', cell: (s) => s.source || h('span', { class: 'muted' }, 'API') },
        { label: '', cell: (s) => h('a', { href: '#/trend?s=' + encodeURIComponent(localSeries(s.name).id), class: 'small' }, 'Trend') },
      ], shown, { id: 'streams-table', empty: all.length ? 'No stream matches.' : 'No streams yet. Write some with `sluice stream write` or configure a source.', rowData: (s) => ({ stream: s.name }) }));
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
      history.replaceState(null, '', '#/streams' + (search.value ? '?q=' + encodeURIComponent(search.value) : ''));
      draw();
    }, 150);
  });
  await draw();
  search.focus();
  // Latest values refresh every 10 s while the page is open.
  const refresh = setInterval(() => draw(true), 10000);
  return () => { clearInterval(refresh); clearTimeout(timer); };
}
