import { existsSync, writeFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/client/index.js';
import { startHttpDaemon, users, type HttpDaemon } from '../helpers/http.js';
import { Collector, waitFor } from '../helpers/wait.js';

/**
 * The Skiff client in a real headless Chromium (Debian's), on the market-data example page the
 * HTTP listener serves: it connects over /ws, declares, subscribes, receives, acks and
 * publishes; a cross-origin page, a wrong password and oversize frames are refused with the
 * right errors; and a page that stops reading does not hold up another.
 * SKIFF_UPDATE_SCREENSHOT=1 also writes the README's screenshot of the example.
 */

const CHROMIUM = process.env['SKIFF_CHROMIUM'] ?? '/usr/bin/chromium';
const SCREENSHOT = new URL('../../src/server/http/examples/market-data.png', import.meta.url);
const available = existsSync(CHROMIUM);
if (!available) console.error(`\n*** ws-browser.test.ts SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set SKIFF_CHROMIUM) ***\n`);

let d: HttpDaemon;
let browser: Browser;
let base: string;
let feed: Connection;
const pages: Page[] = [];

beforeAll(async () => {
  if (!available) return;
  d = await startHttpDaemon({
    auth: await users([
      { name: 'guest', password: 'guest', admin: true },
      { name: 'trader', password: 'trader-pw', admin: false },
    ]),
    frameMax: 65536,
    // Without the AMQP listener, whose 128 KiB frame max would raise the endpoint's message limit.
    amqp: { enabled: false },
    ws: { port: 0 },
  });
  base = `http://127.0.0.1:${d.httpPort}`;
  feed = await d.client('guest:guest', 'feed');
  await (await feed.channel()).declareExchange('ticks', 'fanout');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
  await d?.stop();
});
beforeEach(async () => {
  expect.hasAssertions();
  for (const p of pages.splice(0)) await p.close();
});

/** Opens the example page, fills in the form and connects; resolves once the status line settles. */
async function openPage(o: { user?: string; password?: string; url?: string } = {}): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  await page.goto(`${base}/examples/market-data`);
  if (o.url !== undefined) await page.fill('#url', o.url);
  await page.fill('#user', o.user ?? 'trader');
  await page.fill('#password', o.password ?? 'trader-pw');
  await page.click('#connect-button');
  await page.waitForFunction(() => {
    const s = document.getElementById('status')?.textContent ?? '';
    return s.startsWith('connected') || document.getElementById('status')?.className === 'error';
  });
  return page;
}

const statusOf = (page: Page): Promise<{ text: string; error: boolean }> =>
  page.evaluate(() => ({ text: document.getElementById('status')?.textContent ?? '', error: document.getElementById('status')?.className === 'error' }));
const receivedOf = async (page: Page): Promise<number> => Number(await page.locator('#received').innerText());

async function publishTicks(n: number, pad = 0): Promise<void> {
  const ch = await feed.channel();
  for (let i = 0; i < n; i++) await ch.publish('ticks', '', JSON.stringify({ symbol: 'ACME', price: 100 + i / 100, ts: Date.now(), pad: 'x'.repeat(pad) }));
  await ch.close();
}

/** Runs in the page: raw WebSockets sending what no client should, reading the answers with the client's codec. */
const OVERSIZE_PROBE = `async (url) => {
  const codec = await import('/lib/skiff/protocol/index.js');
  const open = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'skiff');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('no WebSocket'));
  });
  const closeOf = (ws) => new Promise((resolve) => {
    const frames = [];
    const decoder = new codec.FrameDecoder({ onFrame: (t, c, p) => frames.push(codec.parseMethod(p).args) }, 1 << 20);
    ws.onmessage = (e) => decoder.push(new Uint8Array(e.data));
    ws.onclose = (e) => resolve({ code: e.code, frames });
  });
  // A frame header announcing 70 000 bytes, right after the protocol header.
  const a = await open();
  const closedA = closeOf(a);
  const frame = new Uint8Array(7 + 16);
  new DataView(frame.buffer).setUint32(0, 70000);
  frame[4] = 1;
  frame[6] = 1;
  a.send(new Uint8Array(codec.PROTOCOL_HEADER));
  a.send(frame);
  const tooLargeFrame = await closedA;
  // One message over frame_max (65 536 bytes).
  const b = await open();
  const closedB = closeOf(b);
  b.send(new Uint8Array(65537));
  return { tooLargeFrame, tooLargeMessage: await closedB };
}`;

