import type { Bytes, WritableLike } from '../../../protocol/index.js';
import type { UrlScheme } from '../url.js';

/** Where a transport connects to: one host of a connection's URL list. */
export interface TransportTarget {
  /** `skiff` / `skiffs` for TCP, `ws` / `wss` for a WebSocket. */
  scheme: UrlScheme;
  host: string;
  port: number;
  /** A WebSocket's path ('' for TCP). */
  path: string;
  /** TLS (a `skiffs://` URL); transports that cannot do it refuse. */
  tls?: boolean;
}

/**
 * TLS settings of the Node.js transport (`connect(url, { tls })`). The server's certificate is
 * verified against `ca` (default: Node's trusted roots) and its name, unless
 * `rejectUnauthorized` is false. `cert` and `key` are the client's, for mutual TLS.
 */
export interface TlsClientOptions {
  /** PEM text or bytes of the CA certificate(s) that signed the server's. */
  ca?: string | Bytes | (string | Bytes)[];
  cert?: string | Bytes;
  key?: string | Bytes;
  /** The name to verify the certificate against (and send as SNI); default the URL's host. */
  servername?: string;
  /** Default true. False accepts any certificate: for tests of a self-signed setup only. */
  rejectUnauthorized?: boolean;
}

/** What a transport tells the connection that owns it. */
export interface TransportHandlers {
  /** Bytes from the server, in order. */
  data(chunk: Uint8Array): void;
  /** The byte stream ended: `error` says why when it was not a clean close. Called once. */
  closed(error: Error | null): void;
}

/**
 * The client's seam to the network: one byte stream to a server. The client core (connection,
 * channel, recovery) speaks only this interface, so the same core runs over TCP in Node.js
 * (`./tcp.ts`) and over a WebSocket (`./websocket.ts`) in a browser or in Node.js. The write side is what the frame writer
 * needs: writes return false past the transport's buffer limit, and `'drain'` fires once there
 * is room again.
 */
export interface Transport extends WritableLike {
  /** Installs the handlers; the transport delivers nothing before this is called. */
  start(handlers: TransportHandlers): void;
  /** Closes after writing what is buffered. */
  end(): void;
  /** Closes at once, dropping what is buffered. */
  destroy(): void;
  /**
   * The frame size the handshake settled. A transport whose messages the server bounds (a
   * WebSocket's `maxPayload` is the frame max) keeps each message within it.
   */
  setFrameMax?(bytes: number): void;
  /** Describes the runtime, for the server's connection list (`Node.js v20.20.2`). */
  readonly platform: string;
}

/**
 * Opens a transport to `target`, rejecting with a `ConnectionError` (`ERR_CONNECTION_REFUSED`,
 * `ERR_CONNECT`, `ERR_TIMEOUT`) when it cannot within `timeoutMs`.
 */
export type TransportFactory = (target: TransportTarget, options: { timeoutMs: number; tls?: TlsClientOptions }) => Promise<Transport>;
