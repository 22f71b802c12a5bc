import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';

/**
 * A bound TCP port handing each accepted socket to a front end; every TCP front end (native,
 * AMQP) listens through one of these, so binding and stopping work the same for all.
 */
export class TcpListener {
  private constructor(
    private readonly server: Server,
    readonly address: AddressInfo,
  ) {}

  /** Binds `host:port` (port 0 picks a free one); rejects with the bind error (EADDRINUSE …). */
  static listen(port: number, host: string, onSocket: (socket: Socket) => void, log: Logger): Promise<TcpListener> {
    const server = createServer({ noDelay: true }, onSocket);
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        server.on('error', (err) => log.error({ err }, 'listener error'));
        resolve(new TcpListener(server, server.address() as AddressInfo));
      });
    });
  }

  /** Stops accepting; connections already accepted carry on. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
