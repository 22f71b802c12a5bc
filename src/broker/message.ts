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

  /** A copy for another queue: same bytes (or `content`, an identical compact copy), fresh per-queue state. */
  copy(content: Buffer = this.content): Message {
    return new Message(this.id, this.exchange, this.routingKey, content, this.persistent, this.priority, this.expiration);
  }
}

/**
 * Message content arrives as a view into the socket chunk it was read from, which keeps the
 * whole chunk (up to 64 KiB) alive. That costs nothing while the message passes through, but a
 * message parked in a queue nobody consumes, while its chunk-mates are long gone, would hold
 * far more than its size (think 1% of traffic routed to an unwatched queue). Such messages are
 * copied into slabs that hold only parked messages (see Broker.enqueueRouted).
 */
export function isWastefulView(content: Buffer): boolean {
  const backing = content.buffer.byteLength;
  return backing >= 16 * 1024 && backing > 2 * content.length;
}

const SLAB_BYTES = 64 * 1024;

/**
 * Bump allocator for parked message copies. A slab is shared only by parked messages, so it is
 * freed once they are consumed; node's shared Buffer pool would mix them with everything else.
 */
export class ContentArena {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private used = 0;

  copy(src: Buffer): Buffer {
    const n = src.length;
    if (n > SLAB_BYTES / 8) {
      const own = Buffer.allocUnsafeSlow(n);
      src.copy(own);
      return own;
    }
    if (this.used + n > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const start = this.used;
    src.copy(this.slab, start);
    this.used = start + n;
    return this.slab.subarray(start, start + n);
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
