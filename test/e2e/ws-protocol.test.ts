import { AMQPWebSocketClient } from '@cloudamqp/amqp-client';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, createWebSocketStream } from 'ws';
import { ConnectionError, ServerError, connect, webSocketTransport, type Connection, type WebSocketConstructor } from '../../src/client/index.js';
import { resolveConfig } from '../../src/config/load.js';
import { startDaemon } from '../../src/daemon.js';
import { FrameType, Method, PROTOCOL_HEADER } from '../../protocol/index.js';
import { frame, methodFrame } from '../helpers/frames.js';
import { Random } from '../helpers/random.js';
import { RawClient } from '../helpers/raw.js';
import { request } from '../helpers/http.js';
import { startHttpDaemon, users, type HttpDaemon, type HttpDaemonOptions } from '../helpers/http.js';
import { Collector, waitFor } from '../helpers/wait.js';
import { openWs, rawWs, refusedUpgrade } from '../helpers/ws.js';

/**
 * The WebSocket endpoint from outside, with stock `ws` clients and ours over ws://: the native
 * protocol in binary messages on /ws of the HTTP listener (and ws_port), and every check the
 * endpoint makes before and after the upgrade.
 */

let d: HttpDaemon | null = null;
const conns: Connection[] = [];
afterEach(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await d?.stop();
  d = null;
});

async function daemon(o: HttpDaemonOptions = {}): Promise<{ d: HttpDaemon; url: string }> {
  d = await startHttpDaemon(o);
  return { d, url: `ws://127.0.0.1:${d.httpPort}/ws` };
}

async function client(url: string, user = 'guest:guest'): Promise<Connection> {
  const c = await connect(url.replace('ws://', `ws://${user}@`), { heartbeatMs: 0, reconnect: false });
  conns.push(c);
  return c;
}

