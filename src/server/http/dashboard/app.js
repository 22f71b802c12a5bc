// The dashboard: a login form, then one view at a time, refreshed every few seconds. Everything
// it shows comes from the management API on the same origin, with the user's credentials in an
// Authorization header (kept in sessionStorage, so closing the tab forgets them).
import { h } from './dom.js';
import { VIEWS } from './views.js';

const KEY = 'skiff.credentials';
const VHOST_KEY = 'skiff.vhost';
const status = document.getElementById('status');
const main = document.getElementById('main');
const loginForm = document.getElementById('login');

/** An API error: `error` and `reason` as the server sent them. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.reason ?? `HTTP ${status}`);
    this.status = status;
    this.error = body?.error ?? 'error';
  }
}

/** Calls the API; JSON in and out. */
export async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const init = {
    method,
    headers: { authorization: `Basic ${sessionStorage.getItem(KEY) ?? ''}`, 'x-requested-with': 'XMLHttpRequest', ...headers },
  };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  const data = text === '' ? null : JSON.parse(text);
  if (res.status === 401) {
    logout('Your session ended: log in again.');
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** `%2F`-style path segment. */
export const seg = (s) => encodeURIComponent(s);

let statusTimer = null;
/** A line under the header: what just happened, or what went wrong. */
export function say(text, kind = 'ok') {
  status.textContent = text;
  status.className = kind;
  clearTimeout(statusTimer);
  if (kind === 'ok') statusTimer = setTimeout(() => say('', ''), 4000);
}

const app = {
  api,
  say,
  seg,
  interval: 5000,
  /** The daemon's stats_interval_ms: how far apart its samples are. */
  statsInterval: 5000,
  user: null,
  /** The vhost the queue and exchange views show and change (the picker in the header). */
  vhost: sessionStorage.getItem(VHOST_KEY) ?? '/',
  go: (hash) => (location.hash = hash),
};

/** Fills the vhost picker with the vhosts the user may see; plain users keep the one they have. */
async function loadVhosts() {
  const pick = document.getElementById('vhost');
  let names = [app.vhost];
  try {
    names = (await api('/api/vhosts')).map((v) => v.name);
  } catch {
    // Listing vhosts needs the monitoring tag; the default one still works.
  }
  if (!names.includes(app.vhost)) app.vhost = names[0] ?? '/';
  pick.replaceChildren(...names.map((n) => h('option', { value: n, ...(n === app.vhost && { selected: '' }) }, n)));
  document.getElementById('vhost-pick').hidden = names.length < 2;
}
document.getElementById('vhost').addEventListener('change', (e) => {
  app.vhost = e.target.value;
  sessionStorage.setItem(VHOST_KEY, app.vhost);
  void render();
});

let current = null;
let timer = null;

async function render() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const view = VIEWS[name] ?? VIEWS.overview;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === (VIEWS[name] ? name : 'overview'));
  clearInterval(timer);
  current = view.mount(main, app, rest.map(decodeURIComponent));
  await refresh();
  timer = setInterval(refresh, app.interval);
}

async function refresh() {
  if (current === null || sessionStorage.getItem(KEY) === null) return;
  try {
    await current.refresh();
    if (status.className === 'error') say('', '');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    say(err instanceof ApiError && err.status === 403 ? `${err.message}` : `Could not load: ${err.message}`, 'error');
  }
}

function logout(message) {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  current = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  main.replaceChildren(loginForm);
  if (message) say(message, 'error');
}

async function start() {
  try {
    app.user = await api('/api/whoami');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) say(`Could not reach the daemon: ${err.message}`, 'error');
    return;
  }
  try {
    app.statsInterval = (await api('/api/overview')).statistics_interval ?? 5000;
    app.interval = Math.max(2000, app.statsInterval);
  } catch {
    // Plain users may not read the overview; they still get the views they may use.
  }
  document.getElementById('who-name').replaceChildren(h('span', {}, app.user.name, app.user.tags.length ? h('span', { class: 'badge' }, app.user.tags.join(', ')) : null));
  document.getElementById('nav').hidden = false;
  document.getElementById('who').hidden = false;
  await loadVhosts();
  await render();
}

loginForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(loginForm);
  const user = String(f.get('user') ?? '');
  const password = String(f.get('password') ?? '');
  sessionStorage.setItem(KEY, btoa(unescape(encodeURIComponent(`${user}:${password}`))));
  say('', '');
  await start();
  if (sessionStorage.getItem(KEY) === null) say('Login refused: wrong username or password.', 'error');
});
document.getElementById('logout').addEventListener('click', () => logout());
window.addEventListener('hashchange', () => {
  if (sessionStorage.getItem(KEY) !== null) void render();
});

if (sessionStorage.getItem(KEY) !== null) void start();
