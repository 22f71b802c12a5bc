import type { Clock, TimerHandle } from './clock.js';
import type { Consumer } from './consumer.js';
import type { DeathReason } from './dead-letter.js';
import { Deque } from '../util/deque.js';
import type { Exchange } from './exchange/exchange.js';
import { ExpiryIndex } from './expiry.js';
import { ReadyState, type Message } from './message.js';
import { PagedList, type LaneOwner, type Pager } from './paging.js';
import { PriorityList, type ReadyList } from './priority-list.js';
import { mergeQueuePolicy, type EffectivePolicy } from './policy.js';
import { parseQueueArguments, type QueuePolicy } from './queue-args.js';

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

/** What a queue needs from the broker that owns it. */
export interface QueueHost {
  /** The virtual host of the queue; default `/`. */
  readonly vhost?: string;
  /** Time for TTLs and queue expiry. */
  readonly clock: Clock;
  /** A message left the queue for good (acked, dropped, purged, expired, dead-lettered). */
  messageGone(queue: Queue, message: Message): void;
  /** Its last consumer left. */
  consumersGone(queue: Queue): void;
  /** Publishes a copy of `message` to the queue's dead-letter exchange (SPEC §3.4.3). */
  deadLetter(queue: Queue, message: Message, reason: DeathReason): void;
  /** The queue's `x-expires` ran out: delete it. */
  queueExpired(queue: Queue): void;
  /** Pages persistent messages of durable queues to the store past the memory budget; null = all in memory. */
  readonly pager: Pager | null;
  /** Ready messages of `queue` left memory for the store (negative) or came back (positive). */
  memoryChanged(queue: Queue, bytes: number): void;
  /** Paged messages of `queue` could not be read (`err`), or the store had fewer than counted. */
  pageFailed(queue: Queue, err: Error | null, lostMessages: number): void;
}

/**
 * A FIFO of ready messages and the consumers competing for them, served round robin among
 * those with room (SPEC §3.5.3). Unacked messages are held by the channels that received them;
 * the queue only counts them.
 *
 * Policies (SPEC §3.4.1) cost nothing on a queue without them: a queue declared with no `x-`
 * argument has `policy === null`, and expiry tracking starts only once a message with a TTL
 * arrives.
 */
export class Queue implements LaneOwner {
  readonly name: string;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: Record<string, unknown>;
  /** A stream (`x-queue-type: stream`, {@link Stream}): an append-only log, not a FIFO. */
  readonly isStream: boolean = false;
  /** Id of the owning connection for exclusive queues. */
  readonly owner: string | null;
  /** What is in force: the `x-` arguments merged with the effective policy; null when neither sets anything. */
  policy: QueuePolicy | null;
  /** The `x-` arguments alone, parsed. */
  readonly argumentPolicy: QueuePolicy | null;
  /** The policy and operator policy that apply (RabbitMQ's `policy`, `effective_policy_definition`). */
  appliedPolicy: EffectivePolicy | null = null;
  /** When a `message-ttl` first applied to messages already queued; their TTL counts from then. */
  private ttlSince = 0;
  /** ms a delivery from this queue may stay unacked (`x-consumer-timeout`); 0 = no limit. */
  readonly consumerTimeout: number;
  readonly ready: ReadyList;
  /** `ready` when the store pages this queue's backlog (durable queues with a store); else null. */
  readonly paged: PagedList | null;
  readonly consumers: Consumer[] = [];
  /** Exchanges holding a binding to this queue, so deleting it touches only those. */
  readonly boundTo = new Set<Exchange>();
  unackedCount = 0;
  /** Content bytes (properties + body) of the ready messages. */
  readyBytes = 0;
  deleted = false;
  /** Auto-delete applies only once the queue has had a consumer (AMQP). */
  hadConsumer = false;
  /**
   * Counters for status and rates, read by the stats sampler: plain increments on the hot path.
   * `deliveredTotal` counts consumer deliveries and gets alike; the split is derived from the
   * others (deliver with ack = delivered - deliverNoAck - get - getNoAck).
   */
  publishedTotal = 0;
  deliveredTotal = 0;
  deliverNoAckTotal = 0;
  getTotal = 0;
  getNoAckTotal = 0;
  ackTotal = 0;
  /** Messages put back for redelivery (nack/reject with requeue, closed channels). */
  redeliverTotal = 0;
  private rr = 0;
  /** True while its consumers do not all share one priority (then {@link choosePrioritised} picks). */
  private prioritised = false;
  /** Round-robin position within each priority, for {@link choosePrioritised}. */
  private priorityCursors: Map<number, number> | null = null;
  private dispatching = false;
  private readonly host: QueueHost;
  /** Ready messages that can expire, by expiry; null until the first one arrives. */
  private expiry: ExpiryIndex | null = null;
  /** Messages expired in the middle of `ready`: still in it until reached or compacted. */
  private dead = 0;
  private expiryTimer: TimerHandle | null = null;
  private expiryTimerAt = Infinity;
  private idleTimer: TimerHandle | null = null;
  private lastUsedAt = 0;