describe.skipIf(!available)('the Skiff client in Chromium', () => {
  it('connects, declares, subscribes, receives, acks and publishes', async () => {
    const page = await openPage();
    expect(await statusOf(page)).toEqual({ text: `connected to ws://127.0.0.1:${d.httpPort}/ws as trader`, error: false });
    const queue = await page.locator('#queue').innerText();
    expect(queue).toMatch(/^sk\.gen-/);
    // The page's queue is exclusive, auto-delete, with a TTL, bound to the fanout exchange.
    const q = await d.get(`/api/queues/%2F/${encodeURIComponent(queue)}`);
    expect(q.json).toMatchObject({ exclusive: true, auto_delete: true, arguments: { 'x-message-ttl': 5000 } });
    const listed = (await d.get('/api/connections')).json as { user_provided_name: string | null; protocol: string; client_properties: { platform?: string } }[];
    const mine = listed.find((c) => c.user_provided_name === 'market-data page');
    expect(mine).toMatchObject({ protocol: 'Skiff 1.0 (WebSocket)', client_properties: { platform: expect.stringMatching(/^browser \(Mozilla\/5\.0 .*Chrome/) } });

    await publishTicks(50);
    await page.waitForFunction(() => document.getElementById('received')?.textContent === '50');
    expect(await page.locator('tr[data-symbol=ACME] td.count').innerText()).toBe('50');
    expect(await page.locator('tr[data-symbol=ACME] td.price').innerText()).toBe('100.49');
    // Every delivery was acked: nothing is left unacknowledged on the page's queue.
    await waitFor(() => d.daemon.broker.stats().messagesUnacked === 0, 'the page to ack everything');

    // The page publishes a tick: a consumer in Node gets it, and so does the page itself.
    const ch = await feed.channel();
    const own = await ch.declareQueue('', { exclusive: true });
    await ch.bindQueue(own.queue, 'ticks', '');
    const got = new Collector<{ symbol: string }>();
    await ch.consume(own.queue, (m) => got.push(m.json()), { noAck: true });
    await page.click('#publish');
    expect((await got.take(1))[0]).toMatchObject({ symbol: 'ACME' });
    await page.waitForFunction(() => document.getElementById('received')?.textContent === '51');
    await ch.close();
  });

  it('the demo feed publishes ticks for every symbol from the page, and the page shows a row for each', async () => {
    const page = await openPage();
    await page.setViewportSize({ width: 900, height: 520 });
    await page.click('#feed');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#rows tr')];
      return rows.length === 4 && rows.every((r) => Number(r.querySelector('td.count')?.textContent) >= 5);
    });
    await page.click('#feed');
    expect(await page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset['symbol']))).toEqual(['ACME', 'GLOBEX', 'INITECH', 'UMBRELLA']);
    expect(await page.locator('#feed').innerText()).toBe('Start demo feed');
    const shot = await page.screenshot({ fullPage: true });
    if (process.env['SKIFF_UPDATE_SCREENSHOT'] === '1') writeFileSync(SCREENSHOT, shot);
    expect(shot.subarray(1, 4).toString()).toBe('PNG');
  });

  it('refuses a wrong password with the server’s ACCESS_REFUSED', async () => {
    const page = await openPage({ user: 'trader', password: 'wrong' });
    expect(await statusOf(page)).toEqual({ text: 'ACCESS_REFUSED - login refused: wrong username or password', error: true });
  });

  it('is refused from a page of another origin, and let in once ws_allowed_origins lists it', async () => {
    // The page's origin is the HTTP listener's; ws_port is another origin for the browser.
    const wsPort = d.daemon.wsListener?.address?.port as number;
    const url = `ws://127.0.0.1:${wsPort}/ws`;
    const page = await openPage({ url });
    expect(await statusOf(page)).toEqual({ text: `cannot open a WebSocket to ${url} (refused, or the upgrade was rejected)`, error: true });
    expect(d.daemon.registry.size).toBe(1); // only the feed
    // Another daemon that lists this page's origin lets it in.
    const other = await startHttpDaemon({ ws: { allowedOrigins: base } });
    try {
      const allowed = await openPage({ url: `ws://127.0.0.1:${other.httpPort}/ws`, user: 'guest', password: 'guest' });
      expect(await statusOf(allowed)).toEqual({ text: `connected to ws://127.0.0.1:${other.httpPort}/ws as guest`, error: false });
      await allowed.close();
    } finally {
      await other.stop();
    }
  });

  it('closes a frame larger than frame_max with FRAME_TOO_LARGE, and a message larger than it with 1009', async () => {
    const page = await openPage();
    const url = `ws://127.0.0.1:${d.httpPort}/ws`;
    // A string, so the test runner's transform leaves the page's dynamic import alone.
    const result = (await page.evaluate(`(${OVERSIZE_PROBE})(${JSON.stringify(url)})`)) as {
      tooLargeFrame: { code: number; frames: unknown[] };
      tooLargeMessage: { code: number };
    };
    // connection.start, then connection.close [code, text, methodId].
    expect(result.tooLargeFrame.frames.at(-1)).toEqual([551, 'FRAME_TOO_LARGE - frame of 70004 bytes exceeds frameMax 65536', 0]);
    expect(result.tooLargeMessage.code).toBe(1009);
  });

  it('a page that stops reading does not hold up another page', async () => {
    const stalled = await openPage();
    const reader = await openPage();
    await publishTicks(10);
    for (const p of [stalled, reader]) await p.waitForFunction(() => document.getElementById('received')?.textContent === '10');
    const stalledQueue = await stalled.locator('#queue').innerText();
    // The stalled page's JavaScript stops: nothing it is sent is read any more.
    const cdp = await stalled.context().newCDPSession(stalled);
    await cdp.send('Debugger.enable');
    await cdp.send('Debugger.pause');
    // Publish until the broker holds messages back from the stalled page (its socket and buffers
    // are full), checking each round that the reading page got every tick so far.
    let sent = 10;
    let waiting = 0;
    while (waiting === 0 && sent < 20_010) {
      await publishTicks(1000, 4000);
      sent += 1000;
      await reader.waitForFunction((n) => document.getElementById('received')?.textContent === String(n), sent, { timeout: 30_000 });
      const q = await d.get(`/api/queues/%2F/${encodeURIComponent(stalledQueue)}`);
      waiting = q.json.messages_ready as number;
    }
    expect(waiting).toBeGreaterThan(0);
    expect(await receivedOf(reader)).toBe(sent);
    await cdp.send('Debugger.resume');
    // Reading again, the stalled page catches up on what its queue still holds (the TTL drops older ticks).
    await stalled.waitForFunction((n) => Number(document.getElementById('received')?.textContent) > n, 10, { timeout: 30_000 });
    await cdp.detach();
  });
});