describe('subprotocol skiff on /ws', () => {
  it('carries the whole client API: declare, publish, consume, ack, get; listed as a WebSocket connection', async () => {
    const { d, url } = await daemon();
    const c = await client(url);
    const ch = await c.channel();
    await ch.declareExchange('ticks', 'fanout');
    const q = await ch.declareQueue('', { exclusive: true, autoDelete: true, arguments: { 'x-message-ttl': 5000 } });
    await ch.bindQueue(q.queue, 'ticks', '');
    const got = new Collector<string>();
    await ch.consume(q.queue, (m) => {
      got.push(m.text());
      m.ack();
    });
    for (let i = 0; i < 100; i++) await ch.publish('ticks', '', `tick ${i}`);
    expect(await got.take(100)).toEqual(Array.from({ length: 100 }, (_, i) => `tick ${i}`));
    // A message larger than one 64 KiB batch crosses several WebSocket messages.
    const big = new Uint8Array(300_000).map((_, i) => i & 0xff);
    await ch.publish('', q.queue, big);
    await waitFor(() => got.length === 101, 'the big message');
    const r = await d.get('/api/connections');
    expect(r.json.map((x: { protocol: string; user: string }) => [x.protocol, x.user])).toEqual([['Skiff 1.0 (WebSocket)', 'guest']]);
  });

  it('sends the password only in the open frame: not in the URL the socket opens, not in any log line', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
    const daemon = await startDaemon(resolveConfig({ host: '127.0.0.1', port: 0, http: { port: 0 } }), {
      log,
      memoryOnly: true,
      auth: await users([{ name: 'app', password: 's3cret-pw', admin: false }]),
    });
    try {
      const port = daemon.http?.address?.port as number;
      const opened: string[] = [];
      // The stock `ws` WebSocket, noting the address each socket opens.
      class Noting extends WebSocket {
        constructor(address: string, protocols: string | string[]) {
          opened.push(address);
          super(address, protocols);
        }
      }
      const transport = webSocketTransport(Noting as unknown as WebSocketConstructor);
      const ok = await connect(`ws://app:s3cret-pw@127.0.0.1:${port}/ws`, { transport, reconnect: false, heartbeatMs: 0 });
      await ok.close();
      const refused = await connect(`ws://app:wr0ng-pw@127.0.0.1:${port}/ws`, { transport, reconnect: false }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'ACCESS_REFUSED' });
      expect(opened).toEqual([`ws://127.0.0.1:${port}/ws`, `ws://127.0.0.1:${port}/ws`]);
      const all = lines.join('');
      expect(all).toContain('authentication failed'); // the daemon did log, at trace level
      expect(all).not.toContain('s3cret-pw');
      expect(all).not.toContain('wr0ng-pw');
    } finally {
      await daemon.stop();
    }
  });

  it('refuses bad credentials in the open frame with ACCESS_REFUSED, as over TCP', async () => {
    const { url } = await daemon({ auth: await users([{ name: 'app', password: 'app-pw', admin: false }]) });
    const err = await client(url, 'app:wrong').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'ACCESS_REFUSED', replyCode: 403, message: 'ACCESS_REFUSED - login refused: wrong username or password' });
    const ok = await client(url, 'app:app-pw');
    expect(ok.serverName).not.toBe('');
  });

  it('closes a frame larger than frame_max with FRAME_TOO_LARGE, and a message larger than frame_max with 1009', async () => {
    // Without the AMQP listener, whose 128 KiB frame max would raise the endpoint's message limit.
    const { url } = await daemon({ frameMax: 65536, amqp: { enabled: false } });
    const { raw, closed } = await rawWs(url);
    await raw.handshake();
    raw.send(frame(FrameType.METHOD, 1, Buffer.alloc(16), 70_000));
    expect(await raw.expectConnectionClose()).toEqual({ code: 551, text: 'FRAME_TOO_LARGE - frame of 70004 bytes exceeds frameMax 65536', methodId: 0 });
    await closed;

    const second = await openWs(url);
    second.ws.send(Buffer.concat([PROTOCOL_HEADER, Buffer.alloc(65537 - PROTOCOL_HEADER.length)]));
    expect(await second.closed).toEqual({ code: 1009, reason: '' });
  });

  it('closes a text message with 1003', async () => {
    const { url } = await daemon();
    const { ws, closed } = await openWs(url);
    ws.send('SKIFF');
    expect(await closed).toEqual({ code: 1003, reason: 'binary messages only' });
  });

  it('a garbage header gets the protocol header back, as over TCP', async () => {
    const { url } = await daemon();
    const { raw, closed } = await rawWs(url);
    raw.send(Buffer.from('GET / HTTP/1.1\r\n'));
    await closed;
    expect(Buffer.concat(raw.received)).toEqual(Buffer.from(PROTOCOL_HEADER));
  });
});

describe('subprotocol amqp on /ws', () => {
  // Runs once the daemon registers its AMQP front end on the endpoint (issue 9); skipped before.
  it("serves AMQP 0-9-1 to @cloudamqp/amqp-client's WebSocket client, which offers no subprotocol", async (t) => {
    const { d, url } = await daemon();
    if (d.daemon.ws?.subprotocols.includes('amqp') !== true) return t.skip();
    const g = globalThis as { WebSocket?: unknown };
    const before = g.WebSocket;
    g.WebSocket = WebSocket; // the client uses the runtime's WebSocket, as in a browser
    try {
      const amqp = await new AMQPWebSocketClient(url, '/', 'guest', 'guest').connect();
      const ch = await amqp.channel();
      const q = await ch.queueDeclare('', { exclusive: true });
      const got = new Promise<string | null>((resolve) => void ch.basicConsume(q.name, { noAck: true }, (m) => resolve(m.bodyToString())));
      await ch.basicPublish('', q.name, 'over amqp over ws');
      expect(await got).toBe('over amqp over ws');
      await amqp.close();
    } finally {
      g.WebSocket = before;
    }
  });
});

