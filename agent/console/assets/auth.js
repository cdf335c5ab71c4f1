// Sign-in: the one module that knows how the console proves who it is.
//
// Now: the agent's admin token (<data dir>/admin.token), pasted once, kept
// in sessionStorage (this tab only; gone when the tab closes) and sent as
// "Authorization: Bearer <token>" on every API call.
//
// Later, with users: the form asks for user and password and posts them to
// a login route that answers with an HttpOnly, SameSite=Strict session
// cookie and a CSRF token. Then authorize() sends credentials:
// 'same-origin' plus an X-CSRF-Token header instead of the bearer, stepUp()
// asks for the password again (X-Sluice-Password) on the routes that need
// it, signOut() posts a logout, and signedIn() asks the agent. Every other
// module only calls the functions exported here, so nothing else changes.

import { h, add, clear } from './ui.js';

const KEY = 'sluice.token';

export function signedIn() {
  return !!sessionStorage.getItem(KEY);
}

// authorize adds this console's credentials to a fetch init.
export function authorize(init) {
  const headers = new Headers(init.headers || {});
  const tok = sessionStorage.getItem(KEY);
  if (tok) headers.set('Authorization', 'Bearer ' + tok);
  return { ...init, headers, credentials: 'same-origin' };
}

// stepUp is called before actions that need the user's password again
// (accepting a connection, managing users). The admin token is exempt from
// step-up, so for now it adds nothing.
export async function stepUp(init) {
  return init;
}

// expired is called when the agent answers 401: the credentials are gone
// or wrong, so forget them and ask again.
export function expired() {
  sessionStorage.removeItem(KEY);
  if (!location.hash.startsWith('#/signin')) {
    location.hash = '#/signin?expired=1&next=' + encodeURIComponent(location.hash.slice(1));
  }
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  location.hash = '#/signin';
}

// who is a short label of the signed-in identity for the header.
export function who() {
  return signedIn() ? 'admin (token)' : '';
}

// renderSignIn draws the sign-in form; onDone runs after a sign-in that the
// agent accepted.
export function renderSignIn(root, params, onDone) {
  clear(root);
  const token = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true,
    placeholder: 'paste the admin token', spellcheck: false });
  const err = h('p', { class: 'error', id: 'signin-error', role: 'alert' });
  if (params.get('expired')) err.textContent = 'The agent did not accept the token. Sign in again.';
  const submit = h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'card signin', id: 'signin-form' },
    h('h1', {}, 'Sign in to this agent'),
    h('label', { for: 'token' }, 'Admin token'),
    token,
    h('p', { class: 'muted small' },
      'The agent wrote it to ', h('code', {}, '<data dir>/admin.token'), ' on first start (',
      h('code', {}, 'sudo cat /var/lib/sluice/admin.token'), '). It stays in this browser tab only.'),
    err,
    submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    submit.disabled = true;
    const tok = token.value.trim();
    try {
      const res = await fetch('api/v1/status', { headers: { Authorization: 'Bearer ' + tok }, credentials: 'same-origin' });
      if (res.status === 401) throw new Error('The agent did not accept this token.');
      if (!res.ok) throw new Error('The agent answered ' + res.status + '.');
      sessionStorage.setItem(KEY, tok);
      onDone(params.get('next'));
    } catch (e) {
      err.textContent = e.message || String(e);
    } finally {
      submit.disabled = false;
    }
  });
  add(root, form);
  token.focus();
}
