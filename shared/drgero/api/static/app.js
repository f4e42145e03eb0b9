// The Dr.Gero dashboard: sign-in, the workspace, navigation and the hash router. Plain ES
// modules, no build step; every asset comes from this origin (docs/dashboard.md).
import { api, get, optional, post } from './lib/api.js';
import { append, button, clear, describeError, errorBox, field, h, input, loading, setError } from './lib/dom.js';
import * as oidc from './lib/oidc.js';
import * as session from './lib/session.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let cleanup = null;
let renderToken = 0;

const PAGES = [
  // [pattern, module, export, admin only]
  [/^\/?$/, './pages/leaderboards.js', 'list'],
  [/^\/leaderboards$/, './pages/leaderboards.js', 'list'],
  [/^\/leaderboards\/new$/, './pages/wizard.js', 'wizard'],
  [/^\/leaderboards\/([^/]+)$/, './pages/leaderboard.js', 'ranking'],
  [/^\/leaderboards\/([^/]+)\/detail$/, './pages/leaderboard.js', 'detail'],
  [/^\/leaderboards\/([^/]+)\/runs$/, './pages/leaderboard.js', 'runLogs'],
  [/^\/leaderboards\/([^/]+)\/add-model$/, './pages/addmodel.js', 'addModel'],
  [/^\/runs\/([^/]+)$/, './pages/run.js', 'run'],
  [/^\/runs\/([^/]+)\/review$/, './pages/review.js', 'review'],
  [/^\/models$/, './pages/models.js', 'models'],
  [/^\/models\/([^/]+)$/, './pages/models.js', 'model'],
  [/^\/traces$/, './pages/traces.js', 'traces'],
  [/^\/traces\/([^/]+)$/, './pages/traces.js', 'trace'],
  [/^\/workspaces$/, null, 'workspaces'],
  [/^\/settings$/, './pages/admin.js', 'settings', true],
  [/^\/tokens$/, './pages/admin.js', 'tokens', true],
  [/^\/integrations$/, './pages/admin.js', 'integrations', true],
  [/^\/billing$/, './pages/admin.js', 'billing', true],
];

export function announce(text) {
  const el = document.getElementById('announce');
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 10);
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function drawChrome() {
  const s = session.load();
  clear(nav);
  clear(who);
  if (!s || !s.workspace_id) return;
  const links = [['#/leaderboards', 'Leaderboards'], ['#/models', 'Models'], ['#/traces', 'Traces']];
  if (s.is_admin) links.push(['#/settings', 'Settings'], ['#/tokens', 'Tokens'], ['#/integrations', 'Integrations'], ['#/billing', 'Billing']);
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
  append(nav, h('ul', {}, links.map(([href, label]) => h('li', {}, h('a', {
    href, text: label, 'aria-current': path.startsWith(href.slice(1)) ? 'page' : null,
  })))));
  append(who, 
    h('span', { class: 'ws', text: `${s.workspace_name || s.workspace_id}${s.role ? ` · ${s.role}` : ''}` }),
    s.workspaces_count > 1 ? h('a', { href: '#/workspaces', text: 'Switch workspace' }) : null,
    button('Sign out', { class: 'secondary small', onclick: signOut }),
  );
}

function signOut() {
  const logout = session.load()?.logout_url;
  session.clear();
  announce('Signed out.');
  // Signed in at the issuer: end that session too (it comes back to the sign-in page).
  if (logout) {
    location.assign(logout);
    return;
  }
  location.hash = '#/';
  route();
}

// ------------------------------------------------------------------ sign-in methods
// GET api/auth/config: local one-click (local mode only), OIDC when configured, API token always.
let authConfig = null;
async function loadAuthConfig() {
  if (authConfig) return authConfig;
  const config = await fetch('api/auth/config', { cache: 'no-store', credentials: 'omit', headers: { Accept: 'application/json' } })
    .then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (config) authConfig = config;
  return config || { methods: ['token'], local: false, oidc: null, token: true };
}

// The issuer redirected back here (?code=…&state=… or ?error=…): finish the sign-in, or show
// why it failed on the sign-in page. Returns true when this page load was such a callback.
async function finishOidcSignIn() {
  const params = oidc.callbackParams();
  if (!params) {
    oidc.forgetPending();
    return false;
  }
  append(clear(main), h('p', { class: 'loading', role: 'status', text: 'Signing you in…' }));
  const config = await loadAuthConfig();
  try {
    if (!config.oidc) throw new oidc.SignInError('Sign-in with an identity provider is not configured on this server.');
    const done = await oidc.complete(config.oidc, params);
    session.clear();
    await startSession('user', done.token, { email: done.email, logout_url: oidc.logoutUrl(config.oidc) });
  } catch (err) {
    session.clear();
    let shown = err;
    if (err.status === 401) {
      shown = { message: 'You signed in at the identity provider, but this server did not accept that session (its issuer or audience settings may not match). Nothing was signed in.' };
    } else if (!(err instanceof oidc.SignInError) && err.status === undefined) {
      console.error(err);
      shown = { message: 'Sign-in failed; start again.' };
    }
    await signInPage(shown);
  }
  return true;
}

