import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../log/logger.js';
import { checkOrigin } from './origin.js';
import type { WsOptions } from './options.js';
import { WebSocketStream, WsClose } from './stream.js';

/** What a front end hands back for a stream it took: enough to enforce the handshake timeout. */
export interface FrontEndConnection {
  /** True once the protocol's handshake (open / open-ok) is complete. */
  readonly isOpen: boolean;
}

/** A protocol front end that speaks over any byte stream: here, a WebSocket's. */
export type WsFrontEnd = (stream: WebSocketStream) => FrontEndConnection;

/**
 * The WebSocket endpoint (`/ws`): upgrade requests are checked before any WebSocket exists
 * (Origin, the per-IP limit, a subprotocol some front end speaks), then the socket becomes a
 * {@link WebSocketStream} handed to the front end registered for the subprotocol the client
 * chose: `skiff` for the native protocol, `amqp` for AMQP 0-9-1. Frames are the front end's;
 * this adds only what WebSockets need: `maxPayload` (a message larger than a frame may be is
 * refused by `ws` with 1009), the handshake deadline, and pings that find vanished browsers.
 * Nothing here logs a URL or a header value other than Origin: credentials travel only inside
 * the protocol's own open frame.
 */
export class WsEndpoint {
  private readonly options: Readonly<WsOptions>;
  private readonly log: Logger;
  private readonly frontEnds = new Map<string, WsFrontEnd>();
  /** Serves upgrades that offer no subprotocol at all, if any does. */
  private unnamed: WsFrontEnd | null = null;
  private readonly wss: WebSocketServer;
  private readonly perIp = new Map<string, number>();
  private readonly sockets = new Map<WebSocket, { alive: boolean }>();
  private readonly pinger: ReturnType<typeof setInterval> | null;
  /** Upgrades are refused (503) until the daemon has restored its store and serves. */
  private serving = false;
  private opened = 0;
  private readonly refused = { origin: 0, connection_limit: 0, subprotocol: 0 };
  private readonly dropped = { handshake_timeout: 0, idle: 0 };

