import { ProtocolError, ReplyCode } from './codes.js';
import { isBytes } from './bytes.js';

/** Method ids (SPEC §3): class << 8 | method. */
export const Method = {
  ConnectionStart: 0x0a01,
  ConnectionOpen: 0x0a02,
  ConnectionOpenOk: 0x0a03,
  ConnectionClose: 0x0a04,
  ConnectionCloseOk: 0x0a05,
  ConnectionBlocked: 0x0a06,
  ConnectionUnblocked: 0x0a07,
  ChannelOpen: 0x1401,
  ChannelOpenOk: 0x1402,
  ChannelClose: 0x1403,
  ChannelCloseOk: 0x1404,
  ExchangeDeclare: 0x2801,
  ExchangeDeclareOk: 0x2802,
  ExchangeDelete: 0x2803,
  ExchangeDeleteOk: 0x2804,
  ExchangeBind: 0x2805,
  ExchangeBindOk: 0x2806,
  ExchangeUnbind: 0x2807,
  ExchangeUnbindOk: 0x2808,
  QueueDeclare: 0x3201,
  QueueDeclareOk: 0x3202,
  QueueBind: 0x3203,
  QueueBindOk: 0x3204,
  QueueUnbind: 0x3205,
  QueueUnbindOk: 0x3206,
  QueuePurge: 0x3207,
  QueuePurgeOk: 0x3208,
  QueueDelete: 0x3209,
  QueueDeleteOk: 0x320a,
  QueueStoreOffset: 0x320b,
  QueueStoreOffsetOk: 0x320c,
  QueueQueryOffset: 0x320d,
  QueueQueryOffsetOk: 0x320e,
  BasicQos: 0x3c01,
  BasicQosOk: 0x3c02,
  BasicConsume: 0x3c03,
  BasicConsumeOk: 0x3c04,
  BasicCancel: 0x3c05,
  BasicCancelOk: 0x3c06,
  BasicPublish: 0x3c07,
  BasicReturn: 0x3c08,
  BasicDeliver: 0x3c09,
  BasicGet: 0x3c0a,
  BasicGetOk: 0x3c0b,
  BasicGetEmpty: 0x3c0c,
  BasicAck: 0x3c0d,
  BasicReject: 0x3c0e,
  BasicNack: 0x3c0f,
  ConfirmSelect: 0x5501,
  ConfirmSelectOk: 0x5502,
  AdminStatus: 0x0b01,
  AdminStatusOk: 0x0b02,
  AdminList: 0x0b03,
  AdminListOk: 0x0b04,
  AdminCloseConnection: 0x0b05,
  AdminCloseConnectionOk: 0x0b06,
  AdminError: 0x0b07,
  AdminPut: 0x0b08,
  AdminPutOk: 0x0b09,
  AdminDelete: 0x0b0a,
  AdminDeleteOk: 0x0b0b,
} as const;
export type MethodId = (typeof Method)[keyof typeof Method];

/** Argument types (SPEC §3 "Types used in the tables"). */
type FieldType = 'str' | 'bool' | 'uint' | 'map' | 'str[]' | 'any';
/** [name, type] is required; [name, type, default] is optional and filled with the default. */
type Field = readonly [name: string, type: FieldType, dflt?: unknown];

export interface MethodDef<F extends readonly Field[] = readonly Field[]> {
  readonly id: number;
  readonly name: string;
  readonly fields: F;
  readonly required: number;
  /** Content methods carry properties and a body after their arguments (SPEC §3). */
  readonly content: boolean;
  readonly from: 'client' | 'server' | 'both';
}

const defs = new Map<number, MethodDef>();

function def<const F extends readonly Field[]>(id: number, name: string, from: MethodDef['from'], fields: F, content = false): MethodDef<F> {
  const required = fields.findIndex((f) => f.length === 3);
  const d: MethodDef<F> = { id, name, fields, required: required === -1 ? fields.length : required, content, from };
  defs.set(id, d);
  return d;
}

