// The trend chart: several series on one time axis (uPlot), with window
// presets, zoom (drag across the chart), pan, and live follow. Each
// refresh reads every series for the visible window at the chart's pixel
// resolution (see series.readWindow), so zooming in shows raw points and
// zooming out shows summaries with their min-max band.

import { h, add, clear, fmtTime, fmtValue, errorText, fmtDuration } from './ui.js';
import { readWindow, describe, sourceLabel } from './series.js';

const COLORS = ['#0b7285', '#e8590c', '#5f3dc4', '#2b8a3e', '#c2255c', '#1864ab', '#a61e4d', '#5c940d', '#862e9c', '#d9480f'];
// timeTicks labels the time axis in 24-hour local time, as fmtTime writes
// the tables and the legend beside the chart (uPlot's own labels are
// 12-hour, "3pm"): 15:30, with seconds when the ticks are less than a
// minute apart, milliseconds below a second, and the date under the first
// tick and wherever the day changes; ticks a day or more apart are dates.
// It is uPlot's axis values callback: splits are seconds since the epoch,
// incr the spacing of the ticks in seconds.
export function timeTicks(u, splits, axisIdx, space, incr) {
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  let prevDay = '';
  return splits.map((s) => {
    if (s === null || s === undefined) return '';
    const d = new Date(s * 1000);
    const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    if (incr >= 86400) return day;
    let t = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (incr < 60) t += ':' + pad(d.getSeconds());
    if (incr < 1) t += '.' + pad(d.getMilliseconds(), 3);
    if (day !== prevDay) {
      prevDay = day;
      t += '\n' + day;
    }
    return t;
  });
}

const PRESETS = [['15m', 15 * 60e3], ['1h', 60 * 60e3], ['6h', 6 * 3600e3], ['1d', 86400e3], ['7d', 7 * 86400e3], ['30d', 30 * 86400e3]];