  constructor(options: Readonly<WsOptions>, maxPayload: number, log: Logger) {
    this.options = options;
    this.log = log;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
      // The upgrade check below already refused clients offering nothing we speak.
      handleProtocols: (offered) => this.pickProtocol(offered) ?? false,
    });
    this.pinger = options.idleTimeoutMs > 0 ? setInterval(() => this.ping(), Math.max(10, options.idleTimeoutMs / 2)) : null;
    this.pinger?.unref();
  }

  /**
   * Serves `subprotocol` with `frontEnd`; `whenNoneOffered` also gives it the clients that offer
   * no subprotocol (AMQP over WebSocket clients such as @cloudamqp/amqp-client's offer none, as
   * LavinMQ accepts).
   */
  register(subprotocol: string, frontEnd: WsFrontEnd, options: { whenNoneOffered?: boolean } = {}): void {
    this.frontEnds.set(subprotocol, frontEnd);
    if (options.whenNoneOffered === true) this.unnamed = frontEnd;
  }

  /** Starts taking upgrades: the daemon calls it once its store is restored, as for its other listeners. */
  serve(): void {
    this.serving = true;
  }

  /** The subprotocols served, in registration order. */
  get subprotocols(): string[] {
    return [...this.frontEnds.keys()];
  }

  /** Open WebSockets. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Counters for `/metrics`: open now, accepted, refused and dropped since start. */
  stats(): { open: number; opened: number; refused: Readonly<Record<string, number>>; dropped: Readonly<Record<string, number>> } {
    return { open: this.sockets.size, opened: this.opened, refused: { ...this.refused }, dropped: { ...this.dropped } };
  }

  /** The `upgrade` handler, for {@link HttpListener.onUpgrade} or a listener of its own. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // The HTTP server let go of the socket: a peer that resets it now must not be an unhandled 'error'.
    socket.on('error', () => socket.destroy());
    const ip = req.socket.remoteAddress ?? 'unknown';
    if (!this.serving) return this.refuse(socket, 503, 'Service Unavailable', 'the broker is starting (restoring its store); try again shortly', { remote: ip });
    const origin = req.headers.origin;
    const originCheck = checkOrigin(origin, req.headers.host, this.options.allowedOrigins);
    if (!originCheck.ok) {
      this.refused.origin++;
      return this.refuse(socket, 403, 'Forbidden', originCheck.reason, { remote: ip, origin });
    }
    const n = this.perIp.get(ip) ?? 0;
    const max = this.options.maxConnectionsPerIp;
    if (max > 0 && n >= max) {
      this.refused.connection_limit++;
      return this.refuse(socket, 429, 'Too Many Requests', `${ip} already has ${n} WebSocket connections (ws_max_connections_per_ip = ${max})`, { remote: ip });
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (this.pickProtocol(new Set(offered)) === null && !(offered.length === 0 && this.unnamed !== null)) {
      const want = this.subprotocols.join(', ');
      const got = offered.length === 0 ? 'none' : offered.join(', ');
      this.refused.subprotocol++;
      return this.refuse(socket, 400, 'Bad Request', `Sec-WebSocket-Protocol must offer one of: ${want} (offered: ${got})`, { remote: ip });
    }
    this.perIp.set(ip, n + 1);
    let counted = true;
    const uncount = (): void => {
      if (!counted) return;
      counted = false;
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    };
    // ws answers a malformed upgrade (bad version or key) itself and destroys the socket.
    socket.once('close', uncount);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('close', uncount);
      this.accept(ws, req, uncount);
    });
  };

  private accept(ws: WebSocket, req: IncomingMessage, uncount: () => void): void {
    const frontEnd = ws.protocol === '' ? this.unnamed : this.frontEnds.get(ws.protocol);
    if (frontEnd === undefined || frontEnd === null) {
      uncount();
      ws.close(WsClose.PROTOCOL_ERROR, 'no subprotocol');
      return;
    }
    const s = req.socket;
    const stream = new WebSocketStream(ws, s, {
      remoteAddress: s.remoteAddress ?? 'unknown',
      remotePort: s.remotePort ?? 0,
      localAddress: s.localAddress ?? '',
      localPort: s.localPort ?? 0,
      transport: 'WebSocket',
    });
    this.opened++;
    const liveness = { alive: true };
    this.sockets.set(ws, liveness);
    const alive = (): void => {
      liveness.alive = true;
    };
    ws.on('pong', alive);
    ws.on('message', alive);
    const conn = frontEnd(stream);
    const deadline = setTimeout(() => {
      if (conn.isOpen) return;
      this.dropped.handshake_timeout++;
      this.log.info({ remote: stream.peer.remoteAddress, timeoutMs: this.options.handshakeTimeoutMs }, 'WebSocket handshake not completed in time, closing');
      ws.close(WsClose.POLICY_VIOLATION, 'handshake timed out');
      // A peer that ignores the close must not hold the socket.
      setTimeout(() => ws.terminate(), 1000).unref();
    }, this.options.handshakeTimeoutMs);
    deadline.unref();
    ws.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(ws);
      uncount();
    });
  }

  private pickProtocol(offered: ReadonlySet<string>): string | null {
    for (const p of offered) if (this.frontEnds.has(p)) return p;
    return null;
  }

  private ping(): void {
    for (const [ws, liveness] of this.sockets) {
      if (!liveness.alive) {
        this.dropped.idle++;
        this.log.info({ idleTimeoutMs: this.options.idleTimeoutMs }, 'WebSocket answered no ping, dropping it');
        ws.terminate();
        continue;
      }
      liveness.alive = false;
      ws.ping();
    }
  }

  private refuse(socket: Duplex, status: number, statusText: string, reason: string, fields: Record<string, unknown>): void {
    this.log.info({ ...fields, status, reason }, 'WebSocket upgrade refused');
    const body = `${reason}\n`;
    socket.end(`HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    // A peer that keeps its side open must not hold the socket.
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** Closes every WebSocket (their front ends see the stream end) and stops pinging. */
  close(): void {
    if (this.pinger !== null) clearInterval(this.pinger);
    for (const ws of this.sockets.keys()) ws.close(WsClose.GOING_AWAY, 'server shutting down');
    this.wss.close();
  }
}
