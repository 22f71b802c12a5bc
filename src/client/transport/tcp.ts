import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { openConnection, type Connection } from '../connection.js';
import { ConnectionError } from '../errors.js';
import type { ConnectOptions } from '../options.js';
import { DEFAULT_URL } from '../url.js';
import type { Transport, TransportFactory, TransportHandlers, TransportTarget } from './transport.js';
import { webSocketTransport, type WebSocketConstructor } from './websocket.js';

/** The Node.js transport: a TCP socket with Nagle off (frames are batched by the writer). */
class TcpTransport implements Transport {
  readonly platform = `Node.js ${process.version}`;
  private readonly socket: Socket;
  private error: Error | null = null;
  private handlers: TransportHandlers | null = null;
  private ended = false;
  private destroyTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(socket: Socket) {
    this.socket = socket;
    // Listening from the start: an error before start() must not be an uncaught 'error'.
    socket.on('error', (err) => (this.error ??= err));
    // 'close' follows 'error', so the handler hears once, with the cause.
    socket.once('close', () => {
      this.ended = true;
      if (this.destroyTimer !== null) clearTimeout(this.destroyTimer);
      this.handlers?.closed(this.error);
    });
  }

  start(h: TransportHandlers): void {
    this.handlers = h;
    if (this.ended) {
      queueMicrotask(() => h.closed(this.error));
      return;
    }
    this.socket.on('data', h.data);
  }

  write(chunk: Buffer): boolean {
    return this.socket.write(chunk);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  once(event: 'drain', listener: () => void): unknown {
    return this.socket.once(event, listener);
  }

  end(): void {
    this.socket.end();
    // A peer that never closes its side must not hold the socket open.
    this.destroyTimer ??= setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Opens a TCP connection, or a TLS one for a `skiffs://` target (TLS 1.2 or later, the server's
 * certificate verified unless told otherwise).
 */
export const tcpTransport: TransportFactory = (target: TransportTarget, options: Parameters<TransportFactory>[1]) =>
  new Promise<Transport>((resolve, reject) => {
    if (target.scheme !== 'skiff' && target.scheme !== 'skiffs') {
      reject(new ConnectionError('ERR_INVALID_URL', `the TCP transport needs a skiff:// or skiffs:// URL, not ${target.scheme}://`));
      return;
    }
    const t = options.tls ?? {};
    const servername = t.servername ?? (isIP(target.host) === 0 ? target.host : undefined);
    const s = target.tls
      ? tlsConnect({
          host: target.host,
          port: target.port,
          minVersion: 'TLSv1.2',
          rejectUnauthorized: t.rejectUnauthorized ?? true,
          ...(servername !== undefined && { servername }),
          ...(t.ca !== undefined && { ca: t.ca }),
          ...(t.cert !== undefined && { cert: t.cert }),
          ...(t.key !== undefined && { key: t.key }),
        })
      : netConnect({ host: target.host, port: target.port, noDelay: true });
    s.setNoDelay(true);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ConnectionError('ERR_TIMEOUT', `timed out connecting to ${target.host}:${target.port}`));
    }, options.timeoutMs);
    s.once(target.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(new TcpTransport(s));
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const refused = err.code === 'ECONNREFUSED';
      if (!refused && target.tls && isCertificateError(err)) {
        reject(new ConnectionError('ERR_TLS', `TLS handshake with ${target.host}:${target.port} failed: ${err.message} (${err.code})`, { cause: err }));
        return;
      }
      const msg = refused
        ? `connection refused by ${target.host}:${target.port} (is skiff running?)`
        : `cannot connect to ${target.host}:${target.port}: ${err.message}`;
      reject(new ConnectionError(refused ? 'ERR_CONNECTION_REFUSED' : 'ERR_CONNECT', msg, { cause: err }));
    });
  });

/** Verification and handshake failures: retrying the same server will not help. */
function isCertificateError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME/.test(code);
}

let webSocket: Promise<TransportFactory> | null = null;

/**
 * The default transport in Node.js: TCP for `skiff://` (TLS for `skiffs://`), a WebSocket (the `ws` package's, loaded
 * on first use) for `ws://` and `wss://`.
 */
export const nodeTransport: TransportFactory = async (target: TransportTarget, options: Parameters<TransportFactory>[1]) => {
  if (target.scheme === 'skiff' || target.scheme === 'skiffs') return tcpTransport(target, options);
  webSocket ??= import('ws').then((m) => webSocketTransport(m.WebSocket as unknown as WebSocketConstructor));
  return (await webSocket)(target, options);
};

/**
 * Connects to a Skiff daemon and completes the handshake (SPEC §3.1.1). `urls` is one
 * `skiff://user:password@host:port` (TCP) or `ws://user:password@host:port/ws` (WebSocket), or
 * several, tried in turn (see `shuffleHosts`); the first connection must succeed, after which a
 * lost one reconnects (see `ReconnectOptions`).
 */
export function connect(urls: string | readonly string[] = DEFAULT_URL, options: ConnectOptions = {}): Promise<Connection> {
  return openConnection(urls, options, options.transport ?? nodeTransport);
}