const M = Method;
const closeFields = [
  ['replyCode', 'uint'],
  ['text', 'str'],
  ['methodId', 'uint', 0],
] as const;
const exchangeBindFields = [
  ['destination', 'str'],
  ['source', 'str'],
  ['routingKey', 'str'],
  ['arguments', 'map', {}],
] as const;
const bindFields = [
  ['queue', 'str'],
  ['exchange', 'str'],
  ['routingKey', 'str'],
  ['arguments', 'map', {}],
] as const;

/** Every method of SPEC §3, by id, with the literal types its arguments are derived from. */
const TABLE = {
  [M.ConnectionStart]: def(M.ConnectionStart, 'connection.start', 'server', [
    ['versionMajor', 'uint'],
    ['versionMinor', 'uint'],
    ['serverProperties', 'map'],
    ['mechanisms', 'str[]'],
    ['frameMax', 'uint'],
    ['channelMax', 'uint'],
    ['heartbeatMs', 'uint'],
  ]),
  [M.ConnectionOpen]: def(M.ConnectionOpen, 'connection.open', 'client', [
    ['username', 'str'],
    ['password', 'str'],
    ['frameMax', 'uint'],
    ['channelMax', 'uint'],
    ['heartbeatMs', 'uint'],
    ['clientProperties', 'map', {}],
    ['vhost', 'str', '/'],
  ]),
  [M.ConnectionOpenOk]: def(M.ConnectionOpenOk, 'connection.open-ok', 'server', [
    ['frameMax', 'uint'],
    ['channelMax', 'uint'],
    ['heartbeatMs', 'uint'],
    ['connectionName', 'str'],
  ]),
  [M.ConnectionClose]: def(M.ConnectionClose, 'connection.close', 'both', closeFields),
  [M.ConnectionCloseOk]: def(M.ConnectionCloseOk, 'connection.close-ok', 'both', []),
  [M.ConnectionBlocked]: def(M.ConnectionBlocked, 'connection.blocked', 'server', [['reason', 'str', '']]),
  [M.ConnectionUnblocked]: def(M.ConnectionUnblocked, 'connection.unblocked', 'server', []),
  [M.ChannelOpen]: def(M.ChannelOpen, 'channel.open', 'client', []),
  [M.ChannelOpenOk]: def(M.ChannelOpenOk, 'channel.open-ok', 'server', []),
  [M.ChannelClose]: def(M.ChannelClose, 'channel.close', 'both', closeFields),
  [M.ChannelCloseOk]: def(M.ChannelCloseOk, 'channel.close-ok', 'both', []),
  [M.ExchangeDeclare]: def(M.ExchangeDeclare, 'exchange.declare', 'client', [
    ['exchange', 'str'],
    ['type', 'str'],
    ['passive', 'bool', false],
    ['durable', 'bool', false],
    ['autoDelete', 'bool', false],
    ['internal', 'bool', false],
    ['arguments', 'map', {}],
  ]),
  [M.ExchangeDeclareOk]: def(M.ExchangeDeclareOk, 'exchange.declare-ok', 'server', []),
  [M.ExchangeDelete]: def(M.ExchangeDelete, 'exchange.delete', 'client', [
    ['exchange', 'str'],
    ['ifUnused', 'bool', false],
  ]),
  [M.ExchangeDeleteOk]: def(M.ExchangeDeleteOk, 'exchange.delete-ok', 'server', []),
  [M.ExchangeBind]: def(M.ExchangeBind, 'exchange.bind', 'client', exchangeBindFields),
  [M.ExchangeBindOk]: def(M.ExchangeBindOk, 'exchange.bind-ok', 'server', []),
  [M.ExchangeUnbind]: def(M.ExchangeUnbind, 'exchange.unbind', 'client', exchangeBindFields),
  [M.ExchangeUnbindOk]: def(M.ExchangeUnbindOk, 'exchange.unbind-ok', 'server', []),
  [M.QueueDeclare]: def(M.QueueDeclare, 'queue.declare', 'client', [
    ['queue', 'str'],
    ['passive', 'bool', false],
    ['durable', 'bool', false],
    ['exclusive', 'bool', false],
    ['autoDelete', 'bool', false],
    ['arguments', 'map', {}],
  ]),
  [M.QueueDeclareOk]: def(M.QueueDeclareOk, 'queue.declare-ok', 'server', [
    ['queue', 'str'],
    ['messageCount', 'uint'],
    ['consumerCount', 'uint'],
  ]),
  [M.QueueBind]: def(M.QueueBind, 'queue.bind', 'client', bindFields),
  [M.QueueBindOk]: def(M.QueueBindOk, 'queue.bind-ok', 'server', []),
  [M.QueueUnbind]: def(M.QueueUnbind, 'queue.unbind', 'client', bindFields),
  [M.QueueUnbindOk]: def(M.QueueUnbindOk, 'queue.unbind-ok', 'server', []),
  [M.QueuePurge]: def(M.QueuePurge, 'queue.purge', 'client', [['queue', 'str']]),
  [M.QueuePurgeOk]: def(M.QueuePurgeOk, 'queue.purge-ok', 'server', [['messageCount', 'uint']]),
  [M.QueueDelete]: def(M.QueueDelete, 'queue.delete', 'client', [
    ['queue', 'str'],
    ['ifUnused', 'bool', false],
    ['ifEmpty', 'bool', false],
  ]),
  [M.QueueDeleteOk]: def(M.QueueDeleteOk, 'queue.delete-ok', 'server', [['messageCount', 'uint']]),
  [M.QueueStoreOffset]: def(M.QueueStoreOffset, 'queue.store-offset', 'client', [
    ['queue', 'str'],
    ['consumer', 'str'],
    ['offset', 'uint'],
  ]),
  [M.QueueStoreOffsetOk]: def(M.QueueStoreOffsetOk, 'queue.store-offset-ok', 'server', []),
  [M.QueueQueryOffset]: def(M.QueueQueryOffset, 'queue.query-offset', 'client', [
    ['queue', 'str'],
    ['consumer', 'str'],
  ]),
  [M.QueueQueryOffsetOk]: def(M.QueueQueryOffsetOk, 'queue.query-offset-ok', 'server', [['offset', 'any', null]]),
  [M.BasicQos]: def(M.BasicQos, 'basic.qos', 'client', [
    ['prefetchCount', 'uint'],
    ['global', 'bool', false],
  ]),
  [M.BasicQosOk]: def(M.BasicQosOk, 'basic.qos-ok', 'server', []),
  [M.BasicConsume]: def(M.BasicConsume, 'basic.consume', 'client', [
    ['queue', 'str'],
    ['consumerTag', 'str', ''],
    ['noAck', 'bool', false],
    ['exclusive', 'bool', false],
    ['arguments', 'map', {}],
  ]),
  [M.BasicConsumeOk]: def(M.BasicConsumeOk, 'basic.consume-ok', 'server', [['consumerTag', 'str']]),
  [M.BasicCancel]: def(M.BasicCancel, 'basic.cancel', 'both', [['consumerTag', 'str']]),
  [M.BasicCancelOk]: def(M.BasicCancelOk, 'basic.cancel-ok', 'both', [['consumerTag', 'str']]),
  [M.BasicPublish]: def(
    M.BasicPublish,
    'basic.publish',
    'client',
    [
      ['exchange', 'str'],
      ['routingKey', 'str'],
      ['mandatory', 'bool', false],
      ['persistent', 'bool', false],
      ['priority', 'uint', 0],
      ['expiration', 'uint', 0],
    ],
    true,
  ),
  [M.BasicReturn]: def(
    M.BasicReturn,
    'basic.return',
    'server',
    [
      ['replyCode', 'uint'],
      ['text', 'str'],
      ['exchange', 'str'],
      ['routingKey', 'str'],
    ],
    true,
  ),
  [M.BasicDeliver]: def(
    M.BasicDeliver,
    'basic.deliver',
    'server',
    [
      ['consumerTag', 'str'],
      ['deliveryTag', 'uint'],
      ['redelivered', 'bool'],
      ['exchange', 'str'],
      ['routingKey', 'str'],
      ['persistent', 'bool', false],
    ],
    true,
  ),
  [M.BasicGet]: def(M.BasicGet, 'basic.get', 'client', [
    ['queue', 'str'],
    ['noAck', 'bool', false],
  ]),
  [M.BasicGetOk]: def(
    M.BasicGetOk,
    'basic.get-ok',
    'server',
    [
      ['deliveryTag', 'uint'],
      ['redelivered', 'bool'],
      ['exchange', 'str'],
      ['routingKey', 'str'],
      ['messageCount', 'uint'],
      ['persistent', 'bool', false],
    ],
    true,
  ),
  [M.BasicGetEmpty]: def(M.BasicGetEmpty, 'basic.get-empty', 'server', []),
  [M.BasicAck]: def(M.BasicAck, 'basic.ack', 'both', [
    ['deliveryTag', 'uint'],
    ['multiple', 'bool', false],
  ]),
  [M.BasicReject]: def(M.BasicReject, 'basic.reject', 'client', [
    ['deliveryTag', 'uint'],
    ['requeue', 'bool', true],
  ]),
  [M.BasicNack]: def(M.BasicNack, 'basic.nack', 'both', [
    ['deliveryTag', 'uint'],
    ['multiple', 'bool', false],
    ['requeue', 'bool', true],
  ]),
  [M.ConfirmSelect]: def(M.ConfirmSelect, 'confirm.select', 'client', []),
  [M.ConfirmSelectOk]: def(M.ConfirmSelectOk, 'confirm.select-ok', 'server', []),
  // Admin (SPEC §3.7): requests on channel 0, answered in order, for admin users only.
  [M.AdminStatus]: def(M.AdminStatus, 'admin.status', 'client', []),
  [M.AdminStatusOk]: def(M.AdminStatusOk, 'admin.status-ok', 'server', [['status', 'map']]),
  [M.AdminList]: def(M.AdminList, 'admin.list', 'client', [
    ['kind', 'str'],
    ['offset', 'uint', 0],
    ['vhost', 'str', ''],
  ]),
  [M.AdminListOk]: def(M.AdminListOk, 'admin.list-ok', 'server', [
    ['rows', 'any'],
    ['next', 'uint'],
  ]),
  [M.AdminCloseConnection]: def(M.AdminCloseConnection, 'admin.close-connection', 'client', [
    ['connection', 'str'],
    ['reason', 'str', 'closed by an operator'],
  ]),
  [M.AdminCloseConnectionOk]: def(M.AdminCloseConnectionOk, 'admin.close-connection-ok', 'server', []),
  [M.AdminError]: def(M.AdminError, 'admin.error', 'server', closeFields),
  [M.AdminPut]: def(M.AdminPut, 'admin.put', 'client', [
    ['kind', 'str'],
    ['name', 'str'],
    ['value', 'map'],
  ]),
  [M.AdminPutOk]: def(M.AdminPutOk, 'admin.put-ok', 'server', [['created', 'bool']]),
  [M.AdminDelete]: def(M.AdminDelete, 'admin.delete', 'client', [
    ['kind', 'str'],
    ['name', 'str'],
    ['vhost', 'str', ''],
  ]),
  [M.AdminDeleteOk]: def(M.AdminDeleteOk, 'admin.delete-ok', 'server', []),
} as const;