// createTrend draws a chart in root. opts: {series, spanMs, endMs (null:
// now), live, onWindow(startMs, endMs, live), onRemove(series), height}.
export function createTrend(root, opts) {
  const st = {
    series: opts.series || [],
    span: opts.spanMs || 3600e3,
    end: opts.endMs || null,
    live: opts.live !== undefined ? opts.live : !opts.endMs,
    results: new Map(),
    errors: new Map(),
    plot: null,
    shape: '',
    ctrl: null,
    timer: null,
    destroyed: false,
  };
  const status = h('span', { class: 'muted small chart-status', id: 'chart-status' });
  const liveBox = h('input', { type: 'checkbox', id: 'live', checked: st.live });
  const presetButtons = PRESETS.map(([label, ms]) => h('button', { type: 'button', class: 'preset', dataset: { span: label }, onclick: () => { const c = centre(); st.span = ms; if (!st.live) st.end = Math.min(Date.now(), c + ms / 2); refresh(); } }, label));
  const toolbar = h('div', { class: 'chart-toolbar' },
    h('div', { class: 'group' }, presetButtons),
    h('div', { class: 'group' },
      h('button', { type: 'button', title: 'Pan back', id: 'pan-back', onclick: () => pan(-0.5) }, '◀'),
      h('button', { type: 'button', title: 'Zoom out', id: 'zoom-out', onclick: zoomOut }, '−'),
      h('button', { type: 'button', title: 'Pan forward', id: 'pan-fwd', onclick: () => pan(0.5) }, '▶')),
    h('label', { class: 'live' }, liveBox, ' Live'),
    h('button', { type: 'button', id: 'chart-refresh', onclick: () => refresh() }, 'Refresh'),
    status);
  const plotEl = h('div', { class: 'plot', id: 'plot' });
  const legend = h('table', { class: 'legend grid', id: 'legend' });
  const hint = h('p', { class: 'muted small' }, 'Drag across the chart to zoom in; double-click to go back to the preset window.');
  add(clear(root), toolbar, plotEl, legend, hint);
  liveBox.addEventListener('change', () => {
    st.live = liveBox.checked;
    if (st.live) st.end = null;
    refresh();
  });
  plotEl.addEventListener('dblclick', () => { st.end = null; st.live = true; liveBox.checked = true; refresh(); });

  const ro = new ResizeObserver(() => {
    if (st.plot) st.plot.setSize(size());
  });
  ro.observe(plotEl);

  function size() {
    return { width: Math.max(300, plotEl.clientWidth || root.clientWidth || 800), height: opts.height || 340 };
  }
  function windowMs() {
    const end = st.live || !st.end ? Date.now() : st.end;
    return [end - st.span, end];
  }
  function centre() {
    const [a, b] = windowMs();
    return (a + b) / 2;
  }
  function pan(frac) {
    const [, end] = windowMs();
    st.live = false;
    liveBox.checked = false;
    st.end = Math.min(Date.now(), end + frac * st.span);
    refresh();
  }
  function zoomOut() {
    const c = centre();
    st.span *= 2;
    if (!st.live) st.end = Math.min(Date.now(), c + st.span / 2);
    refresh();
  }
  function zoomTo(a, b) {
    if (b - a < 1000) return;
    st.live = false;
    liveBox.checked = false;
    st.span = b - a;
    st.end = b;
    refresh();
  }

  async function refresh() {
    if (st.destroyed) return;
    clearTimeout(st.timer);
    if (st.ctrl) st.ctrl.abort();
    const ctrl = new AbortController();
    st.ctrl = ctrl;
    const [start, end] = windowMs();
    const px = size().width;
    for (const b of presetButtons) b.classList.toggle('active', PRESETS.find(([l]) => l === b.dataset.span)[1] === st.span);
    status.textContent = 'loading…';
    if (opts.onWindow) opts.onWindow(start, end, st.live);
    await Promise.all(st.series.map(async (s) => {
      try {
        if (!s.described) { s.described = true; await describe(s); }
        const r = await readWindow(s, start, end, px, ctrl.signal);
        st.results.set(s.id, r);
        st.errors.delete(s.id);
      } catch (e) {
        if (e.name === 'AbortError') return;
        // A denial means the partner's data is gone: show none of it.
        st.results.delete(s.id);
        st.errors.set(s.id, e);
      }
    }));
    if (ctrl.signal.aborted || st.destroyed) return;
    draw(start, end);
    status.textContent = `${fmtTime(start)} – ${fmtTime(end)}` + (st.live ? ' (live)' : '');
    if (st.live) st.timer = setTimeout(refresh, Math.min(60e3, Math.max(5e3, st.span / px)));
  }

  function draw(start, end) {
    const uPlot = window.uPlot;
    const units = [];
    for (const s of st.series) if (!units.includes(s.unit || '')) units.push(s.unit || '');
    const shape = JSON.stringify([st.series.map((s) => s.id + ':' + ((st.results.get(s.id) || {}).mode || 'none')), units]);
    // uPlot wants one x array: join every series' (times, values...) table.
    const tables = [];
    const uSeries = [{}];
    const bands = [];
    st.series.forEach((s, i) => {
      const r = st.results.get(s.id) || { mode: 'none', times: [], values: [] };
      const color = COLORS[i % COLORS.length];
      const scale = 'u' + units.indexOf(s.unit || '');
      if (r.mode === 'summaries') {
        tables.push([r.times, r.values, r.mins, r.maxs]);
        const base = uSeries.length;
        uSeries.push({ label: s.label, scale, stroke: color, width: 1.5 });
        uSeries.push({ label: s.label + ' min', scale, stroke: color + '55', width: 0.5 });
        uSeries.push({ label: s.label + ' max', scale, stroke: color + '55', width: 0.5 });
        bands.push({ series: [base + 2, base + 1], fill: color + '22' });
      } else {
        tables.push([r.times, r.values]);
        uSeries.push({ label: s.label, scale, stroke: color, width: 1.5, points: { show: r.times.length > 0 && r.times.length < 60 } });
      }
    });
    let data = [[]];
    if (tables.length && uPlot) data = uPlot.join(tables);
    for (let k = data.length; k < uSeries.length; k++) data.push([]);
    if (uPlot && (!st.plot || shape !== st.shape)) {
      if (st.plot) st.plot.destroy();
      const scales = { x: { time: true, range: () => { const [a, b] = windowMs(); return [a / 1000, b / 1000]; } } };
      // The time axis's labels are also kept on the plot element
      // (data-x-ticks), where tests and the curious can read them.
      const axes = [{ stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' }, size: 50,
        values: (u, splits, ...rest) => {
          const labels = timeTicks(u, splits, ...rest);
          plotEl.dataset.xTicks = labels.join('|');
          return labels;
        } }];
      units.forEach((u, k) => {
        scales['u' + k] = { auto: true };
        if (k < 2) axes.push({ scale: 'u' + k, label: u, side: k ? 1 : 3, stroke: '#555', grid: { show: k === 0, stroke: '#eee' }, ticks: { stroke: '#ddd' }, size: 60 });
      });
      st.plot = new uPlot({
        ...size(),
        scales, axes, series: uSeries, bands,
        legend: { show: false },
        cursor: { drag: { x: true, y: false, setScale: false } },
        hooks: {
          setSelect: [(u) => {
            if (u.select.width > 4) zoomTo(u.posToVal(u.select.left, 'x') * 1000, u.posToVal(u.select.left + u.select.width, 'x') * 1000);
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          }],
          setCursor: [(u) => cursorValues(u)],
        },
      }, data, plotEl);
      st.shape = shape;
    } else if (st.plot) {
      st.plot.setData(data, true);
    }
    if (!uPlot) plotEl.textContent = 'The chart library did not load.';
    renderLegend(start, end);
  }

  // The legend is ours (uPlot's is off) so it can show each series'
  // source, resolution and denial.
  function renderLegend(start, end) {
    add(clear(legend), h('thead', {}, h('tr', {}, ['', 'Series', 'Unit', 'Source', 'Resolution', 'Last', 'At cursor', ''].map((t) => h('th', {}, t)))));
    const body = h('tbody');
    st.series.forEach((s, i) => {
      const r = st.results.get(s.id);
      const e = st.errors.get(s.id);
      let res = '';
      if (e) res = h('span', { class: 'series-error ' + (e.status === 403 ? 'denied' : 'error') }, errorText(e));
      else if (r && r.mode === 'summaries') res = `summaries every ${fmtDuration(r.interval)} (${r.count} points)`;
      else if (r) res = r.numeric ? `raw, ${r.count} points` : `raw, ${r.count} points (not numeric: not charted)`;
      body.append(h('tr', { dataset: { series: s.id }, class: 'series-row' },
        h('td', {}, h('span', { class: 'swatch', dataset: { color: COLORS[i % COLORS.length] } })),
        h('td', { class: 'series-label' }, s.label),
        h('td', {}, s.unit || ''),
        h('td', {}, sourceLabel(s)),
        h('td', { class: 'series-status' }, res),
        h('td', {}, r && r.last ? `${fmtValue(r.last.value)} @ ${fmtTime(r.last.time)}` : ''),
        h('td', { class: 'cursor-value' }),
        h('td', {}, opts.onRemove ? h('button', { type: 'button', class: 'link', title: 'Remove from the chart', onclick: () => opts.onRemove(s) }, '✕') : '')));
    });
    legend.append(body);
    for (const sw of legend.querySelectorAll('.swatch')) sw.style.background = sw.dataset.color;
    legend.hidden = st.series.length === 0;
  }

  function cursorValues(u) {
    const idx = u.cursor.idx;
    const cells = legend.querySelectorAll('td.cursor-value');
    let col = 1;
    st.series.forEach((s, i) => {
      const r = st.results.get(s.id);
      const v = idx === null || idx === undefined ? null : (u.data[col] || [])[idx];
      if (cells[i]) cells[i].textContent = v === null || v === undefined ? '' : fmtValue(v);
      col += r && r.mode === 'summaries' ? 3 : 1;
    });
  }

  refresh();
  return {
    refresh,
    setSeries(list) { st.series = list; refresh(); },
    series: () => st.series,
    results: () => st.results,
    window: windowMs,
    isLive: () => st.live,
    destroy() {
      st.destroyed = true;
      clearTimeout(st.timer);
      if (st.ctrl) st.ctrl.abort();
      ro.disconnect();
      if (st.plot) st.plot.destroy();
    },
  };
}
