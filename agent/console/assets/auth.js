// Sign-in: the one module that knows how the console proves who it is.
// Every other module only calls the functions exported here.
//
// With a user of the agent (the default): the form posts user and
// password to POST api/v1/login with "session": true. The agent answers
// with an HttpOnly, SameSite=Strict cookie holding the session's token,
// which no script here can read, and a CSRF token, kept in sessionStorage
// (this tab only). authorize() sends credentials: 'same-origin' and, on
// every request but GET and HEAD, the X-CSRF-Token header. stepUp() asks
// for the password again (X-Sluice-Password) on the routes that need it.
// signOut() posts api/v1/logout, which revokes the session and clears the
// cookie. Sessions end when the agent restarts: the next call answers 401
// and the console asks to sign in again.
//
// With a token (the alternative, e.g. <data dir>/admin.token): pasted
// once, kept in sessionStorage and sent as "Authorization: Bearer
// <token>". The bootstrap admin token is exempt from step-up; any other
// token is asked for its user's password when the agent wants it.
//
// Either way the header shows the signed-in user (GET api/v1/whoami).
//
// Which form comes first: the token's, unless this browser last signed in
// to this agent (this origin) with user and password. Every agent has its
// admin token from the first start, and users only once someone adds
// them, so a new agent, which has nothing else, gets the form that works.
// The agent says nothing about its users before sign-in (that would tell
// anyone which sign-in to try), so the choice is remembered here, in
// localStorage (the method only, never a credential); #/signin?with=user
// or ?with=token chooses explicitly.

import { h, add, clear } from './ui.js';

const TOKEN = 'sluice.token';
const CSRF = 'sluice.csrf';
const WHO = 'sluice.who';
const ME = 'sluice.me';
const METHOD = 'sluice.signin'; // localStorage: 'user' or 'token', see above

// firstMethod is the sign-in form to show first: 'token' or 'user'.
function firstMethod(params) {
  const asked = params && params.get('with');
  if (asked === 'token' || asked === 'user') return asked;
  try {
    return localStorage.getItem(METHOD) === 'user' ? 'user' : 'token';
  } catch (_) {
    return 'token'; // storage disabled: the form every agent takes
  }
}

function rememberMethod(m) {
  try { localStorage.setItem(METHOD, m); } catch (_) { /* storage disabled */ }
}

function forget() {
  for (const k of [TOKEN, CSRF, WHO, ME]) sessionStorage.removeItem(k);
}

export function signedIn() {
  return !!(sessionStorage.getItem(TOKEN) || sessionStorage.getItem(CSRF));
}

// authorize adds this console's credentials to a fetch init.
export function authorize(init) {
  const headers = new Headers(init.headers || {});
  const tok = sessionStorage.getItem(TOKEN);
  const csrf = sessionStorage.getItem(CSRF);
  const method = (init.method || 'GET').toUpperCase();
  if (tok) headers.set('Authorization', 'Bearer ' + tok);
  else if (csrf && method !== 'GET' && method !== 'HEAD') headers.set('X-CSRF-Token', csrf);
  return { ...init, headers, credentials: 'same-origin' };
}

// stepUp is called before actions that need the user's password again
// (accepting a connection, confirming a member, managing users), and
// with required set when the agent asked for it (403 step_up_required).
// It returns the init with the password, or null when the user cancels.
// The admin token is exempt, so with a token it adds nothing unless the
// agent asked.
export async function stepUp(init, required = false) {
  if (sessionStorage.getItem(TOKEN) && !required) return init;
  const pw = await askPassword(required === 'failed');
  if (pw === null) return null;
  const headers = new Headers(init.headers || {});
  headers.set('X-Sluice-Password', pw);
  return { ...init, headers };
}

// askPassword shows a modal dialog with one password field; it resolves
// to the password, or null when cancelled.
function askPassword(retry) {
  return new Promise((resolve) => {
    const input = h('input', { type: 'password', id: 'stepup-password', name: 'password', autocomplete: 'current-password', required: true });
    const err = h('p', { class: 'error', id: 'stepup-error', role: 'alert' }, retry ? 'Wrong password. Try again.' : '');
    const cancel = h('button', { type: 'button', id: 'stepup-cancel' }, 'Cancel');
    const form = h('form', { class: 'stepup-form' },
      h('h2', {}, 'Confirm with your password'),
      h('p', { class: 'muted small' }, 'This action needs your password again.'),
      h('label', { for: 'stepup-password' }, 'Password'),
      input,
      err,
      h('div', { class: 'toolbar' }, h('button', { type: 'submit', class: 'primary', id: 'stepup-submit' }, 'Confirm'), cancel));
    const dlg = h('dialog', { class: 'card stepup', id: 'stepup' }, form);
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      input.value = '';
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (input.value) finish(input.value);
    });
    cancel.addEventListener('click', () => finish(null));
    dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); finish(null); }); // Escape
    document.body.append(dlg);
    dlg.showModal();
    input.focus();
  });
}

// expired is called when the agent answers 401: the credentials are gone
// or wrong, so forget them and ask again.
export function expired() {
  forget();
  if (!location.hash.startsWith('#/signin')) {
    location.hash = '#/signin?expired=1&next=' + encodeURIComponent(location.hash.slice(1));
  }
}