/** What a table type stands for in TypeScript (validation guarantees it before a handler runs). */
interface FieldValue {
  str: string;
  bool: boolean;
  uint: number;
  map: Record<string, unknown>;
  'str[]': string[];
  any: unknown;
}

/** The named arguments of a field list: `{ queue: string; noAck: boolean }`. Defaults are filled, so none is optional. */
export type FieldsArgs<F extends readonly Field[]> = { readonly [E in F[number] as E[0]]: FieldValue[E[1]] };

/** The method ids of SPEC §3's tables. */
export type TableMethodId = keyof typeof TABLE;

/** The named, typed arguments of a method: `ArgsOf<typeof Method.QueueDeclare>['queue']` is a string. */
export type ArgsOf<Id extends TableMethodId> = FieldsArgs<(typeof TABLE)[Id]['fields']>;

/** A validated method with named arguments; `switch (m.id)` narrows `m.args` to that method's. */
export type NamedMethod = { [Id in TableMethodId]: { readonly id: Id; readonly args: ArgsOf<Id> } }[TableMethodId];

/** Per method: builds its named-arguments object from the validated array (see {@link namedArgs}). */
const namers = new Map<number, (args: readonly unknown[]) => Record<string, unknown>>();

/**
 * The arguments of a validated method by name. Each method gets a small function built from its
 * table row, `(a) => ({ exchange: a[0], routingKey: a[1], … })`, made on first use: an object
 * literal of a fixed shape costs about what the array did, where filling an object key by key
 * costs several times that on the publish path. Only names from the tables above (identifiers)
 * reach the generated code.
 */