describe('hostile input over WebSockets', () => {
  it('random bytes after the header, in random message sizes, close only their own sockets (seeded)', async () => {
    const { d, url } = await daemon();
    const bystander = await client(url);
    const bch = await bystander.channel();
    const q = await bch.declareQueue('', { exclusive: true });
    const seed = Date.now() % 100_000;
    const rnd = new Random(seed);
    const hostile: Awaited<ReturnType<typeof openWs>>[] = [];
    for (let i = 0; i < 30; i++) {
      const h = await openWs(url);
      hostile.push(h);
      const parts: Buffer[] = [Buffer.from(PROTOCOL_HEADER)];
      // Half log in first, so the garbage lands past the handshake too.
      if (i % 2 === 0) parts.push(methodFrame(0, Method.ConnectionOpen, ['guest', 'guest', 0, 0, 0, {}]));
      parts.push(rnd.bytes(rnd.int(1, 20_000)));
      const all = Buffer.concat(parts);
      for (let off = 0; off < all.length; ) {
        const n = rnd.int(1, 4096);
        h.ws.send(all.subarray(off, off + n));
        off += n;
      }
    }
    // The bystander is served throughout.
    await bch.publish('', q.queue, 'still here');
    expect((await bch.get(q.queue, { noAck: true }))?.text(), `seed ${seed}`).toBe('still here');
    // Garbage that looks like the start of a long frame waits for more bytes; once the peers go,
    // nothing of theirs is left: no connection, no session.
    for (const h of hostile) h.ws.close();
    await Promise.all(hostile.map((h) => h.closed));
    await waitFor(() => d.daemon.registry.size === 1 && d.daemon.broker.sessions.size === 1, `only the bystander left (seed ${seed})`);
  });
});

describe('recovery over a WebSocket', () => {
  it('reconnects after an operator closes it, with its queue, binding and consumer, as over TCP', async () => {
    const { d, url } = await daemon();
    const c = await connect(url.replace('ws://', 'ws://guest:guest@'), { heartbeatMs: 0, connectionName: 'ws-page', reconnect: { initialDelayMs: 10 } });
    conns.push(c);
    const ch = await c.channel();
    await ch.declareExchange('ticks', 'fanout');
    const q = await ch.declareQueue('page-q', { autoDelete: true });
    await ch.bindQueue(q.queue, 'ticks', '');
    const got = new Collector<string>();
    await ch.consume(q.queue, (m) => {
      got.push(m.text());
      m.ack();
    });
    const back = new Promise<void>((resolve) => c.once('reconnected', () => resolve()));
    const name = ((await d.get('/api/connections')).json as { name: string; user_provided_name: string }[]).find((x) => x.user_provided_name === 'ws-page')?.name as string;
    expect((await d.del(`/api/connections/${encodeURIComponent(name)}`)).status).toBe(204);
    await back;
    const feed = await d.client();
    await (await feed.channel()).publish('ticks', '', 'after the close');
    expect(await got.take(1)).toEqual(['after the close']);
  });
});

