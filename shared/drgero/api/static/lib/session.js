// The signed-in session: in this tab's sessionStorage only (never localStorage, cookies or the
// URL); signing out removes it.
const KEY = 'drgero.session';
let current = null;

export function load() {
  if (current) return current;
  try {
    current = JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    current = null;
  }
  return current;
}

export function save(session) {
  current = session;
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clear() {
  current = null;
  sessionStorage.removeItem(KEY);
}
