import type { ParsedMethod } from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import type { Logger } from '../../log/logger.js';
import type { Authenticator } from '../auth.js';
import type { ConnectionRegistry } from '../registry.js';
import type { Connection } from './connection.js';

/** Handles a method on channel 0 that is not part of the connection lifecycle (admin methods). */
export type ConnectionMethodHandler = (conn: Connection, method: ParsedMethod) => void;

/** What every native connection shares: the broker, limits, auth, logging, the registry. */
export interface ServerContext {
  readonly broker: Broker;
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
}
