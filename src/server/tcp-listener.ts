import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';

/**
 * A bound TCP port handing each accepted socket to a front end; every TCP front end (native,
 * AMQP) listens through one of these, so binding and stopping work the same for all.
 */
export class TcpListener {
  /** Sockets accepted while held (see {@link listen}'s `hold`); null once serving. */
  private held: Socket[] | null;

  private constructor(
    private readonly server: Server,
    readonly address: AddressInfo,
    private readonly onSocket: (socket: Socket) => void,
    hold: boolean,
  ) {
    this.held = hold ? [] : null;
  }

  /**
   * Binds `host:port` (port 0 picks a free one); rejects with the bind error (EADDRINUSE …).
   * With `hold`, sockets are accepted but not handed on until {@link serve}: the daemon binds
   * before it opens its store, so a busy port fails at once with nothing created, and serves
   * once restored.
   */
  static listen(port: number, host: string, onSocket: (socket: Socket) => void, log: Logger, hold = false): Promise<TcpListener> {
    let listener: TcpListener | null = null;
    const server = createServer({ noDelay: true }, (socket) => listener?.accept(socket));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        server.on('error', (err) => log.error({ err }, 'listener error'));
        listener = new TcpListener(server, server.address() as AddressInfo, onSocket, hold);
        resolve(listener);
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.held === null) {
      this.onSocket(socket);
      return;
    }
    socket.pause();
    socket.on('error', () => socket.destroy());
    this.held.push(socket);
  }

  /** Hands on the sockets held so far, and every one after. */
  serve(): void {
    const held = this.held;
    this.held = null;
    for (const socket of held ?? []) {
      if (socket.destroyed) continue;
      this.onSocket(socket);
      socket.resume();
    }
  }

  /** Stops accepting; connections already accepted carry on (held ones are dropped). */
  close(): Promise<void> {
    for (const socket of this.held ?? []) socket.destroy();
    this.held = null;
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