describe('upgrade-time checks', () => {
  it('refuses a cross-origin page with 403 and lets in same-origin pages, listed origins and clients without Origin', async () => {
    const { d, url } = await daemon({ ws: { allowedOrigins: 'https://app.example.com' } });
    expect(await refusedUpgrade(url, 'skiff', { origin: 'https://evil.example.com' })).toEqual({
      status: 403,
      body: 'Origin https://evil.example.com is not allowed (ws_allowed_origins)\n',
    });
    expect(await refusedUpgrade(url, 'skiff', { origin: 'null' })).toMatchObject({ status: 403 });
    for (const origin of [`http://127.0.0.1:${d.httpPort}`, 'https://app.example.com', undefined]) {
      const { ws, closed } = await openWs(url, 'skiff', origin === undefined ? {} : { origin });
      ws.close();
      await closed;
    }
  });

  it('refuses an upgrade offering no subprotocol it speaks with 400, naming what it speaks', async () => {
    const { url } = await daemon();
    expect(await refusedUpgrade(url, ['mqtt', 'stomp'])).toEqual({ status: 400, body: 'Sec-WebSocket-Protocol must offer one of: skiff, amqp (offered: mqtt, stomp)\n' });
    // Without the AMQP listener nothing takes an upgrade that offers no subprotocol.
    const other = await startHttpDaemon({ amqp: { enabled: false } });
    try {
      expect(await refusedUpgrade(`ws://127.0.0.1:${other.httpPort}/ws`, undefined)).toEqual({
        status: 400,
        body: 'Sec-WebSocket-Protocol must offer one of: skiff (offered: none)\n',
      });
    } finally {
      await other.stop();
    }
  });

  it('serves upgrades offering no subprotocol with the front end registered for them (as AMQP clients need)', async () => {
    const { d, url } = await daemon({ amqp: { enabled: false } });
    expect(await refusedUpgrade(url, undefined)).toMatchObject({ status: 400 });
    const native = d.daemon.native;
    d.daemon.ws?.register('skiff', (stream) => native.accept(stream, stream.peer), { whenNoneOffered: true });
    const { ws, closed } = await openWs(url, []);
    expect(ws.protocol).toBe('');
    const raw = RawClient.over(createWebSocketStream(ws));
    await raw.handshake();
    await raw.openChannel(1);
    ws.close();
    await closed;
    // Offering something else is still refused.
    expect(await refusedUpgrade(url, 'mqtt')).toMatchObject({ status: 400 });
  });

  it('refuses connections past ws_max_connections_per_ip with 429, and takes new ones once some close', async () => {
    const { url } = await daemon({ ws: { maxConnectionsPerIp: 2 } });
    const a = await openWs(url);
    const b = await openWs(url);
    expect(await refusedUpgrade(url, 'skiff')).toEqual({
      status: 429,
      body: '127.0.0.1 already has 2 WebSocket connections (ws_max_connections_per_ip = 2)\n',
    });
    a.ws.close();
    await a.closed;
    const c = await openWs(url);
    for (const x of [b, c]) x.ws.close();
    await Promise.all([b.closed, c.closed]);
  });

  it('answers 404 to an upgrade on another path', async () => {
    const { d } = await daemon();
    expect(await refusedUpgrade(`ws://127.0.0.1:${d.httpPort}/other`, 'skiff')).toMatchObject({ status: 404 });
  });

  it('serves /ws on a port of its own (ws_port), where plain HTTP gets 426', async () => {
    const { d } = await daemon({ ws: { port: 0 } });
    const port = d.daemon.wsListener?.address?.port as number;
    expect(d.daemon.registry.listeners().map((l) => l.protocol)).toEqual(['skiff', 'amqp', 'http', 'ws']);
    const c = await client(`ws://127.0.0.1:${port}/ws`);
    const ch = await c.channel();
    const q = await ch.declareQueue('', { exclusive: true });
    await ch.publish('', q.queue, 'via ws_port');
    expect((await ch.get(q.queue, { noAck: true }))?.text()).toBe('via ws_port');
    expect(await request(port, 'GET', '/')).toMatchObject({ status: 426, text: 'this port serves WebSockets at /ws only\n' });
  });

  it('is not mounted with ws_enabled = false', async () => {
    const { url } = await daemon({ ws: { enabled: false } });
    expect(await refusedUpgrade(url, 'skiff')).toMatchObject({ status: 404 });
    const err = await client(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ code: 'ERR_CONNECTION_REFUSED', message: `cannot open a WebSocket to ${url}: Unexpected server response: 404` });
  });
});

describe('metrics', () => {
  it('counts WebSockets open, accepted, refused by reason and dropped by reason in /metrics', async () => {
    const { d, url } = await daemon({ ws: { maxConnectionsPerIp: 1, handshakeTimeoutMs: 200 } });
    const a = await openWs(url);
    expect(await refusedUpgrade(url, 'skiff', { origin: 'https://evil.example.com' })).toMatchObject({ status: 403 });
    expect(await refusedUpgrade(url, 'skiff')).toMatchObject({ status: 429 });
    expect(await a.closed).toEqual({ code: 1008, reason: 'handshake timed out' });
    await waitFor(() => d.daemon.ws?.connectionCount === 0, 'the endpoint to let go of the socket');
    expect(await refusedUpgrade(url, 'mqtt')).toMatchObject({ status: 400 });
    const text = (await d.get('/metrics')).text;
    const lines = text.split('\n').filter((l) => l.startsWith('skiff_websocket_'));
    expect(lines).toEqual([
      'skiff_websocket_connections 0',
      'skiff_websocket_connections_opened_total 1',
      'skiff_websocket_upgrades_refused_total{reason="origin"} 1',
      'skiff_websocket_upgrades_refused_total{reason="connection_limit"} 1',
      'skiff_websocket_upgrades_refused_total{reason="subprotocol"} 1',
      'skiff_websocket_connections_dropped_total{reason="handshake_timeout"} 1',
      'skiff_websocket_connections_dropped_total{reason="idle"} 0',
    ]);
  });
});

