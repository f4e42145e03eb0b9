// "Sign in with <issuer>": OpenID Connect authorization code + PKCE S256, the dashboard being a
// public client (no secret). The browser exchanges the code at the issuer's token endpoint
// itself: our API never sees the code, the verifier or any refresh token, and the CSP's
// connect-src allows that one origin only when OIDC is configured (docs/dashboard.md).
//
// What lives where, and for how long:
// - the code_verifier, state and nonce: sessionStorage of this tab, from the click until the
//   issuer's redirect comes back (then removed first thing, whatever the outcome);
// - the code and state in the URL: removed with history.replaceState before anything else runs;
// - the resulting token: handed to the caller, which keeps it as the session (lib/session.js).
const KEY = 'drgero.oidc.pending';
// A sign-in not finished within this time is stale (the issuer's code is short-lived anyway).
const MAX_AGE_MS = 15 * 60 * 1000;

export class SignInError extends Error {}

function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function s256(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return base64url(new Uint8Array(digest));
}

// The callback URL registered at the issuer: the dashboard's own URL (under a stage prefix too:
// https://…/Prod/), or origin + auth.oidc_redirect_path when the deployment sets one.
export function redirectUri(config) {
  const here = new URL('.', location.href);
  return `${here.origin}${config.redirect_path || here.pathname}`;
}

export async function begin(config) {
  // 32 random bytes: a 43-character verifier (RFC 7636 asks for 43 to 128).
  const pending = {
    verifier: random(32),
    state: random(16),
    nonce: random(16),
    redirect_uri: redirectUri(config),
    started: Date.now(),
  };
  const url = new URL(config.authorization_endpoint);
  const params = {
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: pending.redirect_uri,
    scope: config.scopes,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await s256(pending.verifier),
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  sessionStorage.setItem(KEY, JSON.stringify(pending));
  location.assign(url.href);
}

// A dashboard load that is not the issuer's callback: a sign-in started earlier was abandoned
// (the Back button at the issuer), so its verifier goes now rather than at the tab's end.
export function forgetPending() {
  sessionStorage.removeItem(KEY);
}

// The issuer's answer in this page's URL ({code, state} or {error, …}), or null.
export function callbackParams() {
  const q = new URLSearchParams(location.search);
  if (!q.has('state') && !q.has('code') && !q.has('error')) return null;
  return {
    code: q.get('code') || '',
    state: q.get('state') || '',
    error: q.get('error') || '',
    error_description: q.get('error_description') || '',
  };
}

const ISSUER_ERRORS = {
  access_denied: 'Sign-in was cancelled or refused at the identity provider.',
  login_required: 'The identity provider needs you to sign in again.',
  consent_required: 'The identity provider needs your consent before signing you in.',
  interaction_required: 'The identity provider needs you to finish signing in there.',
  unauthorized_client: 'This dashboard is not allowed to sign in with the identity provider (check its app client settings).',
  invalid_scope: 'The identity provider refused the requested scopes (check auth.oidc_scopes).',
  server_error: 'The identity provider failed; try again.',
  temporarily_unavailable: 'The identity provider is busy; try again in a moment.',
};

function claimsOf(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const text = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)));
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// Finishes a sign-in the issuer redirected back to: returns {token, email}. Throws SignInError
// with a sentence a person can act on. The URL and sessionStorage are cleaned before any check.
export async function complete(config, params) {
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    pending = null;
  }
  sessionStorage.removeItem(KEY);
  history.replaceState(history.state, '', `${location.pathname}${location.hash}`);

  if (params.error) {
    const known = ISSUER_ERRORS[params.error];
    const said = params.error_description ? ` (${params.error_description.slice(0, 200)})` : '';
    throw new SignInError(known ? `${known}${said}` : `The identity provider refused the sign-in: ${params.error.slice(0, 60)}${said}.`);
  }
  if (!pending || Date.now() - pending.started > MAX_AGE_MS) {
    throw new SignInError('This sign-in was not started from this tab or took too long. Nothing was signed in; start again.');
  }
  if (!params.state || params.state !== pending.state) {
    throw new SignInError('The identity provider\'s answer does not match the sign-in this tab started (state check failed). Nothing was signed in; start again.');
  }
  if (!params.code) throw new SignInError('The identity provider sent no sign-in code. Start again.');

  let response;
  try {
    response = await fetch(config.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: params.code,
        redirect_uri: pending.redirect_uri,
        client_id: config.client_id,
        code_verifier: pending.verifier,
      }).toString(),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new SignInError('The identity provider\'s token endpoint could not be reached. Check your connection and try again.');
  }
  let tokens = null;
  try {
    tokens = await response.json();
  } catch {
    tokens = null;
  }
  if (!response.ok || !tokens) {
    const reason = tokens && typeof tokens.error === 'string' ? ` (${tokens.error.slice(0, 60)})` : '';
    throw new SignInError(`The identity provider did not exchange the sign-in code for a session${reason}. Start again.`);
  }
  const idClaims = typeof tokens.id_token === 'string' ? claimsOf(tokens.id_token) : null;
  // The nonce ties the id token to this tab's request (a replayed token carries another one).
  // Its signature, issuer, audience and expiry are the authorizer's to check, on every call.
  if (!idClaims || idClaims.nonce !== pending.nonce) {
    throw new SignInError('The identity provider\'s id token does not belong to this sign-in (nonce check failed). Nothing was signed in; start again.');
  }
  const token = tokens[config.session_token];
  if (typeof token !== 'string' || !token) {
    throw new SignInError(`The identity provider sent no ${config.session_token === 'access_token' ? 'access' : 'id'} token. Nothing was signed in.`);
  }
  return { token, email: typeof idClaims.email === 'string' ? idClaims.email : '' };
}

// Where sign-out sends the browser when the issuer has a logout endpoint (else null): the
// OIDC parameter and Cognito's, both pointing back at the dashboard. No token in the URL.
export function logoutUrl(config) {
  if (!config || !config.end_session_endpoint) return null;
  const url = new URL(config.end_session_endpoint);
  const back = redirectUri(config);
  url.searchParams.set('client_id', config.client_id);
  url.searchParams.set('post_logout_redirect_uri', back);
  url.searchParams.set('logout_uri', back);
  return url.href;
}
