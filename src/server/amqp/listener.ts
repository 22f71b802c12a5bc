import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ReplyCode } from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import type { Logger } from '../../log/logger.js';
import { VERSION } from '../../version.js';
import type { Authenticator } from '../auth.js';
import { AmqpConnection, type AmqpContext, type PeerInfo } from './connection.js';

export const DEFAULT_AMQP_PORT = 5672;
export const DEFAULT_AMQP_HOST = '127.0.0.1';
/** RabbitMQ's defaults: frame_max 128 KiB, channel_max 2047, heartbeat 60 s. */
export const DEFAULT_AMQP_FRAME_MAX = 131_072;

export interface AmqpFrontEndOptions {
  broker: Broker;
  log: Logger;
  auth: Authenticator;
  frameMax?: number;
  channelMax?: number;
  heartbeatMs?: number;
  socketHighWaterMark?: number;
}

/**
 * The AMQP 0-9-1 front end: it serves any connected duplex stream ({@link accept}), so TCP (the
 * {@link listen}er here) and AMQP over WebSocket go through the same code. Every connection is
 * a broker session on the same broker as the native protocol's.
 */
export class AmqpFrontEnd implements AmqpContext {
  readonly broker: Broker;
  readonly log: Logger;
  readonly auth: Authenticator;
  readonly version = VERSION;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatMs: number;
  readonly socketHighWaterMark: number;
  /** Open connections (past connection.open-ok), by id. */
  readonly connections = new Map<string, AmqpConnection>();
  private readonly streams = new Set<AmqpConnection>();
  private server: Server | null = null;
  private readonly unsubscribeBlocked: () => void;

  constructor(options: AmqpFrontEndOptions) {
    this.broker = options.broker;
    this.log = options.log;
    this.auth = options.auth;
    this.frameMax = options.frameMax ?? DEFAULT_AMQP_FRAME_MAX;
    this.channelMax = options.channelMax ?? 2047;
    this.heartbeatMs = options.heartbeatMs ?? 60_000;
    this.socketHighWaterMark = options.socketHighWaterMark ?? 1024 * 1024;
    this.unsubscribeBlocked = this.broker.onBlockedChange((blocked) => {
      for (const c of this.connections.values()) c.setBlocked(blocked);
    });
  }

  /** Serves one connected stream; `peer` names its ends (for auth, logs and listings). */
  accept(stream: Duplex, peer: PeerInfo): AmqpConnection {
    const conn = new AmqpConnection(stream, peer, this);
    this.streams.add(conn);
    void conn.closed.then(() => this.streams.delete(conn));
    return conn;
  }

  /** Starts the TCP listener; resolves with the bound address (port 0 picks a free one). */
  listen(port: number = DEFAULT_AMQP_PORT, host: string = DEFAULT_AMQP_HOST): Promise<AddressInfo> {
    const server = createServer({ noDelay: true }, (socket) => this.acceptSocket(socket));
    server.on('error', (err) => this.log.error({ err }, 'AMQP listener error'));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null | undefined) ?? null;
  }

  private acceptSocket(socket: Socket): void {
    socket.setNoDelay(true);
    this.accept(socket, {
      remoteAddress: socket.remoteAddress ?? 'unknown',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
    });
  }

  /** @internal {@link AmqpContext} */
  connectionOpened(conn: AmqpConnection): void {
    this.connections.set(conn.id, conn);
    if (this.broker.blocked) conn.setBlocked(true);
  }

  /** @internal {@link AmqpContext} */
  connectionClosed(conn: AmqpConnection): void {
    this.connections.delete(conn.id);
  }

  stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
      const s = this.server;
      if (s === null || !s.listening) return resolve();
      s.close(() => resolve());
    });
  }

  /** Stops listening and closes every connection with CONNECTION_FORCED. */
  async close(reason = 'broker shutdown'): Promise<void> {
    const stopped = this.stopAccepting();
    for (const c of this.streams) c.close(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
    await Promise.all([...this.streams].map((c) => c.closed));
    await stopped;
    this.unsubscribeBlocked();
  }
}