export async function signOut() {
  if (sessionStorage.getItem(CSRF) && !sessionStorage.getItem(TOKEN)) {
    try {
      await fetch('api/v1/logout', authorize({ method: 'POST' }));
    } catch (_) { /* the agent is gone: the session ends with it */ }
  }
  forget();
  location.hash = '#/signin';
}

// who is a short label of the signed-in identity for the header.
export function who() {
  return signedIn() ? (sessionStorage.getItem(WHO) || '') : '';
}

// me is what GET api/v1/whoami answered after sign-in ({user, admin,
// roles: [{role, community}]}), or null if it is not known (roles.js).
export function me() {
  if (!signedIn()) return null;
  try {
    return JSON.parse(sessionStorage.getItem(ME) || 'null');
  } catch (_) {
    return null;
  }
}

// whoami asks the agent who the credentials are and what roles they hold,
// once after sign-in, for the header and roles.js.
export async function whoami() {
  try {
    const res = await fetch('api/v1/whoami', authorize({ headers: { Accept: 'application/json' } }));
    if (!res.ok) return;
    const w = await res.json();
    sessionStorage.setItem(WHO, w.user + (sessionStorage.getItem(TOKEN) ? ' (token)' : ''));
    sessionStorage.setItem(ME, JSON.stringify({ user: w.user, admin: !!w.admin, roles: Array.isArray(w.roles) ? w.roles : [] }));
  } catch (_) { /* the header stays without a name */ }
}

async function failure(res, what) {
  if (res.status === 401) return 'The agent did not accept this ' + what + '.';
  if (res.status === 429) {
    const s = res.headers.get('Retry-After');
    return 'Too many failed sign-ins: this user is locked' + (s ? ' for ' + s + ' s' : '') + '.';
  }
  try {
    const j = await res.json();
    if (j.error) return j.error;
  } catch (_) { /* not JSON */ }
  return 'The agent answered ' + res.status + '.';
}

// renderSignIn draws the sign-in form; onDone runs after a sign-in that the
// agent accepted. params: expired=1, next=<hash>, with=token|user.
export function renderSignIn(root, params, onDone) {
  clear(root);
  let withToken = firstMethod(params) === 'token';
  const user = h('input', { type: 'text', id: 'user', name: 'username', autocomplete: 'username', required: true,
    spellcheck: false, autocapitalize: 'none' });
  const password = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const token = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true,
    placeholder: 'paste the token', spellcheck: false });
  const userFields = h('div', { class: 'signin-fields', id: 'signin-user' },
    h('label', { for: 'user' }, 'User'), user,
    h('label', { for: 'password' }, 'Password'), password);
  const tokenFields = h('div', { class: 'signin-fields', id: 'signin-token' },
    h('label', { for: 'token' }, 'Token'), token,
    h('p', { class: 'muted small' },
      'An API token, or the admin token the agent wrote to ', h('code', {}, '<data dir>/admin.token'), ' on first start (',
      h('code', {}, 'sudo cat /var/lib/sluice/admin.token'), '). It stays in this browser tab only.'));
  const err = h('p', { class: 'error', id: 'signin-error', role: 'alert' });
  if (params.get('expired')) err.textContent = 'Your session ended or the agent did not accept the credentials. Sign in again.';
  const submit = h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, 'Sign in');
  const toggle = h('button', { type: 'button', class: 'link', id: 'signin-switch' });
  const form = h('form', { class: 'card signin', id: 'signin-form' },
    h('h1', {}, 'Sign in to this agent'),
    userFields, tokenFields, err, submit, toggle);

  function show() {
    userFields.hidden = withToken;
    tokenFields.hidden = !withToken;
    user.required = password.required = !withToken;
    token.required = withToken;
    form.dataset.mode = withToken ? 'token' : 'user';
    toggle.textContent = withToken ? 'Sign in with user and password' : 'Sign in with a token';
    (withToken ? token : (user.value ? password : user)).focus();
  }
  toggle.addEventListener('click', () => { withToken = !withToken; err.textContent = ''; show(); });

  async function withUser() {
    const res = await fetch('api/v1/login', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ user: user.value.trim(), password: password.value, session: true }),
    });
    if (res.status !== 201) throw new Error(await failure(res, 'user and password'));
    const j = await res.json();
    if (!j.csrf) throw new Error('The agent did not start a session.');
    forget();
    sessionStorage.setItem(CSRF, j.csrf);
    sessionStorage.setItem(WHO, j.user || user.value.trim());
    password.value = '';
  }

  async function withTok() {
    const tok = token.value.trim();
    const res = await fetch('api/v1/status', { headers: { Authorization: 'Bearer ' + tok }, credentials: 'same-origin' });
    if (!res.ok) throw new Error(await failure(res, 'token'));
    forget();
    sessionStorage.setItem(TOKEN, tok);
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    submit.disabled = true;
    try {
      await (withToken ? withTok() : withUser());
      rememberMethod(withToken ? 'token' : 'user');
      await whoami();
      onDone(params.get('next'));
    } catch (e) {
      err.textContent = e.message || String(e);
    } finally {
      submit.disabled = false;
    }
  });
  add(root, form);
  show();
}