  /** The virtual host it lives in. */
  get vhost(): string {
    return this.host.vhost ?? '/';
  }

  /** Throws PRECONDITION_FAILED for invalid `x-` arguments (see {@link parseQueueArguments}). */
  constructor(name: string, options: QueueOptions, owner: string | null, host: QueueHost, policy?: QueuePolicy | null, pages = true) {
    this.name = name;
    this.durable = options.durable;
    this.exclusive = options.exclusive;
    this.autoDelete = options.autoDelete;
    this.arguments = options.arguments;
    this.owner = owner;
    this.host = host;
    this.argumentPolicy = policy === undefined ? parseQueueArguments(name, options.arguments) : policy;
    this.policy = this.argumentPolicy;
    const p = this.policy;
    this.consumerTimeout = p?.consumerTimeout ?? 0;
    const pager = pages && options.durable && !options.exclusive ? host.pager : null;
    this.paged = pager === null ? null : new PagedList(this, pager, p?.maxPriority ?? null);
    this.ready = this.paged ?? (p?.maxPriority != null ? new PriorityList(p.maxPriority) : new Deque<Message>());
    if (p?.messageTtl != null) this.expiry = new ExpiryIndex();
    this.touch();
  }

  /** Ready messages, in memory and (for a paged queue) on disk. */
  get messageCount(): number {
    return this.paged === null ? this.ready.length - this.dead : this.ready.length + this.paged.held - this.dead;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  enqueue(message: Message): void {
    if (this.policy === null && message.expiration === 0) {
      this.ready.push(message);
      this.readyBytes += message.size;
      this.publishedTotal++;
      if (this.consumers.length !== 0) this.dispatch();
      return;
    }
    this.enqueueWithPolicy(message);
  }

  private enqueueWithPolicy(m: Message): void {
    if (m.expiresAt === 0) {
      // The lower of the queue's and the message's TTL wins (SPEC §3.4.2). A restored message
      // comes with its expiry already set.
      let ttl = this.policy === null ? null : this.policy.messageTtl;
      if (m.expiration !== 0 && (ttl === null || m.expiration < ttl)) ttl = m.expiration;
      if (ttl !== null) m.expiresAt = this.host.clock.now() + ttl;
    }
    // A message that waits behind paged ones is indexed for expiry once it reaches the head.
    const atHead = this.paged === null ? (this.ready.push(m), true) : this.paged.pushNew(m);
    this.readyBytes += m.size;
    this.publishedTotal++;
    if (m.expiresAt !== 0 && atHead) {
      const index = (this.expiry ??= new ExpiryIndex());
      m.readyState = ReadyState.Ready;
      index.add(m);
      index.compactIfSparse(this.messageCount);
      this.armExpiry(m.expiresAt);
    }
    if (this.consumers.length !== 0) this.dispatch();
    this.dropOverflow();
  }

  /**
   * True when this queue is full and its `x-overflow` is `reject-publish(-dlx)`: it refuses a
   * message of `size` content bytes (the publisher's confirm is a nack).
   */
  refuses(size: number): boolean {
    const p = this.policy;
    if (p === null || p.overflow === 'drop-head') return false;
    return (p.maxLength !== null && this.messageCount >= p.maxLength) || (p.maxLengthBytes !== null && this.readyBytes + size > p.maxLengthBytes);
  }

  /** `x-overflow: drop-head`: drops (or dead-letters, reason `maxlen`) the oldest until within limits. */
  private dropOverflow(): void {
    const p = this.policy;
    if (p === null || p.overflow !== 'drop-head' || (p.maxLength === null && p.maxLengthBytes === null)) return;
    while ((p.maxLength !== null && this.messageCount > p.maxLength) || (p.maxLengthBytes !== null && this.readyBytes > p.maxLengthBytes)) {
      if (this.expiry !== null && !this.trimHead()) return;
      const m = this.ready.shift();
      if (m === undefined) return;
      this.leaveReady(m);
      this.discard(m, 'maxlen');
    }
  }

  /**
   * Puts messages back in their original place, by publish order (SPEC §3.5.4). A message was
   * at the head when it was handed out, so only messages requeued since then can be older than
   * it: those sit at the head of `ready` and are merged with the returning ones. A message
   * returned more often than `x-delivery-limit` allows is dead-lettered instead.
   */
  requeue(messages: Message[]): void {
    if (this.deleted) {
      for (const m of messages) this.host.messageGone(this, m);
      return;
    }
    if (messages.length === 0) return;
    if (messages.length > 1) messages.sort((a, b) => a.id - b.id);
    const limit = this.policy === null ? null : this.policy.deliveryLimit;
    const index = this.expiry;
    const back: Message[] = [];
    for (const m of messages) {
      if (limit !== null && m.deliveryCount > limit) {
        this.discard(m, 'delivery_limit');
        continue;
      }
      m.redelivered = true;
      this.readyBytes += m.size;
      if (index !== null && m.expiresAt !== 0) {
        m.readyState = ReadyState.Ready;
        index.add(m);
      }
      back.push(m);
    }
    this.redeliverTotal += back.length;
    if (back.length !== 0) {
      const newest = (back[back.length - 1] as Message).id;
      const older: Message[] = [];
      for (let h = this.ready.peek(); h !== undefined && h.id < newest; h = this.ready.peek()) older.push(this.ready.shift() as Message);
      const placed = older.length === 0 ? back : mergeById(older, back);
      for (let i = placed.length - 1; i >= 0; i--) this.ready.unshift(placed[i] as Message);
    }
    // A returning message keeps its expiry and may be past it already.
    if (index !== null) this.expireDue();
    this.dispatch();
    this.dropOverflow();
  }

  /** Takes the next ready message for basic.get. */
  take(): Message | undefined {
    this.touch();
    if (this.expiry !== null && !this.trimHead()) return undefined;
    const m = this.ready.shift();
    if (m !== undefined) {
      this.leaveReady(m);
      this.deliveredTotal++;
    }
    return m;
  }

  /** Drops every ready message (never dead-lettered, as AMQP); returns how many. */
  purge(): number {
    const n = this.messageCount;
    for (const m of this.ready.drain()) {
      if (m.readyState === ReadyState.Dead) continue;
      m.readyState = ReadyState.Out;
      this.host.messageGone(this, m);
    }
    this.readyBytes = 0;
    this.dead = 0;
    this.expiry?.clear();
    return n;
  }

  /** Every ready message in delivery order (for listings and checkpoints). */
  *readyMessages(): IterableIterator<Message> {
    for (const m of this.ready) if (m.readyState !== ReadyState.Dead) yield m;
  }

  addConsumer(c: Consumer): void {
    const cs = this.consumers;
    // Kept in descending priority, a newcomer after its equals, so plain round robin still
    // serves equals in arrival order and the prioritised pick scans from the front.
    let at = cs.length;
    while (at > 0 && (cs[at - 1] as Consumer).priority < c.priority) at--;
    cs.splice(at, 0, c);
    if (this.rr > at) this.rr++;
    this.prioritised = (cs[0] as Consumer).priority !== (cs[cs.length - 1] as Consumer).priority;
    this.hadConsumer = true;
    this.dispatch();
  }

  removeConsumer(c: Consumer): void {
    const cs = this.consumers;
    const i = cs.indexOf(c);
    if (i === -1) return;
    cs.splice(i, 1);
    if (this.rr > i) this.rr--;
    this.prioritised = cs.length !== 0 && (cs[0] as Consumer).priority !== (cs[cs.length - 1] as Consumer).priority;
    if (cs.length === 0) {
      this.host.consumersGone(this);
      this.touch();
    }
  }

  /**
   * Hands ready messages to consumers with room until either runs out. Re-entrant calls (a
   * delivery that frees room synchronously) fold into the running loop.
   */
  dispatch(): void {
    if (this.dispatching || this.deleted) return;
    this.dispatching = true;
    try {
      const consumers = this.consumers;
      const expiring = this.expiry !== null;
      while (this.ready.length !== 0 && consumers.length !== 0) {
        if (expiring && !this.trimHead()) return;
        let chosen: Consumer | undefined;
        if (this.prioritised) {
          chosen = this.choosePrioritised();
        } else {
          const n = consumers.length;
          for (let tries = 0; tries < n; tries++) {
            if (this.rr >= n) this.rr = 0;
            const c = consumers[this.rr++] as Consumer;
            if (c.ready) {
              chosen = c;
              break;
            }
          }
        }
        if (chosen === undefined) return;
        const m = this.ready.shift() as Message;
        this.readyBytes -= m.size;
        if (expiring) m.readyState = ReadyState.Out;
        this.deliveredTotal++;
        chosen.channel.deliver(chosen, m);
      }
    } finally {
      this.dispatching = false;
    }
  }

  /**
   * With consumers of different priorities: the highest priority that has a consumer with room
   * wins, round robin among its equals (RabbitMQ's consumer priorities); lower ones get a
   * message only while every higher one is blocked (prefetch full, socket backed up).
   */
  private choosePrioritised(): Consumer | undefined {
    const cs = this.consumers;
    const n = cs.length;
    let start = 0;
    while (start < n) {
      const p = (cs[start] as Consumer).priority;
      let end = start + 1;
      while (end < n && (cs[end] as Consumer).priority === p) end++;
      const size = end - start;
      // Each priority keeps its own round-robin position, so a higher group taking turns with
      // this one does not send this one back to its first consumer every time.
      const cursors = (this.priorityCursors ??= new Map());
      const from = (cursors.get(p) ?? 0) % size;
      for (let t = 0; t < size; t++) {
        const k = (from + t) % size;
        const c = cs[start + k] as Consumer;
        if (c.ready) {
          cursors.set(p, k + 1);
          return c;
        }
      }
      start = end;
    }
    return undefined;
  }

  /** Called by a channel when a delivery from this queue is acked (or sent with noAck). */
  settled(message: Message, _consumer?: Consumer | null): void {
    this.host.messageGone(this, message);
  }

  /** Called by a channel for reject/nack without requeue: dead-lettered if the queue says so. */
  rejected(message: Message, _consumer?: Consumer | null): void {
    this.discard(message, 'rejected');
  }

  /** Stops the queue's timers; the broker calls it when it deletes the queue. */
  markDeleted(): void {
    this.deleted = true;
    const clock = this.host.clock;
    if (this.expiryTimer !== null) clock.clearTimer(this.expiryTimer);
    if (this.idleTimer !== null) clock.clearTimer(this.idleTimer);
    this.expiryTimer = this.idleTimer = null;
  }

  /**
   * Applies a (changed) policy at run time, keeping every message and its order: a lower length
   * limit drops from the head per `overflow`, a new `message-ttl` expires the messages already
   * queued once it has run from now, a new `expires` restarts the idle countdown.
   */
  applyPolicy(effective: EffectivePolicy | null): void {
    this.appliedPolicy = effective;
    const before = this.policy;
    const p = mergeQueuePolicy(this.argumentPolicy, this.arguments, effective);
    this.policy = p;
    if (this.deleted) return;
    if (p !== null && p.messageTtl !== null && p.messageTtl !== before?.messageTtl) {
      const now = this.host.clock.now();
      this.ttlSince = now;
      const index = (this.expiry ??= new ExpiryIndex());
      // Messages at the head get their expiry now; paged ones and those behind them when they reach it.
      for (const m of this.paged === null ? this.ready : this.paged.headMessages()) {
        if (m.expiresAt !== 0) continue;
        m.expiresAt = now + p.messageTtl;
        m.readyState = ReadyState.Ready;
        index.add(m);
      }
      if (index.size !== 0) this.armExpiry(index.nextAt());
    }
    if (before?.expires !== p?.expires) {
      if (this.idleTimer !== null) this.host.clock.clearTimer(this.idleTimer);
      this.idleTimer = null;
      this.touch();
    }
    this.dropOverflow();
  }

  /**
   * The queue was used (declared again, consumed from, read with get): restarts its `x-expires`
   * countdown. The countdown only runs while the queue has no consumers.
   */
  touch(): void {
    const p = this.policy;
    if (p === null || p.expires === null || this.deleted) return;
    this.lastUsedAt = this.host.clock.now();
    if (this.consumers.length === 0 && this.idleTimer === null) this.idleTimer = this.host.clock.setTimer(this.onIdleTimer, p.expires);
  }

  private readonly onIdleTimer = (): void => {
    this.idleTimer = null;
    const expires = this.policy?.expires;
    if (this.deleted || expires == null || this.consumers.length !== 0) return;
    const left = this.lastUsedAt + expires - this.host.clock.now();
    if (left > 0) this.idleTimer = this.host.clock.setTimer(this.onIdleTimer, left);
    else this.host.queueExpired(this);
  };

  // ---- paging (durable queues past their memory budget) ----

  /** After a restart: the stored messages of one priority, left on disk until paged in. */
  restoreBacklog(priority: number, messages: number, bytes: number, upTo: number): void {
    if (this.paged === null) throw new Error(`queue '${this.name}' does not page`);
    // The store counts stored content; readyBytes leaves out each message's 4-byte props size.
    const size = bytes - 4 * messages;
    this.readyBytes += size;
    this.paged.restore(priority, messages, size, upTo);
  }

  /** @internal {@link LaneOwner} */
  atHead(m: Message): void {
    if (m.expiresAt === 0 && this.ttlSince !== 0 && this.policy?.messageTtl != null) m.expiresAt = this.ttlSince + this.policy.messageTtl;
    if (m.expiresAt === 0) return;
    const index = (this.expiry ??= new ExpiryIndex());
    m.readyState = ReadyState.Ready;
    index.add(m);
    this.armExpiry(m.expiresAt);
  }

  /** @internal {@link LaneOwner} */
  memoryChanged(bytes: number): void {
    this.host.memoryChanged(this, bytes);
  }

  /** @internal {@link LaneOwner} */
  pagedIn(): void {
    if (this.deleted) return;
    if (this.expiry !== null) this.expireDue();
    this.dispatch();
    this.dropOverflow();
  }

  /** @internal {@link LaneOwner} */
  pageFailed(err: Error | null, lostMessages: number, lostBytes: number): void {
    this.readyBytes -= lostBytes;
    this.host.pageFailed(this, err, lostMessages);
  }

  // ---- expiry (SPEC §3.4.2) ----

  /** Lets a message go for `reason`: to the dead-letter exchange if there is one, else dropped. */
  private discard(m: Message, reason: DeathReason): void {
    if (this.policy !== null && this.policy.deadLetterExchange !== null) this.host.deadLetter(this, m, reason);
    this.host.messageGone(this, m);
  }

  /** Bookkeeping for a message shifted off the ready list. */
  private leaveReady(m: Message): void {
    this.readyBytes -= m.size;
    if (this.expiry !== null) m.readyState = ReadyState.Out;
  }

  /** Drops dead and expired messages at the head; false when no ready message is left. */
  private trimHead(): boolean {
    let now = -1;
    for (;;) {
      const m = this.ready.peek();
      if (m === undefined) return false;
      if (m.readyState === ReadyState.Dead) {
        this.ready.shift();
        this.dead--;
        continue;
      }
      if (m.expiresAt === 0) return true;
      if (now === -1) now = this.host.clock.now();
      if (m.expiresAt >= now) return true;
      this.ready.shift();
      this.leaveReady(m);
      this.discard(m, 'expired');
    }
  }

  private armExpiry(at: number): void {
    if (at === Infinity || at >= this.expiryTimerAt || this.deleted) return;
    const clock = this.host.clock;
    if (this.expiryTimer !== null) clock.clearTimer(this.expiryTimer);
    this.expiryTimerAt = at;
    // A message expires once it is older than its TTL: one ms past `expiresAt`.
    this.expiryTimer = clock.setTimer(this.onExpiryTimer, at - clock.now() + 1);
  }

  private readonly onExpiryTimer = (): void => {
    this.expiryTimer = null;
    this.expiryTimerAt = Infinity;
    this.expireDue();
  };

  /** Removes every expired ready message and arms the timer for the next expiry. */
  private expireDue(): void {
    const index = this.expiry;
    if (this.deleted || index === null) return;
    index.popExpired(this.host.clock.now(), this.expireReady);
    this.trimHead();
    // Expired messages left in the middle are only skipped; rebuild once they are most of it.
    if (this.dead > 64 && this.dead * 2 > this.ready.length) {
      if (this.paged !== null) this.paged.compactHeads((m) => m.readyState !== ReadyState.Dead);
      else for (const m of this.ready.drain()) if (m.readyState !== ReadyState.Dead) this.ready.push(m);
      this.dead = 0;
    }
    this.armExpiry(index.nextAt());
  }

  /** An indexed ready message expired: off the head at once, else marked dead where it sits. */
  private readonly expireReady = (m: Message): void => {
    if (this.ready.peek() === m) {
      this.ready.shift();
      m.readyState = ReadyState.Out;
    } else {
      m.readyState = ReadyState.Dead;
      this.dead++;
    }
    this.readyBytes -= m.size;
    this.discard(m, 'expired');
  };
}

/** Merges two lists sorted by message id. */
function mergeById(a: readonly Message[], b: readonly Message[]): Message[] {
  const out: Message[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push((a[i] as Message).id <= (b[j] as Message).id ? (a[i++] as Message) : (b[j++] as Message));
  while (i < a.length) out.push(a[i++] as Message);
  while (j < b.length) out.push(b[j++] as Message);
  return out;
}