export function namedArgs(d: MethodDef, args: readonly unknown[]): Record<string, unknown> {
  let namer = namers.get(d.id);
  if (namer === undefined) {
    const props = d.fields.map((f, i) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f[0])) throw new Error(`method ${d.name}: argument name '${f[0]}' is not an identifier`);
      return `${f[0]}: a[${i}]`;
    });
    namer = new Function('a', `return { ${props.join(', ')} };`) as (args: readonly unknown[]) => Record<string, unknown>;
    namers.set(d.id, namer);
  }
  return namer(args);
}

export function methodDef(id: number): MethodDef | undefined {
  return defs.get(id);
}

/** Every method, for SPEC drift tests and tooling. */
export function allMethods(): readonly MethodDef[] {
  return [...defs.values()];
}

export function methodName(id: number): string {
  return defs.get(id)?.name ?? `0x${id.toString(16).padStart(4, '0')}`;
}

/** Registers extra methods (admin methods live beside the server that implements them). */
export function defineMethod(
  id: number,
  name: string,
  from: MethodDef['from'],
  fields: readonly Field[],
  content = false,
): void {
  if (defs.has(id)) throw new Error(`method 0x${id.toString(16)} is already defined`);
  def(id, name, from, fields, content);
}
export type { Field as MethodField };

