/** The Skiff wire codec, shared by the daemon and the client (see SPEC.md). */
export { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_AMQP_PORT, DEFAULT_HTTP_PORT, DEFAULT_TLS_PORT, DEFAULT_AMQPS_PORT } from './defaults.js';
export { ReplyCode, ProtocolError, isConnectionCode, replyCodeName } from './codec/codes.js';
export type { ReplyCodeName, ReplyCodeValue } from './codec/codes.js';
export {
  PROTOCOL_HEADER,
  HEADER_LENGTH,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  FrameType,
  FRAME_HEADER_SIZE,
  DEFAULT_FRAME_MAX,
  MIN_FRAME_MAX,
  MAX_FRAME_MAX,
  DEFAULT_CHANNEL_MAX,
  DEFAULT_HEARTBEAT_MS,
  HEARTBEAT_FRAME,
  checkProtocolHeader,
} from './codec/frame.js';
export type { HeaderCheck } from './codec/frame.js';
export { FrameDecoder } from './codec/decoder.js';
export type { FrameSink } from './codec/decoder.js';
export { Method, methodDef, methodName, allMethods, defineMethod, namedArgs, validateArgs } from './codec/methods.js';
export type { ArgsOf, FieldsArgs, MethodId, MethodDef, MethodField, TableMethodId } from './codec/methods.js';
export { argsOf, parseMethod, parseMethodAt, splitContent } from './codec/parse.js';
export type { ParsedMethod } from './codec/parse.js';
export { ArgsEncoder, packValue, unpackValue, unpackArgs, unpackProperties } from './codec/msgpack.js';
export type { ArgValue, Primitive } from './codec/msgpack.js';
export { FrameWriter } from './codec/writer.js';
export { viewOf, isBytes, utf8Bytes, utf8Read, bytesEqual } from './codec/bytes.js';
export type { Bytes } from './codec/bytes.js';
export type { WritableLike } from './codec/writer.js';
export { ADMIN_LIST_KINDS, ADMIN_PUT_KINDS, isAdminListKind } from './codec/admin.js';
export { blockReason } from './codec/alarms.js';
export type {
  AdminListKind,
  AdminListRows,
  BindingRow,
  ConnectionRow,
  ConsumerRow,
  ExchangeRow,
  MemoryStatus,
  QueueRow,
  StreamInfo,
  ServerStatus,
  UserRow,
  PermissionRow,
  TopicPermissionRow,
  LimitRow,
  VhostRow,
  PolicyRow,
  AdminPutKind,
  StoreStatus,
  ClusterStatus,
  ClusterFollowerStatus,
  ClusterNodeStatus,
} from './codec/admin.js';
export { RABBIT_SECTIONS, checkDefinitions, definitionsCount, definitionsFromRows } from './definitions.js';
export type { BindingDefinition, Definitions, ExchangeDefinition, QueueDefinition, RabbitSection } from './definitions.js';
