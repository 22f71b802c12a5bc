/** Whether a message is among its queue's ready messages (for queues that track expiry). */
export const ReadyState = {
  /** Delivered, unacked, or gone. */
  Out: 0,
  Ready: 1,
  /** Expired while in the middle of the ready list; skipped when reached. */
  Dead: 2,
} as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

/**
 * One message in one queue. `content` is the message in wire form, `[u32 propsSize][props][body]`
 * (SPEC §3), shared by every queue the message was routed to and forwarded as-is on delivery.
 * The per-queue state (`redelivered`, `deliveryCount`) lives on the object, so a message routed
 * to several queues gets one shallow copy per extra queue, never a copy of its bytes.
 */
export class Message {
  /** Broker-wide publish sequence number: the store's key, and the order for requeues. */
  readonly id: number;
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly persistent: boolean;
  readonly priority: number;
  /** Per-message TTL in ms; 0 = none. */
  readonly expiration: number;
  redelivered: boolean;
  deliveryCount: number;
  /**
   * When this copy expires from its queue (ms since the epoch; 0 = never), fixed when it was
   * enqueued from the queue's and the message's TTL (SPEC §3.4.1). Kept across requeues.
   */
  expiresAt = 0;
  /**
   * Where this copy is in a queue that tracks expiry: {@link ReadyState}. Plain queues never
   * read it.
   */
  readyState: ReadyState = ReadyState.Out;
  /** This copy has an entry in its queue's expiry index. */
  indexed = false;

  constructor(
    id: number,
    exchange: string,
    routingKey: string,
    content: Buffer,
    persistent: boolean,
    priority = 0,
    expiration = 0,
    redelivered = false,
    deliveryCount = 0,
  ) {
    this.id = id;
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.content = content;
    this.persistent = persistent;
    this.priority = priority;
    this.expiration = expiration;
    this.redelivered = redelivered;
    this.deliveryCount = deliveryCount;
  }

  /** The message's properties as sent (a msgpack map), without the size prefix. */
  get propsBytes(): Buffer {
    return this.content.subarray(4, 4 + this.content.readUInt32BE(0));
  }

  get body(): Buffer {
    return this.content.subarray(4 + this.content.readUInt32BE(0));
  }

  /** A copy for another queue: same bytes, fresh per-queue state. */
  copy(): Message {
    return new Message(this.id, this.exchange, this.routingKey, this.content, this.persistent, this.priority, this.expiration);
  }
}

/** Estimated broker memory for one queued message beyond its bytes (objects, views, slots). */
export const MESSAGE_OVERHEAD_BYTES = 200;

/** Builds a content buffer from parts: for restored messages and tests. */
export function makeContent(props: Buffer | null, body: Buffer): Buffer {
  const propsSize = props === null ? 0 : props.length;
  const c = Buffer.allocUnsafe(4 + propsSize + body.length);
  c.writeUInt32BE(propsSize, 0);
  if (props !== null) props.copy(c, 4);
  body.copy(c, 4 + propsSize);
  return c;
}