// ------------------------------------------------------------------ sign-in
async function signInPage(oidcError = null) {
  clear(main);
  document.title = 'Sign in · Dr.Gero';
  const box = errorBox();
  const page = h('section', { class: 'signin' }, h('h1', { text: 'Sign in to Dr.Gero' }));
  append(main, page);
  const config = await loadAuthConfig();
  if (config.oidc || oidcError) {
    const oidcBox = errorBox();
    const name = config.oidc ? config.oidc.name : 'your identity provider';
    append(page, h('div', { class: 'card' },
      h('h2', { text: 'Your account' }),
      h('p', { text: `Sign in with your ${name} account. You come back here signed in.` }),
      config.oidc ? button(`Sign in with ${name}`, {
        id: 'oidc-signin',
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            await oidc.begin(config.oidc);
          } catch (err) {
            setError(oidcBox, { message: `Sign-in could not start: ${err.message}` });
            ev.target.disabled = false;
          }
        },
      }) : null,
      oidcBox));
    if (oidcError) setError(oidcBox, oidcError);
  }
  if (config.local) {
    const localBox = errorBox();
    append(page, h('div', { class: 'card' },
      h('h2', { text: 'Local mode' }),
      h('p', { text: 'This is a local cloud on your machine. Sign in as its seeded owner in one click.' }),
      button('Sign in as the local owner', {
        id: 'local-signin',
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const r = await fetch('local/session', {
              method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}', credentials: 'omit', cache: 'no-store',
            });
            const data = await r.json();
            if (!r.ok) throw Object.assign(new Error(data.error?.message || 'Local sign-in was refused.'), { status: r.status });
            await startSession('user', data.user_jwt, { email: data.email });
          } catch (err) {
            setError(localBox, err);
            ev.target.disabled = false;
          }
        },
      }), localBox));
  }
  const tokenInput = input({ type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'drgero_…' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'token-signin-title' },
    h('h2', { id: 'token-signin-title', text: 'API token' }),
    h('p', { text: 'Paste a Dr.Gero API token (drgero_…). It stays in this browser tab only and is forgotten when you sign out or close the tab.' }),
    field('API token', tokenInput, { name: 'token' }),
    h('div', { class: 'row' }, h('button', { type: 'submit', text: 'Sign in with token' })),
    box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const secret = tokenInput.value.trim();
    if (!/^drgero_[A-Za-z0-9]{20,}$/.test(secret)) {
      setError(box, { message: 'That is not a Dr.Gero API token: it starts with drgero_ followed by letters and digits.' });
      tokenInput.focus();
      return;
    }
    try {
      await startSession('token', secret, {});
    } catch (err) {
      setError(box, err.status === 401 ? { message: 'This token was not accepted: it may be revoked, expired or mistyped.' } : err);
    }
  });
  append(page, form);
  const first = page.querySelector('#oidc-signin, #local-signin') || tokenInput;
  first.focus();
}

async function startSession(kind, credential, extra) {
  const listed = await get('api/workspaces', { credential, workspace: false });
  const workspaces = listed.workspaces || [];
  const base = { kind, credential, email: extra.email || '', workspaces_count: workspaces.length, logout_url: extra.logout_url || null };
  if (workspaces.length === 1) {
    await chooseWorkspace(base, workspaces[0]);
  } else {
    session.save({ ...base, workspace_id: '' });
  }
  announce('Signed in.');
  route();
}

async function chooseWorkspace(base, ws) {
  const s = { ...base, workspace_id: ws.id, workspace_name: ws.name, role: ws.role || '' };
  session.save(s);
  if (s.kind === 'user') s.is_admin = ['owner', 'admin'].includes(ws.role);
  else {
    // A token is an admin when it may list tokens (the admin scope).
    s.is_admin = await get('api/tokens').then(() => true, () => false);
  }
  session.save(s);
}

async function workspacesPage() {
  clear(main);
  document.title = 'Workspaces · Dr.Gero';
  const s = session.load();
  const box = errorBox();
  const page = h('section', {}, h('h1', { text: 'Choose a workspace' }), box);
  append(main, page, loading());
  try {
    const [listed, invitations] = await Promise.all([
      get('api/workspaces', { workspace: false }),
      s.kind === 'user' ? optional(get('api/invitations', { workspace: false })) : Promise.resolve(null),
    ]);
    main.querySelector('.loading')?.remove();
    const list = listed.workspaces || [];
    if (!list.length) append(page, h('p', { class: 'empty', text: 'You belong to no workspace yet. Accept an invitation below, or create one.' }));
    append(page, h('ul', { class: 'cards' }, list.map((ws) => h('li', { class: 'card' },
      h('h2', { text: ws.name }), h('p', { text: `Role: ${ws.role || 'token'} · Plan: ${ws.plan || '—'}` }),
      button(`Open ${ws.name}`, {
        onclick: async () => {
          await chooseWorkspace({ ...s, workspaces_count: list.length }, ws);
          location.hash = '#/leaderboards';
        },
      })))));
    append(page, invitationsBlock(invitations, s));
    if (s.kind === 'user') append(page, createWorkspaceForm());
  } catch (err) {
    main.querySelector('.loading')?.remove();
    setError(box, err);
  }
}

