// Calls the API on this origin with relative URLs (so a stage prefix such as /Prod/ works).
import { load } from './session.js';

export class ApiError extends Error {
  constructor(status, body, path) {
    const e = (body && body.error) || {};
    super(e.message || (status ? `The server answered ${status}.` : 'The server could not be reached.'));
    this.status = status;
    this.code = e.code || '';
    this.details = e.details ?? null;
    this.param = e.param ?? null;
    this.requestId = e.request_id || '';
    this.path = path;
    // A route another part of the product adds later: the page says "not available".
    this.notAvailable = status === 404 && (this.code === 'not_found' && /No such route/.test(this.message));
  }
}

export async function api(method, path, body, { workspace = true, credential } = {}) {
  const session = load();
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const secret = credential || (session && session.credential);
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (workspace && !credential && session && session.kind === 'user' && session.workspace_id) {
    headers['X-Workspace-Id'] = session.workspace_id;
  }
  let response;
  try {
    response = await fetch(path.replace(/^\//, ''), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'follow',
    });
  } catch {
    throw new ApiError(0, null, path);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { raw: text };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && session && !credential) window.dispatchEvent(new CustomEvent('drgero:unauthorized'));
    throw new ApiError(response.status, data, path);
  }
  return data;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body = {}, opts) => api('POST', path, body, opts);
export const put = (path, body = {}, opts) => api('PUT', path, body, opts);
export const patch = (path, body = {}, opts) => api('PATCH', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

// For routes other parts of the product add: null when this server does not have them yet.
export async function optional(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err.notAvailable) return null;
    throw err;
  }
}

export const enc = encodeURIComponent;
