import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { DEFAULT_CHANNEL_MAX, DEFAULT_FRAME_MAX, DEFAULT_HEARTBEAT_MS, ReplyCode } from '../../protocol/index.js';
import { Broker } from '../broker/broker.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { VERSION } from '../version.js';
import { GuestOnlyAuthenticator, type Authenticator } from './auth.js';
import { Connection, blockReason } from './connection.js';
import type { ConnectionMethodHandler, ServerContext } from './context.js';

export const DEFAULT_PORT = 5680;
export const DEFAULT_HOST = '127.0.0.1';

export interface ServerOptions {
  broker?: Broker;
  log?: Logger;
  auth?: Authenticator;
  frameMax?: number;
  channelMax?: number;
  heartbeatMs?: number;
  socketHighWaterMark?: number;
}

/**
 * The daemon's network face: a `net.Server` whose connections speak the Skiff protocol to one
 * {@link Broker}. Everything protocol-level is in {@link Connection}.
 */
export class SkiffServer implements ServerContext {
  readonly broker: Broker;
  readonly log: Logger;
  readonly auth: Authenticator;
  readonly version = VERSION;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatMs: number;
  readonly socketHighWaterMark: number;
  readonly connectionHandlers = new Map<number, ConnectionMethodHandler>();
  readonly connections = new Map<string, Connection>();
  readonly startedAt = Date.now();
  private readonly server: Server;
  private readonly sockets = new Set<Connection>();
  private readonly unsubscribeBlocked: () => void;

  constructor(options: ServerOptions = {}) {
    this.broker = options.broker ?? new Broker();
    this.log = options.log ?? silentLogger();
    this.auth = options.auth ?? new GuestOnlyAuthenticator();
    this.frameMax = options.frameMax ?? DEFAULT_FRAME_MAX;
    this.channelMax = options.channelMax ?? DEFAULT_CHANNEL_MAX;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.socketHighWaterMark = options.socketHighWaterMark ?? 1024 * 1024;
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.log.error({ err }, 'listener error'));
    this.unsubscribeBlocked = this.broker.onBlockedChange((blocked) => {
      const reasons = this.broker.alarmReasons;
      if (blocked) this.log.warn({ reasons, queuedBytes: this.broker.queuedBytes }, `blocking publishers: ${blockReason(reasons)}`);
      else this.log.warn({ queuedBytes: this.broker.queuedBytes }, 'alarms cleared: publishers unblocked');
      for (const c of this.connections.values()) c.setBlocked(blocked);
    });
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  listen(port: number = DEFAULT_PORT, host: string = DEFAULT_HOST): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Serves the native protocol on `socket`: a TCP socket, or a stream shaped like one (a WebSocket's). */
  accept(socket: Socket): Connection {
    const conn = new Connection(socket, this);
    this.sockets.add(conn);
    void conn.closed.then(() => this.sockets.delete(conn));
    return conn;
  }

  /** @internal {@link ServerContext} */
  connectionOpened(conn: Connection): void {
    this.connections.set(conn.id, conn);
    if (this.broker.blocked) conn.setBlocked(true);
  }

  /** @internal {@link ServerContext} */
  connectionClosed(conn: Connection): void {
    this.connections.delete(conn.id);
  }

  /** Stops accepting connections; existing ones carry on. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  /**
   * Stops the listener and closes every connection with CONNECTION_FORCED (their unacked
   * messages go back to their queues first).
   */
  async close(reason = 'broker shutdown'): Promise<void> {
    const stopped = this.stopAccepting();
    for (const c of this.sockets) c.closeConnection(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
    await Promise.all([...this.sockets].map((c) => c.closed));
    await stopped;
    this.unsubscribeBlocked();
  }
}
