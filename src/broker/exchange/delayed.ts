import { ProtocolError, ReplyCode, packValue, unpackProperties } from '../../../protocol/index.js';
import { storeAmqpMessage, storedBodyStart, storedHeaders } from '../../../protocol/amqp/content.js';
import { fromNativeTable } from '../../../protocol/amqp/interop.js';
import { decodeBasicProperties, encodeBasicProperties, maxBasicPropertiesSize } from '../../../protocol/amqp/methods.generated.js';
import { isAmqpContent } from '../stored-content.js';
import type { DelayedSchedule } from '../delayed-schedule.js';
import { DirectExchange } from './direct.js';
import { Exchange, type Destination, type ExchangeOptions } from './exchange.js';
import { FanoutExchange } from './fanout.js';
import { HeadersExchange } from './headers.js';
import { TopicExchange } from './topic.js';

/** The type name RabbitMQ's rabbitmq_delayed_message_exchange plugin registers. */
export const DELAYED_TYPE = 'x-delayed-message';
/** The argument naming the type whose routing a delayed exchange uses. */
export const DELAYED_TYPE_ARG = 'x-delayed-type';
/** The per-message header: delay in ms. */
export const DELAY_HEADER = 'x-delay';
/** Longest delay the plugin accepts (an Erlang timer's limit); anything longer is routed at once, as there. */
export const MAX_DELAY_MS = 4_294_967_295;

type Underlying = new (name: string, options: ExchangeOptions, alternate: string | null) => Exchange;

/** The types a delayed exchange may route as. A function, not a table: the modules import each other. */
function underlyingOf(type: unknown): Underlying | null {
  switch (type) {
    case 'direct':
      return DirectExchange;
    case 'fanout':
      return FanoutExchange;
    case 'topic':
      return TopicExchange;
    case 'headers':
      return HeadersExchange;
    default:
      return null;
  }
}

/** The plugin's refusal of a missing or unusable `x-delayed-type`, word for word. */
function invalidDelayedType(): ProtocolError {
  return new ProtocolError(ReplyCode.PRECONDITION_FAILED, "Invalid argument, 'x-delayed-type' must be an existing exchange type");
}

/** Throws the plugin's PRECONDITION_FAILED unless `args` name an underlying type Skiff routes as. */
export function checkDelayedArguments(args: Record<string, unknown>): void {
  if (underlyingOf(args[DELAYED_TYPE_ARG]) === null) throw invalidDelayedType();
}

/**
 * The exchange type `x-delayed-message`, as RabbitMQ's plugin defines it: bindings and routing
 * are those of the type named by `x-delayed-type`; a message published with an `x-delay` header
 * of 1 ms up to {@link MAX_DELAY_MS} waits in the exchange's {@link DelayedSchedule} and is
 * routed when due. Routing itself (the broker's `route`) is the underlying type's, so a message
 * without a delay, or one that is due, takes exactly the path it would through that type.
 */
export class DelayedExchange extends Exchange {
  readonly type = DELAYED_TYPE;
  /** The underlying type's exchange, holding the same bindings; it never appears in the broker's maps. */
  readonly underlying: Exchange;
  /** Set by the broker as it adds the exchange. */
  schedule!: DelayedSchedule;
  /** Scheduled messages that found no queue when due (and no alternate exchange took). */
  unroutedTotal = 0;

  constructor(name: string, options: ExchangeOptions, alternate: string | null) {
    super(name, options, alternate);
    const ctor = underlyingOf(options.arguments[DELAYED_TYPE_ARG]);
    if (ctor === null) throw invalidDelayedType();
    this.underlying = new ctor(name, options, null);
  }

  /** The underlying type's name (`direct`, `fanout`, `topic`, `headers`). */
  get delayedType(): string {
    return this.underlying.type;
  }

  route(routingKey: string, content: Buffer): Iterable<Destination> {
    return this.underlying.route(routingKey, content);
  }

  override checkBindingArguments(args: Record<string, unknown>): void {
    this.underlying.checkBindingArguments(args);
  }

  override bindingId(routingKey: string, args: Record<string, unknown>): string {
    return this.underlying.bindingId(routingKey, args);
  }

  protected added(dest: Destination, routingKey: string, args: Record<string, unknown>): void {
    this.underlying.bind(dest, routingKey, args);
  }

  protected removed(dest: Destination, routingKey: string, args: Record<string, unknown>): void {
    this.underlying.unbind(dest, routingKey, args);
  }
}

/**
 * The delay a message asks for, in ms, or 0 to route it at once. As the plugin reads `x-delay`:
 * an integer of any AMQP width, a float (truncated) or a string of digits; a missing header, 0,
 * a negative value (what the plugin sets on a message it has delayed, so it is never delayed
 * twice), anything longer than {@link MAX_DELAY_MS} or of another type means no delay.
 */
export function delayOf(content: Buffer): number {
  if (content.readUInt32BE(0) === 0) return 0;
  let v: unknown;
  try {
    v = storedHeaders(content)[DELAY_HEADER];
  } catch {
    return 0;
  }
  let d: number;
  if (typeof v === 'number') d = Math.trunc(v);
  else if (typeof v === 'bigint') d = v > BigInt(MAX_DELAY_MS) ? Infinity : Number(v);
  else if (typeof v === 'string' && /^[+-]?\d+$/.test(v)) d = Number(v);
  else return 0;
  return d > 0 && d <= MAX_DELAY_MS ? d : 0;
}

/**
 * The content of a delayed message as it is routed when due: its `x-delay` header set to minus
 * the delay, as the plugin does, so consumers can tell it was delayed and a later pass through a
 * delayed exchange does not delay it again. Other properties and the body bytes are kept; a
 * content whose properties cannot be read is routed as it is.
 */
export function routedContent(content: Buffer): Buffer {
  const delay = delayOf(content);
  if (delay === 0) return content;
  try {
    if (isAmqpContent(content)) {
      const bodyStart = storedBodyStart(content);
      const props = decodeBasicProperties(content, 5, bodyStart);
      const next = { ...props, headers: { ...props.headers, ...fromNativeTable({ [DELAY_HEADER]: -delay }) } };
      const buf = Buffer.allocUnsafe(maxBasicPropertiesSize(next));
      const n = encodeBasicProperties(buf, 0, next);
      return storeAmqpMessage(buf.subarray(0, n), content.subarray(bodyStart), 0);
    }
    const size = content.readUInt32BE(0);
    const props = unpackProperties(content.subarray(4, 4 + size));
    const h = props['headers'] as Record<string, unknown>;
    props['headers'] = { ...h, [DELAY_HEADER]: -delay };
    const packed = packValue(props);
    const body = content.subarray(4 + size);
    const out = Buffer.allocUnsafe(4 + packed.length + body.length);
    out.writeUInt32BE(packed.length, 0);
    packed.copy(out, 4);
    body.copy(out, 4 + packed.length);
    return out;
  } catch {
    return content;
  }
}
