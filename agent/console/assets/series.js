// A series is a stream the console can read: a local stream, a stream a
// partner shares into one of this tenant's communities, or one a partner
// shares over a connection. Each has an id that fits in a URL, and one
// read function that picks raw points or summaries by how many points the
// window holds.

import * as api from './api.js';

// Ids: "l~<stream>", "c~<community>~<tenant>~<stream>", "x~<tenant>~<stream>",
// each part percent-encoded (with "~" encoded too).
const part = (s) => encodeURIComponent(s).replace(/[~!'()*]/g, (ch) => '%' + ch.charCodeAt(0).toString(16).toUpperCase());

export function localSeries(name, meta = {}) {
  return { id: 'l~' + part(name), source: 'local', stream: name, label: name, unit: meta.unit || '', kind: meta.kind || '' };
}

export function communitySeries(communityID, communityName, tenantID, tenantName, stream, meta = {}) {
  return {
    id: ['c', communityID, tenantID, stream].map((p, i) => (i ? part(p) : p)).join('~'),
    source: 'community', community: communityID, communityName: communityName || '', tenant: tenantID, tenantName: tenantName || '',
    stream, label: (tenantName || tenantID.slice(0, 8)) + '/' + stream, unit: meta.unit || '', kind: meta.kind || '',
    minIntervalMs: meta.minIntervalMs || 0,
  };
}

export function connectionSeries(tenantID, tenantName, stream, meta = {}) {
  return {
    id: ['x', tenantID, stream].map((p, i) => (i ? part(p) : p)).join('~'),
    source: 'connection', tenant: tenantID, tenantName: tenantName || '', stream,
    label: (tenantName || tenantID.slice(0, 8)) + '/' + stream, unit: meta.unit || '', kind: meta.kind || '',
    minIntervalMs: meta.minIntervalMs || 0,
  };
}

export function parseSeriesID(id) {
  const p = String(id).split('~').map((s, i) => (i ? decodeURIComponent(s) : s));
  if (p[0] === 'l' && p.length === 2) return localSeries(p[1]);
  if (p[0] === 'c' && p.length === 4) return communitySeries(p[1], '', p[2], '', p[3]);
  if (p[0] === 'x' && p.length === 3) return connectionSeries(p[1], '', p[2]);
  return null;
}

// fromCatalog makes a series of a catalog entry.
export function fromCatalog(entry, communityID, communityName) {
  const meta = { unit: entry.unit, kind: entry.kind, minIntervalMs: durationMs((entry.constraints || {}).min_interval) };
  return communityID
    ? communitySeries(communityID, communityName, entry.tenant, entry.tenant_name, entry.stream, meta)
    : connectionSeries(entry.tenant, entry.tenant_name, entry.stream, meta);
}

// describe fills in a series' unit, kind, names and constraints from the
// agent (for series that came from a URL).
export async function describe(s) {
  try {
    if (s.source === 'local') {
      const st = await api.getStream(s.stream);
      Object.assign(s, { unit: st.unit || '', kind: st.kind || '' });
    } else {
      if (s.source === 'community' && !s.communityName) {
        const c = (await api.communities()).find((x) => x.id === s.community);
        if (c) s.communityName = c.name;
      }
      const entries = s.source === 'community' ? await api.catalog(s.community, s.stream) : await api.connectionCatalog(s.tenant);
      const e = entries.find((x) => x.tenant === s.tenant && x.stream === s.stream);
      if (e) {
        const d = fromCatalog(e, s.community, s.communityName);
        Object.assign(s, { unit: d.unit, kind: d.kind, tenantName: d.tenantName, label: d.label, minIntervalMs: d.minIntervalMs });
      }
    }
  } catch (_) { /* the read itself reports what is wrong */ }
  return s;
}

function read(s, kind, query, signal) {
  switch (s.source) {
    case 'local': return api.readStream(s.stream, kind, query, signal);
    case 'community': return api.readPartner(s.community, s.tenant, s.stream, kind, query, signal);
    default: return api.readConnection(s.tenant, s.stream, kind, query, signal);
  }
}

const NICE = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800].map((s) => s * 1000);

// niceInterval is the smallest round interval of at least ms.
export function niceInterval(ms) {
  return NICE.find((n) => n >= ms) || Math.ceil(ms / 86400000) * 86400000;
}

export function durationMs(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(s || '');
  return m ? +m[1] * { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[m[2]] : 0;
}

export function numeric(v) {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

const badQuality = (q) => ((Number(q || 0) >>> 30) & 3) === 2;
const iso = (ms) => new Date(ms).toISOString();

// readWindow reads [startMs, endMs) for a chart px pixels wide: raw points
// when the window holds at most px of them, else one summary per
// px-th of the window (mean, with min and max). The result's times are
// Unix seconds, as uPlot wants them.
export async function readWindow(s, startMs, endMs, px, signal) {
  px = Math.max(10, Math.floor(px));
  const span = Math.max(1, endMs - startMs);
  let summaries = s.minIntervalMs > 0;
  if (!summaries) {
    try {
      const res = await read(s, 'data', { start: iso(startMs), end: iso(endMs), limit: px }, signal);
      if (!res.next_page_token) {
        const pts = res.points || [];
        return {
          mode: 'raw', count: pts.length,
          times: pts.map((p) => Date.parse(p.time) / 1000),
          values: pts.map((p) => (badQuality(p.quality) ? null : numeric(p.value))),
          numeric: pts.every((p) => typeof p.value !== 'string' || ['NaN', 'Infinity', '-Infinity'].includes(p.value)),
          last: pts.length ? pts[pts.length - 1] : null,
        };
      }
      summaries = true;
    } catch (e) {
      if (e.reason !== 'resolution_too_fine') throw e;
      await describe(s);
      summaries = true;
    }
  }
  const interval = niceInterval(Math.max(Math.ceil(span / px), s.minIntervalMs || 0));
  // Align buckets to the interval so live updates keep the same buckets.
  const start = Math.floor(startMs / interval) * interval;
  const res = await read(s, 'summaries', { start: iso(start), end: iso(endMs), interval: interval + 'ms' }, signal);
  const rows = res.summaries || [];
  const mid = (r) => (Date.parse(r.start) + Math.min(interval, Date.parse(r.end) - Date.parse(r.start)) / 2) / 1000;
  return {
    mode: 'summaries', interval, count: rows.reduce((n, r) => n + r.count, 0), buckets: rows.length,
    times: rows.map(mid),
    values: rows.map((r) => numeric(r.mean)),
    mins: rows.map((r) => numeric(r.min)),
    maxs: rows.map((r) => numeric(r.max)),
    numeric: true,
    last: lastSummary(rows),
  };
}

function lastSummary(rows) {
  for (let i = rows.length - 1; i >= 0; i--) {
    if (rows[i].last) return rows[i].last; // a point: {time, value, quality}
  }
  return null;
}

// readGrid reads values on a common time grid for data views: every
// interval from start to end, interpolated or one summary statistic per
// interval. Returns a map of time (ms) to value.
export async function readGrid(s, startMs, endMs, intervalMs, mode, stat) {
  const q = { start: iso(startMs), end: iso(endMs), interval: intervalMs + 'ms' };
  const out = new Map();
  if (mode === 'summaries') {
    const res = await read(s, 'summaries', q);
    for (const r of res.summaries || []) {
      let v = r[stat] === undefined ? null : r[stat];
      if (v && typeof v === 'object') v = v.value; // first and last are points
      out.set(Date.parse(r.start), v);
    }
  } else {
    const res = await read(s, 'interpolated', q);
    for (const p of res.points || []) out.set(Date.parse(p.time), p.value);
  }
  return out;
}

// candidates lists everything this tenant can read: its own streams, the
// catalogs of its communities (partners' streams only), and the catalogs
// of partners it has a connection to. notes says what could not be
// listed.
export async function candidates(selfID) {
  const list = [];
  const notes = [];
  const [local, comms, conns] = await Promise.allSettled([api.allStreams(), api.communities(), api.connections()]);
  if (local.status === 'fulfilled') for (const st of local.value) list.push(localSeries(st.name, st));
  else notes.push('local streams: ' + local.reason.message);
  const jobs = [];
  if (comms.status === 'fulfilled') {
    for (const c of comms.value.filter((c) => c.status === 'owner' || c.status === 'confirmed')) {
      jobs.push(api.catalog(c.id).then((entries) => {
        for (const e of entries) if (e.tenant !== selfID) list.push(fromCatalog(e, c.id, c.name));
        if (entries.unreachable) notes.push(`${c.name}: not reachable now: ${entries.unreachable}`);
      }).catch((e) => notes.push(`${c.name}: ${e.message}`)));
    }
  }
  if (conns.status === 'fulfilled') {
    // Over a connection, its requester reads what the other side shares.
    for (const x of conns.value.paired || []) {
      if (x.from !== selfID) continue;
      jobs.push(api.connectionCatalog(x.to).then((entries) => {
        for (const e of entries) list.push(fromCatalog(e, null, null));
      }).catch((e) => notes.push(`${x.to_name || x.to.slice(0, 8)}: ${e.message}`)));
    }
  }
  await Promise.all(jobs);
  return { list, notes };
}

// sourceLabel says where a series comes from, for pickers and legends.
export function sourceLabel(s) {
  if (s.source === 'local') return 'local';
  const who = s.tenantName || s.tenant.slice(0, 8);
  return s.source === 'community' ? `${who} in ${s.communityName || 'community'}` : `${who} (connection)`;
}
