import { unpackProperties, utf8Read, type Bytes } from '../../protocol/index.js';
import type { MessageProperties } from '../../protocol/codec/properties.js';

export type { MessageProperties } from '../../protocol/codec/properties.js';

/** Options of `publish`: the properties plus what the broker acts on. */
export interface PublishOptions extends MessageProperties {
  /** Return the message with basic.return if it reaches no queue. */
  mandatory?: boolean;
  /** Write it to the store when it lands in a durable queue. */
  persistent?: boolean;
  priority?: number;
  /** Per-message TTL in ms. */
  expiration?: number;
}

export const PROPERTY_KEYS: readonly (keyof MessageProperties)[] = [
  'contentType',
  'contentEncoding',
  'headers',
  'messageId',
  'correlationId',
  'replyTo',
  'timestamp',
  'type',
  'appId',
  'userId',
];

/** Settles a delivery; implemented by the channel. */
export interface Settler {
  ack(deliveryTag: number, multiple: boolean): void;
  nack(deliveryTag: number, multiple: boolean, requeue: boolean): void;
  reject(deliveryTag: number, requeue: boolean): void;
}

/**
 * A message received by a consumer or `get`. `body` is a view of the received frame (no copy):
 * a Buffer in Node.js, a Uint8Array in a browser. `properties` are decoded on first access.
 */
export class Message {
  readonly body: Bytes;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly deliveryTag: number;
  readonly persistent: boolean;
  /** Set for consumer deliveries; '' for `get`. */
  readonly consumerTag: string;
  /** For `get`: ready messages left in the queue. */
  readonly messageCount: number;
  private readonly props: Bytes;
  private decoded: MessageProperties | null = null;
  private readonly settler: Settler | null;

  constructor(
    settler: Settler | null,
    props: Bytes,
    body: Bytes,
    exchange: string,
    routingKey: string,
    redelivered: boolean,
    deliveryTag: number,
    persistent: boolean,
    consumerTag: string,
    messageCount = 0,
  ) {
    this.settler = settler;
    this.props = props;
    this.body = body;
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.redelivered = redelivered;
    this.deliveryTag = deliveryTag;
    this.persistent = persistent;
    this.consumerTag = consumerTag;
    this.messageCount = messageCount;
  }

  get properties(): MessageProperties {
    if (this.decoded === null) this.decoded = this.props.length === 0 ? {} : (unpackProperties(this.props) as MessageProperties);
    return this.decoded;
  }

  /** The body as UTF-8 text. */
  text(): string {
    return utf8Read(this.body, 0, this.body.length);
  }

  /** The body parsed as JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  ack(multiple = false): void {
    this.settler?.ack(this.deliveryTag, multiple);
  }

  /** Negative acknowledgement; `requeue` defaults to true, as AMQP. */
  nack(requeue = true, multiple = false): void {
    this.settler?.nack(this.deliveryTag, multiple, requeue);
  }

  reject(requeue = true): void {
    this.settler?.reject(this.deliveryTag, requeue);
  }
}
