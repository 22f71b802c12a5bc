/**
 * The client's API shared by both builds: `./index.ts` (Node.js) and `./browser.ts` add each
 * their `connect` and transports to it. Nothing here may import a Node built-in.
 */
export { webSocketTransport, SKIFF_SUBPROTOCOL } from './transport/websocket.js';
export type { WebSocketConstructor, WebSocketLike } from './transport/websocket.js';
export { Connection, openConnection } from './connection.js';
export type { ConnectionEvents, ConnectionState, ReconnectAttempt, Reconnected } from './connection.js';
export { DEFAULT_URL, parseUrl } from './url.js';
export type { ParsedUrl, UrlScheme } from './url.js';
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
export type {
  AdminListKind,
  BindingRow,
  Bytes,
  ConnectionRow,
  ConsumerRow,
  ExchangeRow,
  MemoryStatus,
  QueueRow,
  ServerStatus,
  StoreStatus,
} from '../../protocol/index.js';
export { ReplyCode } from '../../protocol/index.js';