function typeOk(type: FieldType, v: unknown): boolean {
  switch (type) {
    case 'str':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'uint':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    case 'map':
      return v !== null && typeof v === 'object' && !Array.isArray(v) && !isBytes(v);
    case 'str[]':
      return Array.isArray(v) && v.every((s) => typeof s === 'string');
    case 'any':
      return true;
  }
}

/**
 * Checks decoded arguments against the method's table row (SPEC §3.2) and fills omitted or nil
 * optional arguments with their defaults, in place. Throws SYNTAX_ERROR naming the argument.
 */
export function validateArgs(d: MethodDef, args: unknown[]): unknown[] {
  const fields = d.fields;
  if (args.length < d.required || args.length > fields.length) {
    const want = d.required === fields.length ? `${fields.length} argument${fields.length === 1 ? '' : 's'}` : `${d.required} to ${fields.length} arguments`;
    throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${d.name} takes ${want}, got ${args.length}`, {
      methodId: d.id,
    });
  }
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as Field;
    const v = args[i];
    if (v === undefined || v === null) {
      if (i < d.required) {
        throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${d.name}: argument '${f[0]}' is required`, { methodId: d.id });
      }
      const dflt = f[2];
      args[i] = dflt !== null && typeof dflt === 'object' ? {} : dflt;
    } else if (!typeOk(f[1], v)) {
      throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `${d.name}: argument '${f[0]}' must be ${articled(f[1])}`, {
        methodId: d.id,
      });
    }
  }
  return args;
}

function articled(t: FieldType): string {
  switch (t) {
    case 'str':
      return 'a string';
    case 'bool':
      return 'a boolean';
    case 'uint':
      return 'a non-negative integer';
    case 'map':
      return 'a map';
    case 'str[]':
      return 'an array of strings';
    case 'any':
      return 'a value';
  }
}
