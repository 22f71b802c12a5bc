import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WsEndpoint } from './endpoint.js';

/** The path WebSockets are served at, on the HTTP listener and on a port of their own. */
export const WS_PATH = '/ws';

/**
 * A port that serves only WebSockets (`ws_port`), at {@link WS_PATH}: plain HTTP requests get
 * 426, upgrades elsewhere 404.
 */
export class WsListener {
  private readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(endpoint: WsEndpoint, host: string, port: number): Promise<WsListener> {
    const server = createServer((req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', Upgrade: 'websocket' });
      res.end(`this port serves WebSockets at ${WS_PATH} only\n`);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      if ((req.url ?? '/').split('?')[0] === WS_PATH) return endpoint.upgrade(req, socket, head);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new WsListener(server);
  }

  get address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Stops accepting; sockets already upgraded are the endpoint's to close. */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
