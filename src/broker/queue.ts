import type { Consumer } from './consumer.js';
import type { Exchange } from './exchange/exchange.js';
import { Deque } from './deque.js';
import type { Message } from './message.js';

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

/** What a queue needs from the broker that owns it. */
export interface QueueHost {
  /** A message left the queue for good (acked, dropped, purged). */
  messageGone(queue: Queue, message: Message): void;
  /** Its last consumer left. */
  consumersGone(queue: Queue): void;
}

/**
 * A FIFO of ready messages and the consumers competing for them, served round robin among
 * those with room (SPEC §3.5.3). Unacked messages are held by the channels that received them;
 * the queue only counts them.
 */
export class Queue {
  readonly name: string;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: Record<string, unknown>;
  /** Id of the owning connection for exclusive queues. */
  readonly owner: string | null;
  readonly ready = new Deque<Message>();
  readonly consumers: Consumer[] = [];
  /** Exchanges holding a binding to this queue, so deleting it touches only those. */
  readonly boundTo = new Set<Exchange>();
  unackedCount = 0;
  readyBytes = 0;
  deleted = false;
  /** Auto-delete applies only once the queue has had a consumer (AMQP). */
  hadConsumer = false;
  /** Counters for status and rates. */
  publishedTotal = 0;
  deliveredTotal = 0;
  private rr = 0;
  private dispatching = false;
  private readonly host: QueueHost;

  constructor(name: string, options: QueueOptions, owner: string | null, host: QueueHost) {
    this.name = name;
    this.durable = options.durable;
    this.exclusive = options.exclusive;
    this.autoDelete = options.autoDelete;
    this.arguments = options.arguments;
    this.owner = owner;
    this.host = host;
  }

  get messageCount(): number {
    return this.ready.length;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  enqueue(message: Message): void {
    this.ready.push(message);
    this.readyBytes += message.content.length;
    this.publishedTotal++;
    if (this.consumers.length !== 0) this.dispatch();
  }

  /**
   * Puts messages back in their original place, by publish order (SPEC §3.5.4). A message was
   * at the head when it was handed out, so only messages requeued since then can be older than
   * it: those sit at the head of `ready` and are merged with the returning ones.
   */
  requeue(messages: Message[]): void {
    if (this.deleted) {
      for (const m of messages) this.host.messageGone(this, m);
      return;
    }
    if (messages.length === 0) return;
    if (messages.length > 1) messages.sort((a, b) => a.id - b.id);
    for (const m of messages) {
      m.redelivered = true;
      this.readyBytes += m.content.length;
    }
    const newest = (messages[messages.length - 1] as Message).id;
    const older: Message[] = [];
    for (let h = this.ready.peek(); h !== undefined && h.id < newest; h = this.ready.peek()) older.push(this.ready.shift() as Message);
    const placed = older.length === 0 ? messages : mergeById(older, messages);
    for (let i = placed.length - 1; i >= 0; i--) this.ready.unshift(placed[i] as Message);
    this.dispatch();
  }

  /** Takes the next ready message for basic.get. */
  take(): Message | undefined {
    const m = this.ready.shift();
    if (m !== undefined) {
      this.readyBytes -= m.content.length;
      this.deliveredTotal++;
    }
    return m;
  }

  /** Drops every ready message; returns how many. */
  purge(): number {
    const n = this.ready.length;
    for (const m of this.ready.drain()) this.host.messageGone(this, m);
    this.readyBytes = 0;
    return n;
  }

  addConsumer(c: Consumer): void {
    this.consumers.push(c);
    this.hadConsumer = true;
    this.dispatch();
  }

  removeConsumer(c: Consumer): void {
    const i = this.consumers.indexOf(c);
    if (i === -1) return;
    this.consumers.splice(i, 1);
    if (this.rr > i) this.rr--;
    if (this.consumers.length === 0) this.host.consumersGone(this);
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
      while (this.ready.length !== 0 && consumers.length !== 0) {
        const n = consumers.length;
        let chosen: Consumer | undefined;
        for (let tries = 0; tries < n; tries++) {
          if (this.rr >= n) this.rr = 0;
          const c = consumers[this.rr++] as Consumer;
          if (c.ready) {
            chosen = c;
            break;
          }
        }
        if (chosen === undefined) return;
        const m = this.ready.shift() as Message;
        this.readyBytes -= m.content.length;
        this.deliveredTotal++;
        chosen.channel.deliver(chosen, m);
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Called by a channel when a delivery from this queue is settled for good. */
  settled(message: Message): void {
    this.host.messageGone(this, message);
  }
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
