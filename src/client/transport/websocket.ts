import { MIN_FRAME_MAX, viewOf, type Bytes } from '../../../protocol/index.js';
import { ConnectionError } from '../errors.js';
import type { TlsClientOptions, Transport, TransportFactory, TransportHandlers, TransportTarget } from './transport.js';

/**
 * The subset of the WHATWG `WebSocket` the transport uses: browsers' own, and the `ws`
 * package's in Node.js, both have it.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly protocol: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (ev: never) => void): void;
  /** `ws`'s own listener API (Node.js only): `'message'` gets `(data, isBinary)`. */
  on?(type: 'message', listener: (data: never, isBinary: boolean) => void): unknown;
}

/**
 * A `WebSocket` constructor: `globalThis.WebSocket` in browsers, `ws`'s `WebSocket` in Node.js.
 * The third argument (TLS settings for `wss://`) is `ws`'s; browsers ignore it and use their own
 * trust store.
 */
export type WebSocketConstructor = new (url: string, protocols: string | string[], options?: WebSocketTlsOptions) => WebSocketLike;

/** The `ws` package's client TLS options: what `connect(url, { tls })` gives a `wss://` connection. */
export interface WebSocketTlsOptions {
  ca?: TlsClientOptions['ca'];
  cert?: TlsClientOptions['cert'];
  key?: TlsClientOptions['key'];
  servername?: string;
  rejectUnauthorized?: boolean;
}

/** The WebSocket subprotocol that carries the native protocol's frames (SPEC §8). */
export const SKIFF_SUBPROTOCOL = 'skiff';

const OPEN = 1;
/** How often a transport over its buffer limit looks at `bufferedAmount` again (browsers have no drain event). */
const DRAIN_POLL_MS = 10;

/**
 * The native protocol over a WebSocket: frames travel in binary messages, which need not align
 * with frames (the receiver reads a byte stream). What one event-loop turn writes (the frame
 * writer corks around it) goes out as one message. Browsers have no `'drain'` event, so once
 * `bufferedAmount` passes the writer's limit the transport watches it until it falls.
 */
class WebSocketTransport implements Transport {
  readonly platform: string;
  private readonly ws: WebSocketLike;
  private handlers: TransportHandlers | null = null;
  private closedWith: { error: Error | null } | null = null;
  private corked = 0;
  /** Largest message to send: the frame max, once the handshake settled it (SPEC §3.1.1's floor before). */
  private maxMessage = MIN_FRAME_MAX;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private drainListeners: (() => void)[] = [];
  private drainTimer: ReturnType<typeof setTimeout> | null = null;
  private destroyTimer: ReturnType<typeof setTimeout> | null = null;
  private isDestroyed = false;

  constructor(ws: WebSocketLike, platform: string) {
    this.ws = ws;
    this.platform = platform;
    let error: Error | null = null;
    ws.addEventListener('error', () => (error ??= new ConnectionError('ERR_CONNECTION_LOST', 'WebSocket error')));
    ws.addEventListener('close', (ev: { code: number; reason: string }) => {
      if (ev.code !== 1000 && ev.code !== 1005) {
        error = new ConnectionError('ERR_CONNECTION_LOST', `WebSocket closed with code ${ev.code}${ev.reason === '' ? '' : `: ${ev.reason}`}`);
      }
      this.finish(error);
    });
    if (ws.binaryType === 'nodebuffer' && typeof ws.on === 'function') {
      // `ws` in Node.js: its own listener API skips building a MessageEvent per message.
      ws.on('message', (data: unknown, isBinary: boolean) => {
        if (isBinary && data instanceof Uint8Array) this.handlers?.data(data as Bytes);
      });
      return;
    }
    ws.addEventListener('message', (ev: { data: unknown }) => {
      const d = ev.data;
      if (d instanceof ArrayBuffer || d instanceof Uint8Array) this.handlers?.data(viewOf(d));
      // Text messages are not part of the protocol; the server never sends them.
    });
  }

  start(h: TransportHandlers): void {
    this.handlers = h;
    const c = this.closedWith;
    if (c !== null) queueMicrotask(() => h.closed(c.error));
  }

