import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ReplyCode } from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import { VirtualHosts } from '../../broker/vhosts.js';
import type { Limits } from '../limits.js';
import type { Logger } from '../../log/logger.js';
import { VERSION } from '../../version.js';
import type { Authenticator } from '../auth.js';
import type { Permissions } from '../permissions.js';
import { peerOfSocket, type PeerInfo } from '../peer.js';
import type { ConnectionRegistry } from '../registry.js';
import { TcpListener } from '../tcp-listener.js';
import { AmqpConnection, type AmqpContext } from './connection.js';

/** RabbitMQ's defaults: frame_max 128 KiB, channel_max 2047, heartbeat 60 s. */
export const DEFAULT_AMQP_FRAME_MAX = 131_072;

export interface AmqpFrontEndOptions {
  broker: Broker;
  /** The daemon's vhosts (`broker` is their default); absent: `broker` alone, as `/`. */
  vhosts?: VirtualHosts;
  /** User and vhost limits (the native front end's); absent = none. */
  limits?: Limits;
  log: Logger;
  auth: Authenticator;
  registry: ConnectionRegistry;
  frameMax?: number;
  channelMax?: number;
  heartbeatMs?: number;
  socketHighWaterMark?: number;
  /** Per-user permissions (the native front end's); absent = every user may use every object. */
  permissions?: Permissions;
}

/**
 * The AMQP 0-9-1 front end: it serves any connected duplex stream ({@link accept}), so TCP (the
 * thin {@link listen}er) and AMQP over WebSocket go through the same code. Every connection is
 * a broker session on the same broker as the native protocol's, listed in the same registry.
 */
export class AmqpFrontEnd implements AmqpContext {
  readonly broker: Broker;
  readonly vhosts: VirtualHosts;
  readonly limits?: Limits;
  readonly log: Logger;
  readonly auth: Authenticator;
  readonly registry: ConnectionRegistry;
  readonly version = VERSION;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatMs: number;
  readonly socketHighWaterMark: number;
  readonly permissions?: Permissions;
  private readonly connections = new Set<AmqpConnection>();
  private tcp: TcpListener | null = null;

  constructor(options: AmqpFrontEndOptions) {
    this.broker = options.broker;
    this.vhosts = options.vhosts ?? new VirtualHosts(options.broker);
    if (options.limits !== undefined) this.limits = options.limits;
    this.log = options.log;
    this.auth = options.auth;
    this.registry = options.registry;
    this.frameMax = options.frameMax ?? DEFAULT_AMQP_FRAME_MAX;
    this.channelMax = options.channelMax ?? 2047;
    this.heartbeatMs = options.heartbeatMs ?? 60_000;
    this.socketHighWaterMark = options.socketHighWaterMark ?? 1024 * 1024;
    if (options.permissions !== undefined) this.permissions = options.permissions;
  }

  /** Serves one connected stream; `peer` names its ends (for auth, logs and listings). */
  accept(stream: Duplex, peer: PeerInfo): AmqpConnection {
    const conn = new AmqpConnection(stream, peer, this);
    this.connections.add(conn);
    void conn.closed.then(() => this.connections.delete(conn));
    return conn;
  }

  /**
   * Binds a TCP port (port 0 picks a free one) and lists it as `amqp`. With `hold`, connections
   * wait until {@link serve} (the daemon binds before it restores its store).
   */
  async listen(port: number, host: string, hold = false): Promise<AddressInfo> {
    if (this.tcp !== null) throw new Error('the AMQP front end is already listening');
    this.tcp = await TcpListener.listen(
      port,
      host,
      (socket) => {
        socket.setNoDelay(true);
        this.accept(socket, peerOfSocket(socket));
      },
      this.log,
      hold,
    );
    const { address, port: bound } = this.tcp.address;
    this.registry.addListener({ protocol: 'amqp', host: address, port: bound });
    return this.tcp.address;
  }

  /** Serves the TCP connections held since a `listen` with `hold`. */
  serve(): void {
    this.tcp?.serve();
  }

  get address(): AddressInfo | null {
    return this.tcp?.address ?? null;
  }

  async stopAccepting(): Promise<void> {
    await this.tcp?.close();
  }

  /** Stops listening and closes every connection with CONNECTION_FORCED. */
  async close(reason = 'broker shutdown'): Promise<void> {
    const stopped = this.stopAccepting();
    for (const c of this.connections) c.close(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
    await Promise.all([...this.connections].map((c) => c.closed));
    await stopped;
  }
}
