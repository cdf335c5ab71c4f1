// The agent's API (docs/api.md, docs/federation-api.md), the same routes
// the CLI uses. Paths are relative, so the console also works behind a
// reverse proxy that serves the agent under a prefix.

import * as auth from './auth.js';

export class ApiError extends Error {
  constructor(status, message, reason, detail) {
    super(message);
    this.status = status;
    this.reason = reason || '';
    this.detail = detail;
  }
}

const enc = encodeURIComponent;

// request calls the API and returns the decoded JSON (null for 204).
export async function request(method, path, opts = {}) {
  let url = 'api/v1/' + path;
  if (opts.query) {
    const q = new URLSearchParams();
    // An array is a repeated parameter (label=a=1&label=b).
    for (const [k, v] of Object.entries(opts.query)) {
      for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined && x !== null && x !== '') q.append(k, x);
    }
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  let init = { method, signal: opts.signal, headers: { Accept: 'application/json' } };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers['Content-Type'] = 'application/json';
  }
  init = auth.authorize(init);
  if (opts.stepUp) init = await auth.stepUp(init);
  if (!init) throw new ApiError(0, 'cancelled: the action needs your password');
  const send = async () => {
    try {
      return await fetch(url, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'the agent cannot be reached: ' + e.message);
    }
  };
  let res = await send();
  // The agent wants the password again (step-up): ask, and try again;
  // a wrong password is asked once more.
  for (let tries = 0; res.status === 403 && tries < 3; tries++) {
    const why = await stepUpReason(res);
    if (!why) break;
    init = await auth.stepUp(init, why === 'step_up_failed' ? 'failed' : true);
    if (!init) throw new ApiError(403, 'cancelled: the action needs your password', why);
    res = await send();
  }
  if (res.status === 401) {
    auth.expired();
    throw new ApiError(401, 'not signed in (the agent did not accept the credentials)');
  }
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText, reason = '', detail, body;
    try {
      const j = await res.json();
      body = j;
      msg = j.error || msg;
      reason = j.reason || '';
      detail = j.detail;
    } catch (_) { /* not JSON */ }
    const err = new ApiError(res.status, msg, reason, detail);
    err.body = body;
    throw err;
  }
  if (res.status === 204) return null;
  if (opts.text) return res.text();
  const unreachable = res.headers.get('Sluice-Unreachable');
  const data = await res.json();
  if (unreachable && data && typeof data === 'object') data.unreachable = unreachable;
  return data;
}

// stepUpReason returns the reason of a step-up refusal, else "" (the
// response is left readable).
async function stepUpReason(res) {
  try {
    const j = await res.clone().json();
    return j.reason === 'step_up_required' || j.reason === 'step_up_failed' ? j.reason : '';
  } catch (_) {
    return '';
  }
}

const get = (p, query, signal) => request('GET', p, { query, signal });
const post = (p, body, opts) => request('POST', p, { body: body === undefined ? {} : body, ...opts });
const del = (p) => request('DELETE', p);
const put = (p, body) => request('PUT', p, { body });

export const status = () => get('status');
export const tenant = () => get('tenant');
export const whoami = () => get('whoami');

// Streams. labels are label selector terms ("key=value" or "key"), all
// of which must hold (the agent matches them).
export const listStreams = (query) => get('streams', query);
export async function allStreams(max = 20000, labels) {
  const out = [];
  let after;
  do {
    const page = await listStreams({ after, limit: 1000, label: labels });
    out.push(...page.streams);
    after = page.next;
  } while (after && out.length < max);
  return out;
}
export const getStream = (name) => get('streams/' + enc(name));
export const readStream = (name, kind, query, signal) => get('streams/' + enc(name) + '/' + kind, query, signal);

// Communities.
const c = (id) => 'communities/' + enc(id);
export const communities = () => get('communities');
export const createCommunity = (name) => post('communities', { name });
export const community = (id) => get(c(id));
export const deleteCommunity = (id) => del(c(id));
export const invite = (id, email, tenantID) => post(c(id) + '/invitations', tenantID ? { email, tenant: tenantID } : { email });
export const revokeInvitation = (id, inv) => del(c(id) + '/invitations/' + enc(inv));
export const confirmMember = (id, t) => post(c(id) + '/members/' + enc(t) + '/confirm');
export const removeMember = (id, t) => del(c(id) + '/members/' + enc(t));
export const leave = (id) => post(c(id) + '/leave');
export const pause = (id) => post(c(id) + '/pause');
export const resume = (id) => post(c(id) + '/resume');
export const share = (id, body) => post(c(id) + '/shares', body);
export const unshare = (id, stream) => del(c(id) + '/shares/' + enc(stream));
export const catalog = (id, search, labels) => get(c(id) + '/catalog', { search, label: labels });
export const readPartner = (id, t, stream, kind, query, signal) =>
  get(c(id) + '/streams/' + enc(t) + '/' + enc(stream) + '/' + kind, query, signal);
export const acceptInvitation = (token) => post('invitations/accept', { token });
export const declineInvitation = (token) => post('invitations/decline', { token });

// Connections.
export const connections = () => get('connections');
export const requestConnection = (tenantID, address, comment) => post('connections', { tenant: tenantID, address, comment });
export const reviewConnection = (t, accept, level, comment) =>
  post('connections/' + enc(t) + '/review', accept ? { accept, level, comment } : { accept, comment }, { stepUp: true });
export const cancelConnection = (t) => post('connections/' + enc(t) + '/cancel');
export const connectionCatalog = (t) => get('connections/' + enc(t) + '/catalog');
export const readConnection = (t, stream, kind, query, signal) =>
  get('connections/' + enc(t) + '/streams/' + enc(stream) + '/' + kind, query, signal);

// Data views, kept by the agent (docs/api.md "Data views").
const v = (name) => 'views/' + enc(name);
export const views = () => get('views');
export const view = (name) => get(v(name));
export const createView = (body) => post('views', body);
export const saveView = (name, body) => put(v(name), body);
export const deleteView = (name) => del(v(name));
// viewExportPath is the export's path relative to the console's base.
export const viewExportPath = (name, format) => 'api/v1/' + v(name) + '/export?format=' + enc(format || 'csv');

// Audit (agents without the audit log answer 404).
export const auditReport = (query) => get('audit/report', query);
// auditEntries reads GET audit (NDJSON) into an array of entries.
export async function auditEntries(query) {
  const text = await request('GET', 'audit', { query, text: true });
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}
// auditVerify resolves to {ok, report, detail}; a damaged log answers 409
// and rejects with an ApiError whose body holds the report.
export const auditVerify = () => get('audit/verify');
