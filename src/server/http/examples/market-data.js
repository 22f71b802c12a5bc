// The market-data example: the Skiff browser client (skiffmq/browser, served at /lib/skiff/)
// subscribing a page to a fanout exchange of ticks.
import { connect } from '/lib/skiff/src/client/browser.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$('url').value = params.get('url') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

const rows = new Map();
let conn = null;
let channel = null;
let received = 0;
let feedTimer = null;

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function show(tick) {
  let r = rows.get(tick.symbol);
  if (r === undefined) {
    const tr = document.createElement('tr');
    tr.dataset.symbol = tick.symbol;
    tr.innerHTML = '<td></td><td class="price"></td><td class="change"></td><td class="count"></td><td class="age"></td>';
    tr.cells[0].textContent = tick.symbol;
    $('rows').append(tr);
    r = { tr, first: tick.price, count: 0 };
    rows.set(tick.symbol, r);
  }
  r.count++;
  const change = tick.price - r.first;
  r.tr.cells[1].textContent = tick.price.toFixed(2);
  r.tr.cells[2].textContent = (change >= 0 ? '+' : '') + change.toFixed(2);
  r.tr.cells[2].className = change >= 0 ? 'up' : 'down';
  r.tr.cells[3].textContent = String(r.count);
  r.tr.cells[4].textContent = typeof tick.ts === 'number' ? String(Date.now() - tick.ts) : '';
  $('received').textContent = String(received);
}

async function start(url, user, password) {
  // The credentials go in the protocol's open frame, not in the URL the browser opens.
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  conn = await connect(u.href, { connectionName: 'market-data page' });
  conn.on('close', (err) => status(err ? `closed: ${err.message}` : 'closed', err != null));
  channel = await conn.channel();
  await channel.declareExchange('ticks', 'fanout');
  const q = await channel.declareQueue('', { exclusive: true, autoDelete: true, arguments: { 'x-message-ttl': 5000 } });
  await channel.bindQueue(q.queue, 'ticks', '');
  $('queue').textContent = q.queue;
  await channel.consume(q.queue, (m) => {
    received++;
    try {
      show(m.json());
    } catch {
      // not a tick: counted, not shown
    }
    m.ack();
  });
  status(`connected to ${url} as ${user}`);
  $('publish').disabled = false;
  $('feed').disabled = false;
}

const SYMBOLS = ['ACME', 'GLOBEX', 'INITECH', 'UMBRELLA'];
const prices = new Map(SYMBOLS.map((s) => [s, 100]));
function tick(symbol) {
  const p = Math.max(1, (prices.get(symbol) ?? 100) + (Math.random() - 0.5));
  prices.set(symbol, p);
  return JSON.stringify({ symbol, price: Math.round(p * 100) / 100, ts: Date.now() });
}

$('connect').addEventListener('submit', (e) => {
  e.preventDefault();
  if (conn !== null) return;
  $('connect-button').disabled = true;
  status('connecting…');
  start($('url').value, $('user').value, $('password').value).catch((err) => {
    conn = null;
    $('connect-button').disabled = false;
    status(err.message, true);
  });
});

$('publish').addEventListener('click', () => {
  void channel?.publish('ticks', '', tick(SYMBOLS[0]), { contentType: 'application/json' });
});

$('feed').addEventListener('click', () => {
  if (feedTimer !== null) {
    clearInterval(feedTimer);
    feedTimer = null;
    $('feed').textContent = 'Start demo feed';
    return;
  }
  // 20 ticks a second, spread over the symbols.
  feedTimer = setInterval(() => {
    for (const s of SYMBOLS) void channel?.publish('ticks', '', tick(s), { contentType: 'application/json' });
  }, 200);
  $('feed').textContent = 'Stop demo feed';
});

if (params.get('connect') === '1') $('connect').requestSubmit();
