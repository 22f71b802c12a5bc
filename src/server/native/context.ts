import type { ParsedMethod } from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import type { VirtualHosts } from '../../broker/vhosts.js';
import type { Limits } from '../limits.js';
import type { Permissions } from '../permissions.js';
import type { Logger } from '../../log/logger.js';
import type { Authenticator } from '../auth.js';
import type { ConnectionRegistry } from '../registry.js';
import type { Connection } from './connection.js';

/** Handles a method on channel 0 that is not part of the connection lifecycle (admin methods). */
export type ConnectionMethodHandler = (conn: Connection, method: ParsedMethod) => void;

/** What every native connection shares: the broker, limits, auth, logging, the registry. */
export interface ServerContext {
  /** The default vhost's broker; alarms and memory are every vhost's. */
  readonly broker: Broker;
  /** Every vhost; a connection opens a session in the one it names. */
  readonly vhosts: VirtualHosts;
  readonly log: Logger;
  readonly auth: Authenticator;
  readonly registry: ConnectionRegistry;
  readonly version: string;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatMs: number;
  /** Socket bytes above which a connection's consumers are paused until 'drain'. */
  readonly socketHighWaterMark: number;
  readonly connectionHandlers: Map<number, ConnectionMethodHandler>;
  /** `tls_cert_login`: a verified client certificate's CN logs in as that user (EXTERNAL). */
  readonly certLogin: boolean;
  /** Per-user permissions; absent = every user may use every object (a bare front end). */
  readonly permissions?: Permissions;
  /** User and vhost limits; absent = none. */
  readonly limits?: Limits;
}
