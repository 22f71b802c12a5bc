/** Whether a message is among its queue's ready messages (for queues that track expiry). */
export const ReadyState = {
  /** Delivered, unacked, or gone. */
  Out: 0,
  Ready: 1,
  /** Expired while in the middle of the ready list; skipped when reached. */
  Dead: 2,
} as const;
export type ReadyState = (typeof ReadyState)[keyof typeof ReadyState];

const PERSISTENT = 1 << 8;
const REDELIVERED = 1 << 9;
const INDEXED = 1 << 12;

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
  /** Per-message TTL in ms; 0 = none. */
  readonly expiration: number;
  deliveryCount: number;
  /**
   * When this copy expires from its queue (ms since the epoch; 0 = never), fixed when it was
   * enqueued from the queue's and the message's TTL (SPEC §3.4.1). Kept across requeues.
   */
  expiresAt = 0;
  /**
   * Small fields packed into one integer: a queued message's size is mostly its object, and
   * every field costs 8 bytes (bench "memory"). Bits 0–7 priority, 8 persistent,
   * 9 redelivered, 10–11 {@link ReadyState}, 12 indexed.
   */
  private bits: number;

  /**
   * The content bytes `x-max-length-bytes` and `readyBytes` count: properties and body
   * (SPEC §3.4.1), not the 4-byte size of the properties that precedes them on the wire.
   */
  get size(): number {
    return contentSize(this.content);
  }

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
    this.expiration = expiration;
    this.deliveryCount = deliveryCount;
    // AMQP priorities are an octet; anything above 255 means "highest".
    this.bits = (priority > 255 ? 255 : priority) | (persistent ? PERSISTENT : 0) | (redelivered ? REDELIVERED : 0);
  }

  get priority(): number {
    return this.bits & 0xff;
  }

  get persistent(): boolean {
    return (this.bits & PERSISTENT) !== 0;
  }

  get redelivered(): boolean {
    return (this.bits & REDELIVERED) !== 0;
  }

  set redelivered(v: boolean) {
    this.bits = v ? this.bits | REDELIVERED : this.bits & ~REDELIVERED;
  }

  /** Where this copy is in a queue that tracks expiry; plain queues never read it. */
  get readyState(): ReadyState {
    return ((this.bits >> 10) & 3) as ReadyState;
  }

  set readyState(v: ReadyState) {
    this.bits = (this.bits & ~(3 << 10)) | (v << 10);
  }

  /** This copy has an entry in its queue's expiry index. */
  get indexed(): boolean {
    return (this.bits & INDEXED) !== 0;
  }

  set indexed(v: boolean) {
    this.bits = v ? this.bits | INDEXED : this.bits & ~INDEXED;
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

/** Properties + body of a message in wire form `[u32 propsSize][props][body]` (see {@link Message.size}). */
export function contentSize(content: Buffer): number {
  return content.length - 4;
}
