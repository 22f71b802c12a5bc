/**
 * The Skiff client for browsers (`skiffmq/browser`): the same API as in Node.js, over a
 * WebSocket to the daemon's `/ws` endpoint. Nothing here, or in what it imports, needs a Node
 * built-in; bodies are `Uint8Array`s.
 *
 * ```ts
 * import { connect } from 'skiffmq/browser';
 * const conn = await connect('ws://guest:guest@localhost:15672/ws');
 * ```
 */
import { openConnection, type Connection } from './connection.js';
import type { ConnectOptions } from './options.js';
import { webSocketTransport } from './transport/websocket.js';

const browserTransport = webSocketTransport();

/**
 * Connects over a WebSocket and completes the handshake (SPEC §3.1.1). `urls` is one
 * `ws://user:password@host:port/ws` (or `wss://`), or several tried in turn; the credentials
 * go in the protocol's open frame, not in the URL the browser opens. A relative URL is not
 * accepted: use `location.host` to build one for the page's own server.
 */
export function connect(urls: string | readonly string[], options: ConnectOptions = {}): Promise<Connection> {
  return openConnection(urls, options, options.transport ?? browserTransport);
}

export * from './api.js';