  write(chunk: Bytes): boolean {
    if (this.isDestroyed || this.ws.readyState !== OPEN) return false;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.corked === 0) this.sendPending();
    // The frame writer compares writableLength with its own high-water mark; that is the limit.
    return true;
  }

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked === 0 || --this.corked > 0) return;
    this.sendPending();
  }

  setFrameMax(bytes: number): void {
    this.maxMessage = bytes;
  }

  /**
   * Sends what is pending in as few messages as fit: the server refuses a message larger than
   * its frame max (1009), so none is larger than the frame size the handshake settled.
   */
  private sendPending(): void {
    const pieces = this.pending;
    if (pieces.length === 0) return;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.isDestroyed || this.ws.readyState !== OPEN) return;
    const max = this.maxMessage;
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = (): void => {
      if (batch.length === 1) this.ws.send(batch[0] as Uint8Array);
      else if (batch.length > 1) {
        const msg = new Uint8Array(batchBytes);
        let off = 0;
        for (const p of batch) {
          msg.set(p, off);
          off += p.length;
        }
        this.ws.send(msg);
      }
      batch = [];
      batchBytes = 0;
    };
    for (let p of pieces) {
      while (p.length > 0) {
        if (batchBytes === max) flush();
        const take = Math.min(p.length, max - batchBytes);
        batch.push(take === p.length ? p : p.subarray(0, take));
        batchBytes += take;
        p = p.subarray(take);
      }
    }
    flush();
  }

  get writableLength(): number {
    return this.ws.bufferedAmount + this.pendingBytes;
  }

  get destroyed(): boolean {
    return this.isDestroyed || this.closedWith !== null;
  }

  once(_event: 'drain', listener: () => void): unknown {
    this.drainListeners.push(listener);
    this.drainTimer ??= setTimeout(this.pollDrain, DRAIN_POLL_MS);
    return this;
  }

  private readonly pollDrain = (): void => {
    this.drainTimer = null;
    if (this.closedWith !== null) return;
    // "Drained" as for a socket: the buffer is empty again, or nearly so.
    if (this.ws.bufferedAmount > 16 * 1024) {
      this.drainTimer = setTimeout(this.pollDrain, DRAIN_POLL_MS);
      return;
    }
    const ls = this.drainListeners;
    this.drainListeners = [];
    for (const l of ls) l();
  };

  end(): void {
    this.sendPending();
    this.ws.close(1000);
    // A server that never answers the close handshake must not hold the socket open.
    if (this.destroyTimer === null) {
      this.destroyTimer = setTimeout(() => this.destroy(), 1000);
      (this.destroyTimer as { unref?: () => void }).unref?.();
    }
  }

  destroy(): void {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      this.ws.close(1000);
    } catch {
      // already closing
    }
    // Browsers report 'close' only after the closing handshake; the client is done now.
    this.finish(null);
  }

  private finish(error: Error | null): void {
    if (this.closedWith !== null) return;
    this.closedWith = { error };
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    if (this.destroyTimer !== null) clearTimeout(this.destroyTimer);
    this.drainListeners = [];
    this.handlers?.closed(error);
  }
}

/** Only the keys that are set: `ws` hands them to `tls.connect` as they are. */
function wsTlsOptions(t: TlsClientOptions): WebSocketTlsOptions {
  return {
    ...(t.ca !== undefined && { ca: t.ca }),
    ...(t.cert !== undefined && { cert: t.cert }),
    ...(t.key !== undefined && { key: t.key }),
    ...(t.servername !== undefined && { servername: t.servername }),
    ...(t.rejectUnauthorized !== undefined && { rejectUnauthorized: t.rejectUnauthorized }),
  };
}

function describeRuntime(): string {
  const nav = (globalThis as { navigator?: { userAgent?: string } }).navigator;
  const proc = (globalThis as { process?: { version?: string; versions?: { node?: string } } }).process;
  if (proc?.versions?.node !== undefined) return `Node.js ${proc.version ?? ''} (WebSocket)`;
  return nav?.userAgent !== undefined ? `browser (${nav.userAgent})` : 'WebSocket';
}

/**
 * Opens WebSocket connections with `WebSocketImpl` (the runtime's `WebSocket` by default), for
 * `ws://` and `wss://` URLs. The URL the socket opens has no credentials: those go in the
 * handshake's open frame, never in a URL that proxies and servers log.
 */
export function webSocketTransport(WebSocketImpl?: WebSocketConstructor): TransportFactory {
  return (target: TransportTarget, options: { timeoutMs: number; tls?: TlsClientOptions }) =>
    new Promise<Transport>((resolve, reject) => {
      const Impl = WebSocketImpl ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
      if (target.scheme === 'skiff') {
        reject(new ConnectionError('ERR_INVALID_URL', 'a WebSocket transport needs a ws:// or wss:// URL'));
        return;
      }
      if (Impl === undefined) {
        reject(new ConnectionError('ERR_CONNECT', 'this runtime has no WebSocket; pass one to webSocketTransport()'));
        return;
      }
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      const where = `${target.scheme}://${host}:${target.port}${target.path}`;
      let ws: WebSocketLike;
      try {
        const t = options.tls;
        ws = t === undefined || target.scheme !== 'wss' ? new Impl(where, SKIFF_SUBPROTOCOL) : new Impl(where, SKIFF_SUBPROTOCOL, wsTlsOptions(t));
      } catch (err) {
        reject(new ConnectionError('ERR_CONNECT', `cannot connect to ${where}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      // `ws` in Node.js hands over its own Buffer with 'nodebuffer' (no copy into an ArrayBuffer);
      // browsers ignore a value they do not know, so they are then asked for 'arraybuffer'.
      ws.binaryType = 'nodebuffer';
      if (ws.binaryType !== 'nodebuffer') ws.binaryType = 'arraybuffer';
      let settled = false;
      // Node's `ws` says why an upgrade failed ("Unexpected server response: 403"); browsers do not.
      let failure = '';
      ws.addEventListener('error', (ev: { message?: string }) => {
        if (typeof ev.message === 'string' && ev.message !== '') failure = ev.message;
      });
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        ws.close();
        reject(new ConnectionError('ERR_TIMEOUT', `timed out connecting to ${where}`));
      }, options.timeoutMs);
      ws.addEventListener('open', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (ws.protocol !== SKIFF_SUBPROTOCOL) {
          ws.close(1002);
          reject(new ConnectionError('ERR_CONNECT', `${where} does not speak the '${SKIFF_SUBPROTOCOL}' WebSocket subprotocol`));
          return;
        }
        resolve(new WebSocketTransport(ws, describeRuntime()));
      });
      ws.addEventListener('close', (ev: { code: number; reason: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Browsers hide why an upgrade failed (an HTTP 403, a refused port): all they report is 1006.
        const why =
          ev.reason !== '' ? `: ${ev.reason}` : failure !== '' ? `: ${failure}` : ev.code === 1006 ? ' (refused, or the upgrade was rejected)' : ` (code ${ev.code})`;
        reject(new ConnectionError('ERR_CONNECTION_REFUSED', `cannot open a WebSocket to ${where}${why}`));
      });
    });
}