function invitationsBlock(invitations, s) {
  const section = h('section', { 'aria-labelledby': 'inv-title' }, h('h2', { id: 'inv-title', text: 'Your invitations' }));
  if (s.kind !== 'user') return section.appendChild(h('p', { text: 'Invitations are for people signed in with their account.' })) && section;
  if (invitations === null) {
    append(section, h('p', { class: 'empty', text: 'Invitations are not available on this server yet.' }));
    return section;
  }
  const pending = (invitations.invitations || []).filter((i) => !i.status || i.status === 'pending');
  if (!pending.length) append(section, h('p', { class: 'empty', text: 'No pending invitations.' }));
  for (const inv of pending) {
    const box = errorBox();
    const act = (what) => async () => {
      try {
        await post(`api/invitations/${encodeURIComponent(inv.id)}/${what}`, {}, { workspace: false });
        announce(what === 'accept' ? 'Invitation accepted.' : 'Invitation declined.');
        workspacesPage();
      } catch (err) {
        setError(box, err);
      }
    };
    append(section, h('div', { class: 'card' },
      h('p', { text: `${inv.workspace_name || inv.workspace_id} invites you as ${inv.role}.` }),
      h('div', { class: 'row' }, button('Accept', { onclick: act('accept') }), button('Decline', { class: 'secondary', onclick: act('decline') })),
      box));
  }
  return section;
}

function createWorkspaceForm() {
  const name = input({ maxlength: 100, required: true });
  const box = errorBox();
  const form = h('form', { class: 'card' }, h('h2', { text: 'Create a workspace' }),
    field('Workspace name', name, { name: 'name' }), h('button', { type: 'submit', text: 'Create workspace' }), box);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await post('api/workspaces', { name: name.value }, { workspace: false });
      workspacesPage();
    } catch (err) {
      setError(box, err);
    }
  });
  return form;
}

// ------------------------------------------------------------------ the router
async function route() {
  const token = ++renderToken;
  if (cleanup) {
    try { cleanup(); } catch { /* a page's cleanup never blocks navigation */ }
    cleanup = null;
  }
  const s = session.load();
  drawChrome();
  if (!s) return signInPage();
  const [path, query] = (location.hash.replace(/^#/, '') || '/').split('?');
  if (!s.workspace_id || path === '/workspaces') return workspacesPage();
  for (const [pattern, module, name, adminOnly] of PAGES) {
    const m = path.match(pattern);
    if (!m) continue;
    if (adminOnly && !s.is_admin) {
      clear(main);
      append(main, h('h1', { text: 'Not available' }), h('p', { text: 'This page is for workspace owners and admins.' }));
      return;
    }
    append(clear(main), loading());
    try {
      const mod = await import(module);
      if (token !== renderToken) return;
      const view = h('div', { class: 'page' });
      const result = await mod[name](view, m.slice(1).map(decodeURIComponent), { go, announce, session: s, query: new URLSearchParams(query || '') });
      if (token !== renderToken) {
        if (typeof result === 'function') result();
        return;
      }
      cleanup = typeof result === 'function' ? result : null;
      append(clear(main), view);
      const heading = view.querySelector('h1');
      document.title = `${heading ? heading.textContent : 'Dr.Gero'} · Dr.Gero`;
      if (!main.contains(document.activeElement) || document.activeElement === document.body) main.focus({ preventScroll: true });
    } catch (err) {
      if (token !== renderToken) return;
      // A bug, not an API answer: loud in the console (the browser tests fail on it).
      if (err.status === undefined) console.error(err);
      append(clear(main), h('h1', { text: 'Something went wrong' }), h('p', { class: 'error-box', role: 'alert', text: describeError(err) }));
    }
    return;
  }
  append(clear(main), h('h1', { text: 'Page not found' }), h('p', {}, h('a', { href: '#/leaderboards', text: 'Back to Leaderboards' })));
}

window.addEventListener('hashchange', route);
// Back from the issuer's login page: the browser may restore this page from its back-forward
// cache without running it again. The abandoned sign-in's verifier goes, and the page is drawn
// afresh (its sign-in button was left disabled).
window.addEventListener('pageshow', (ev) => {
  if (!ev.persisted) return;
  oidc.forgetPending();
  route();
});
window.addEventListener('drgero:unauthorized', () => {
  session.clear();
  announce('Your session ended; sign in again.');
  route();
});
// First page interactive: measured by the browser tests (docs/dashboard.md).
window.drgeroReady = finishOidcSignIn().then((handled) => (handled ? null : route())).then(() => {
  document.body.dataset.ready = 'true';
  performance.mark('drgero-interactive');
});
export { api };
