import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ReplyCode } from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import { VirtualHosts } from '../../broker/vhosts.js';
import type { Logger } from '../../log/logger.js';
import { VERSION } from '../../version.js';
import type { Authenticator } from '../auth.js';
import type { Limits } from '../limits.js';
import type { Permissions } from '../permissions.js';
import { peerOfSocket, type PeerInfo } from '../peer.js';
import type { ConnectionRegistry } from '../registry.js';
import { TcpListener } from '../tcp-listener.js';
import { Connection } from './connection.js';
import type { ConnectionMethodHandler, ServerContext } from './context.js';

/** Everything the native front end is given; the daemon resolves each from its config. */
export interface NativeFrontEndOptions {
  readonly broker: Broker;
  /** The daemon's vhosts (`broker` is their default); absent: `broker` alone, as `/`. */
  readonly vhosts?: VirtualHosts;
  readonly log: Logger;
  readonly auth: Authenticator;
  /** Where its connections are listed, beside every other front end's. */
  readonly registry: ConnectionRegistry;
  /** Limits offered in connection.start (`frame_max`, `channel_max`, `heartbeat_ms`). */
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatMs: number;
  /** Socket bytes above which a connection's consumers pause until 'drain'. */
  readonly socketHighWaterMark?: number;
  /** `tls_cert_login`: a verified client certificate's CN logs in as that user (EXTERNAL). */
  readonly certLogin?: boolean;
  /** Per-user permissions; absent = every user may use every object. */
  readonly permissions?: Permissions;
  /** User and vhost limits; absent = none. */
  readonly limits?: Limits;
}

/**
 * The native Skiff protocol's front end: it speaks SPEC.md over any connected byte stream
 * handed to {@link accept} (a TCP socket from {@link listen}, a WebSocket's stream) to one
 * {@link Broker}. Everything protocol-level is in {@link Connection}.
 */
export class NativeFrontEnd implements ServerContext {
  readonly broker: Broker;
  readonly vhosts: VirtualHosts;
  readonly log: Logger;
  readonly auth: Authenticator;
  readonly registry: ConnectionRegistry;
  readonly version = VERSION;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatMs: number;
  readonly socketHighWaterMark: number;
  readonly certLogin: boolean;
  readonly permissions?: Permissions;
  readonly limits?: Limits;
  readonly connectionHandlers = new Map<number, ConnectionMethodHandler>();
  readonly startedAt = Date.now();
  /** Every connection it serves, from the protocol header on (the registry lists only open ones). */
  readonly connections = new Set<Connection>();
  private tcp: TcpListener | null = null;

  constructor(options: NativeFrontEndOptions) {
    this.broker = options.broker;
    this.vhosts = options.vhosts ?? new VirtualHosts(options.broker);
    this.log = options.log;
    this.auth = options.auth;
    this.registry = options.registry;
    this.frameMax = options.frameMax;
    this.channelMax = options.channelMax;
    this.heartbeatMs = options.heartbeatMs;
    this.socketHighWaterMark = options.socketHighWaterMark ?? 1024 * 1024;
    this.certLogin = options.certLogin ?? false;
    if (options.permissions !== undefined) this.permissions = options.permissions;
    if (options.limits !== undefined) this.limits = options.limits;
  }

  /**
   * Serves one client on a connected stream: the protocol header, handshake and everything
   * after. The stream is destroyed when the connection ends.
   */
  accept(stream: Duplex, peer: PeerInfo): Connection {
    const conn = new Connection(stream, peer, this);
    this.connections.add(conn);
    void conn.closed.then(() => this.connections.delete(conn));
    return conn;
  }

  /**
   * Binds a TCP port for this front end (port 0 picks a free one) and lists it as `skiff`. With
   * `hold`, connections wait until {@link serve} (see {@link TcpListener.listen}).
   */
  async listen(port: number, host: string, hold = false): Promise<AddressInfo> {
    if (this.tcp !== null) throw new Error('the native front end is already listening');
    this.tcp = await TcpListener.listen(port, host, (socket) => this.accept(socket, peerOfSocket(socket)), this.log, hold);
    const { address, port: bound } = this.tcp.address;
    this.registry.addListener({ protocol: 'skiff', host: address, port: bound });
    return this.tcp.address;
  }

  /** Serves the TCP connections held since a `listen` with `hold`. */
  serve(): void {
    this.tcp?.serve();
  }

  /** The bound TCP address, or null when not listening on TCP. */
  get address(): AddressInfo | null {
    return this.tcp?.address ?? null;
  }

  /** Stops accepting TCP connections; existing ones carry on. */
  async stopAccepting(): Promise<void> {
    await this.tcp?.close();
  }

  /**
   * Stops the listener and closes every connection with CONNECTION_FORCED (their unacked
   * messages go back to their queues first).
   */
  async close(reason = 'broker shutdown'): Promise<void> {
    const stopped = this.stopAccepting();
    for (const c of this.connections) c.close(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
    await Promise.all([...this.connections].map((c) => c.closed));
    await stopped;
  }
}
