/**
 * The Skiff TypeScript client.
 *
 * ```ts
 * import { connect } from 'skiffmq';
 * const conn = await connect('skiff://guest:guest@127.0.0.1:5680');
 * const ch = await conn.channel();
 * ```
 */
export { connect, tcpTransport } from './transport/tcp.js';
export { Connection, openConnection } from './connection.js';
export type { ConnectionEvents, ConnectionState, ReconnectAttempt, Reconnected } from './connection.js';
export { DEFAULT_URL, parseUrl } from './url.js';
export type { ParsedUrl } from './url.js';
export { RECONNECT_DEFAULTS } from './options.js';
export type { ConnectOptions, ReconnectOptions } from './options.js';
export type { TlsClientOptions, Transport, TransportFactory, TransportHandlers, TransportTarget } from './transport/transport.js';
export type { ConfirmCallback } from './confirms.js';
export { Channel } from './channel.js';
export type {
  ConsumeOptions,
  Consumer,
  ExchangeDeclareOptions,
  ExchangeType,
  QueueDeclareOptions,
  QueueInfo,
  ReturnedMessage,
} from './channel.js';
export { Message } from './message.js';
export type { MessageProperties, PublishOptions } from './message.js';
export { SkiffError, ServerError, ClosedError, ConnectionError, ConnectionLostError, NackError, StaleDeliveryError } from './errors.js';
export { Admin } from './admin.js';
export { exportDefinitions, importDefinitions, parseDefinitions, definitionsCount, DefinitionsError } from './definitions.js';
export type { Definitions, ExchangeDefinition, QueueDefinition, BindingDefinition } from './definitions.js';
export type {
  AdminListKind,
  BindingRow,
  ConnectionRow,
  ConsumerRow,
  ExchangeRow,
  MemoryStatus,
  QueueRow,
  ServerStatus,
  StoreStatus,
} from '../../protocol/index.js';
export { ReplyCode } from '../../protocol/index.js';
