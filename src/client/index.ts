/**
 * The Skiff TypeScript client.
 *
 * ```ts
 * import { connect } from 'skiffmq';
 * const conn = await connect('skiff://guest:guest@127.0.0.1:5680');
 * const ch = await conn.channel();
 * ```
 */
export { connect, Connection, DEFAULT_URL, parseUrl } from './connection.js';
export type { ConnectOptions } from './connection.js';
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
export { SkiffError, ServerError, ClosedError, ConnectionError, NackError } from './errors.js';
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
} from '../../protocol/index.js';
export { ReplyCode } from '../../protocol/index.js';