describe('timeouts', () => {
  it('closes a socket that does not log in within ws_handshake_timeout_ms with 1008', async () => {
    const { url } = await daemon({ ws: { handshakeTimeoutMs: 200 } });
    const { closed } = await openWs(url);
    expect(await closed).toEqual({ code: 1008, reason: 'handshake timed out' });
  });

  it('drops a peer that answers no pings within ws_idle_timeout_ms, even with heartbeats off', async () => {
    const { d, url } = await daemon({ ws: { idleTimeoutMs: 200 } });
    const { raw, ws } = await rawWs(url);
    await raw.handshake({ heartbeatMs: 0 });
    await waitFor(() => d.daemon.registry.size === 1, 'the connection to be listed');
    // The browser vanished: nothing it receives is read, so no pong goes back.
    ws.pause();
    await waitFor(() => d.daemon.registry.size === 0, 'the silent WebSocket to be dropped');
    ws.terminate();
  });

  it('keeps a peer that answers pings', async () => {
    const { d, url } = await daemon({ ws: { idleTimeoutMs: 100 } });
    const c = await client(url);
    const ch = await c.channel();
    // Several ping rounds pass while the connection does nothing else.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 100));
    expect(d.daemon.registry.size).toBe(1);
    await ch.declareQueue('still-here', { exclusive: true });
  });
});

describe('flow: a slow WebSocket never slows another', () => {
  it('pauses deliveries to a socket that stops reading, while a second one gets everything, then resumes it', async () => {
    const { d, url } = await daemon();
    const body = Buffer.alloc(8192, 1);
    const admin = await d.client();
    const ach = await admin.channel();
    await ach.declareExchange('fan', 'fanout');
    for (const q of ['slow', 'fast']) {
      await ach.declareQueue(q);
      await ach.bindQueue(q, 'fan', '');
    }
    // The slow one consumes without acks (no prefetch limit), then stops reading its socket.
    const slow = await rawWs(url);
    await slow.raw.handshake();
    await slow.raw.openChannel(1);
    slow.raw.sendMethod(1, Method.BasicConsume, ['slow', 'slow-tag', true]);
    await slow.raw.expect(Method.BasicConsumeOk, 1);
    slow.ws.pause();
    const fast = await client(url);
    const fch = await fast.channel();
    let fastGot = 0;
    await fch.consume('fast', (m) => {
      fastGot++;
      m.ack();
    });
    // Publish until the slow socket's kernel buffers and its bounded write buffer are full and the
    // broker stops handing it messages: they then wait in its queue (at most 128 MiB here).
    let N = 0;
    let slowReady = 0;
    while (slowReady === 0 && N < 16_000) {
      for (let i = 0; i < 1000; i++) await ach.publish('fan', '', body);
      N += 1000;
      await waitFor(() => fastGot === N, `the fast page to get all ${N} (has ${fastGot})`);
      slowReady = (await ach.declareQueue('slow', { passive: true })).messageCount;
    }
    expect(slowReady).toBeGreaterThan(0);
    expect(fastGot).toBe(N);
    slow.ws.resume();
    await waitFor(() => slow.raw.methods.items.filter((m) => m.id === Method.BasicDeliver).length === N, 'the slow page to catch up', 30_000);
    slow.ws.close();
    await slow.closed;
  });
});
