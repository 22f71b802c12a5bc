import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import type { Broker } from './broker.js';
import type { TimerHandle } from './clock.js';
import { ConfirmTracker } from './confirms.js';
import type { ReturnTarget } from './delayed-schedule.js';
import { Consumer } from './consumer.js';
import type { Message } from './message.js';
import { checkConsumerTag } from './names.js';
import type { Queue } from './queue.js';
import { parseStreamConsumerArgs } from './stream-args.js';
import type { Session } from './session.js';
import { UnackedWindow } from './unacked-window.js';

/** What a channel writes to its client; the server implements it over a socket. */
export interface ChannelSink {
  /** False while the connection's socket is over its buffer bound (backpressure). */
  readonly writable: boolean;
  deliver(consumerTag: string, deliveryTag: number, message: Message): void;
  returned(code: number, text: string, exchange: string, routingKey: string, content: Buffer): void;
  confirm(seq: number, multiple: boolean, ack: boolean): void;
  /** The broker cancelled a consumer (its queue was deleted). */
  cancelled(consumerTag: string): void;
  /**
   * The broker closes the channel with an error outside any client request (a consumer
   * timeout). Without it the channel is closed without telling the client.
   */
  failed?(err: ProtocolError): void;
}

/** An unacked delivery, held by the channel until it is settled. */
interface Delivery {
  readonly queue: Queue;
  readonly message: Message;
  readonly consumer: Consumer | null;
  /** When it must be acked by (`x-consumer-timeout`); 0 = never. */
  readonly deadline: number;
}

export interface GetResult {
  deliveryTag: number;
  message: Message;
  messageCount: number;
}

let consumerTagSeq = 0;

/**
 * One AMQP channel's semantics, without sockets: consumers, delivery tags, unacked messages,
 * prefetch, acks, and publisher confirms.
 */
export class Channel implements ReturnTarget {
  readonly id: number;
  readonly session: Session;
  private readonly broker: Broker;
  private readonly sink: ChannelSink;
  readonly consumers = new Map<string, Consumer>();
  /** Unacked deliveries by tag, oldest first (which `multiple` uses). */
  private readonly unacked = new UnackedWindow<Delivery>();
  private nextTag = 1;
  /** basic.qos global=false: the prefetch given to consumers created from now on. */
  consumerPrefetch = 0;
  /** basic.qos global=true: the limit for the channel as a whole. */
  channelPrefetch = 0;
  confirms: ConfirmTracker | null = null;
  closed = false;
  /**
   * Message counters for rates and metrics: plain increments, read by the stats sampler and
   * folded into the broker's totals when the channel closes ({@link ChannelTotals}). Deliveries
   * with ack are derived: every delivery and get takes a tag.
   */
  publishTotal = 0;
  returnTotal = 0;
  dropTotal = 0;
  deliverNoAckTotal = 0;
  getTotal = 0;
  getNoAckTotal = 0;
  getEmptyTotal = 0;
  ackTotal = 0;
  redeliverTotal = 0;
  private ackTimer: TimerHandle | null = null;
  private ackTimerAt = Infinity;

  constructor(broker: Broker, session: Session, id: number, sink: ChannelSink) {
    this.broker = broker;
    this.session = session;
    this.id = id;
    this.sink = sink;
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  /** Deliveries and gets made on this channel (every one takes a delivery tag). */
  get deliverGetTotal(): number {
    return this.nextTag - 1;
  }

  canDeliver(noAck: boolean): boolean {
    if (this.closed || !this.sink.writable) return false;
    return noAck || this.channelPrefetch === 0 || this.unacked.size < this.channelPrefetch;
  }

  qos(prefetchCount: number, global: boolean): void {
    if (global) this.channelPrefetch = prefetchCount;
    else this.consumerPrefetch = prefetchCount;
    this.redispatch();
  }

  confirmSelect(): void {
    if (this.confirms === null) this.confirms = new ConfirmTracker((seq, multiple, ack) => this.sink.confirm(seq, multiple, ack));
  }

  publish(
    exchange: string,
    routingKey: string,
    mandatory: boolean,
    persistent: boolean,
    priority: number,
    expiration: number,
    content: Buffer,
  ): void {
    const seq = this.confirms === null ? 0 : this.confirms.next();
    this.publishTotal++;
    const result = this.broker.publish(exchange, routingKey, content, persistent, priority, expiration, mandatory ? this : null);
    if (result.routed === 0 && !result.scheduled) {
      if (mandatory) {
        this.returnTotal++;
        this.sink.returned(ReplyCode.NO_ROUTE, 'NO_ROUTE', exchange, routingKey, content);
      } else this.dropTotal++;
    }
    const confirms = this.confirms;
    if (confirms === null) return;
    if (result.rejected) confirms.resolve(seq, false);
    else if (!result.needsCommit) confirms.resolve(seq, true);
    else this.broker.persistence.afterCommit((err) => confirms.resolve(seq, err === null));
  }

  /**
   * A delayed `mandatory` message published here found no queue when it fell due: basic.return
   * it now, if this channel is still open.
   */
  returnScheduled(exchange: string, routingKey: string, content: Buffer): boolean {
    if (this.closed) return false;
    this.returnTotal++;
    this.sink.returned(ReplyCode.NO_ROUTE, 'NO_ROUTE', exchange, routingKey, content);
    return true;
  }

  /** `args`: consumer arguments; streams read `x-stream-offset` and offset tracking (SPEC §3.4.5). */
  consume(queueName: string, tag: string, noAck: boolean, exclusive: boolean, priority = 0, args: Record<string, unknown> = {}): string {
    checkConsumerTag(tag);
    const queue = this.broker.queueForUse(queueName, this.session);
    // RabbitMQ's checks and words: stream consumers ack, within a consumer prefetch.
    const streamArgs = queue.isStream ? parseStreamConsumerArgs(queue.name, args, queue.vhost) : null;
    if (queue.isStream) {
      if (noAck) throw new ProtocolError(ReplyCode.NOT_IMPLEMENTED, `automatic acknowledgement not supported by stream queues queue '${queue.name}' in vhost '${queue.vhost}'`);
      if (this.consumerPrefetch === 0) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `consumer prefetch count is not set for 'queue '${queue.name}' in vhost '${queue.vhost}''`);
    }
    if (tag === '') tag = `sk.ctag-${this.id}.${++consumerTagSeq}`;
    if (this.consumers.has(tag)) {
      throw new ProtocolError(ReplyCode.NOT_ALLOWED, `attempt to reuse consumer tag '${tag}'`);
    }
    if (queue.consumers.some((c) => c.exclusive)) {
      throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `queue '${queue.name}' in vhost '${queue.vhost}' has an exclusive consumer`);
    }
    if (exclusive && queue.consumers.length !== 0) {
      throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `cannot obtain exclusive access to queue '${queue.name}': it has consumers`);
    }
    const consumer = new Consumer(tag, queue, this, noAck, exclusive, this.consumerPrefetch, priority);
    consumer.streamArgs = streamArgs;
    this.consumers.set(tag, consumer);
    this.broker.consumerAdded();
    // Reply (consume-ok) goes out before the first delivery: the server writes it first and
    // calls `start()` after.
    return tag;
  }

  /** Starts deliveries to a consumer after its consume-ok has been written. */
  start(tag: string): void {
    const c = this.consumers.get(tag);
    if (c !== undefined) c.queue.addConsumer(c);
  }

  /** Client cancel; returns false if the tag is unknown (a no-op, as AMQP). */
  cancel(tag: string): boolean {
    const c = this.consumers.get(tag);
    if (c === undefined) return false;
    this.dropConsumer(c);
    return true;
  }

  /** The queue went away under the consumer: tell the client (server-sent basic.cancel). */
  consumerQueueDeleted(c: Consumer): void {
    if (this.consumers.get(c.tag) !== c) return;
    this.consumers.delete(c.tag);
    c.cancelled = true;
    this.broker.consumerRemoved();
    if (!this.closed) this.sink.cancelled(c.tag);
  }

  private dropConsumer(c: Consumer): void {
    this.consumers.delete(c.tag);
    c.cancelled = true;
    this.broker.consumerRemoved();
    c.queue.removeConsumer(c);
  }

  /** Called by a queue's dispatch loop. */
  deliver(consumer: Consumer, message: Message): void {
    const tag = this.nextTag++;
    message.deliveryCount++;
    const queue = consumer.queue;
    this.broker.delivered(queue, message);
    if (consumer.noAck) {
      this.deliverNoAckTotal++;
      queue.deliverNoAckTotal++;
      this.sink.deliver(consumer.tag, tag, message);
      queue.settled(message);
      return;
    }
    this.unacked.set(tag, { queue, message, consumer, deadline: this.deadline(queue) });
    consumer.unacked++;
    queue.unackedCount++;
    this.sink.deliver(consumer.tag, tag, message);
  }

  /**
   * `refuse`: asked of the message taken, before anything else happens to it; an error it
   * returns (the message does not fit the caller's wire) puts the message back in its queue,
   * marked redelivered, and is thrown.
   */
  get(queueName: string, noAck: boolean, refuse?: (m: Message) => ProtocolError | null): GetResult | null {
    const queue = this.broker.queueForUse(queueName, this.session);
    const message = queue.take();
    if (message === undefined) {
      this.getEmptyTotal++;
      return null;
    }
    const refused = refuse?.(message) ?? null;
    if (refused !== null) {
      queue.requeue([message]);
      throw refused;
    }
    const tag = this.nextTag++;
    message.deliveryCount++;
    this.broker.delivered(queue, message);
    if (noAck) {
      this.getNoAckTotal++;
      queue.getNoAckTotal++;
      queue.settled(message);
    } else {
      this.getTotal++;
      queue.getTotal++;
      this.unacked.set(tag, { queue, message, consumer: null, deadline: this.deadline(queue) });
      queue.unackedCount++;
    }
    return { deliveryTag: tag, message, messageCount: queue.messageCount };
  }

  ack(tag: number, multiple: boolean): void {
    this.settle(tag, multiple, false, 'ack');
  }

  nack(tag: number, multiple: boolean, requeue: boolean): void {
    this.settle(tag, multiple, requeue, 'nack');
  }

  reject(tag: number, requeue: boolean): void {
    this.settle(tag, false, requeue, 'reject');
  }

  private settle(tag: number, multiple: boolean, requeue: boolean, verb: string): void {
    // Room in a full channel window is offered only once the settled messages are back in their
    // queues: sooner, a newer message would overtake a requeued one, and with `multiple` and
    // tag 0 the loop below would settle deliveries made while it runs.
    const wasFull = this.channelPrefetch !== 0 && this.unacked.size >= this.channelPrefetch;
    const ack = verb === 'ack';
    if (requeue) this.refuseStreamRequeue(tag, multiple);
    if (!multiple) {
      const d = this.unacked.take(tag);
      if (d === undefined) throw unknownTag(tag, verb);
      this.release(d, requeue, ack);
      if (requeue) {
        this.redeliverTotal++;
        d.queue.requeue([d.message]);
      } else d.queue.dispatch();
      if (wasFull) this.redispatch();
      return;
    }
    // A tag this channel has not delivered yet is a client bug, not "everything so far".
    if (tag >= this.nextTag) throw unknownTag(tag, verb);
    const touched = new Map<Queue, Message[]>();
    // Taken before any is released: a dead-lettered one may come straight back to this channel
    // under a newer tag, which tag 0 must not settle.
    const settled = this.unacked.takeUpTo(tag === 0 ? this.nextTag - 1 : tag);
    const any = settled.length !== 0;
    for (const d of settled) {
      this.release(d, requeue, ack);
      let list = touched.get(d.queue);
      if (list === undefined) touched.set(d.queue, (list = []));
      if (requeue) list.push(d.message);
    }
    if (requeue) this.redeliverTotal += settled.length;
    if (!any && tag !== 0) throw unknownTag(tag, verb);
    for (const [q, list] of touched) {
      if (requeue) q.requeue(list);
      else q.dispatch();
    }
    if (wasFull) this.redispatch();
  }

  /** A stream keeps every message: putting one back means nothing, and RabbitMQ refuses it. */
  private refuseStreamRequeue(tag: number, multiple: boolean): void {
    let stream: Queue | null = null;
    if (!multiple) {
      const d = this.unacked.get(tag);
      if (d !== undefined && d.queue.isStream) stream = d.queue;
    } else {
      // Deliveries carry no tag; any stream delivery on the channel refuses a multiple requeue.
      for (const d of this.unacked.values()) {
        if (d.queue.isStream) {
          stream = d.queue;
          break;
        }
      }
    }
    if (stream !== null) {
      throw new ProtocolError(ReplyCode.NOT_IMPLEMENTED, `basic.nack and basic.reject not supported by stream queues queue '${stream.name}' in vhost '${stream.vhost}'`);
    }
  }

  /**
   * Bookkeeping for one settled delivery; the caller requeues or lets the queue refill. A
   * reject/nack without requeue may dead-letter the message (SPEC §3.4.3).
   */
  private release(d: Delivery, requeue: boolean, ack: boolean): void {
    const q = d.queue;
    if (d.consumer !== null) d.consumer.unacked--;
    q.unackedCount--;
    if (ack) {
      this.ackTotal++;
      q.ackTotal++;
      q.settled(d.message, d.consumer);
    }
    else if (!requeue) q.rejected(d.message, d.consumer);
  }

  // ---- consumer timeout (SPEC §3.4.1 `x-consumer-timeout`) ----

  /** The ack deadline of a delivery from `queue` made now, arming the channel's timer. */
  private deadline(queue: Queue): number {
    const timeout = queue.consumerTimeout;
    if (timeout === 0) return 0;
    const at = this.broker.clock.now() + timeout;
    this.armAckTimer(at);
    return at;
  }

  /** One timer per channel, for its earliest deadline; acks leave it be (it re-checks on firing). */
  private armAckTimer(at: number): void {
    if (at >= this.ackTimerAt) return;
    const clock = this.broker.clock;
    if (this.ackTimer !== null) clock.clearTimer(this.ackTimer);
    this.ackTimerAt = at;
    this.ackTimer = clock.setTimer(this.onAckTimer, at - clock.now() + 1);
  }

  private readonly onAckTimer = (): void => {
    this.ackTimer = null;
    this.ackTimerAt = Infinity;
    if (this.closed) return;
    const now = this.broker.clock.now();
    let next = Infinity;
    for (const d of this.unacked.values()) {
      if (d.deadline === 0) continue;
      if (d.deadline < now) {
        const err = ackTimeoutError(this.id, d.queue.consumerTimeout);
        if (this.sink.failed !== undefined) this.sink.failed(err);
        else this.session.closeChannel(this.id);
        return;
      }
      if (d.deadline < next) next = d.deadline;
    }
    if (next !== Infinity) this.armAckTimer(next);
  };

  /** Gives every queue this channel consumes from a chance to deliver (room appeared). */
  redispatch(): void {
    for (const c of this.consumers.values()) c.queue.dispatch();
  }

  /**
   * Closes the channel: cancels its consumers and puts its unacked messages back in their
   * queues, marked redelivered (SPEC §3.5.4).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ackTimer !== null) this.broker.clock.clearTimer(this.ackTimer);
    this.ackTimer = null;
    if (this.confirms !== null) this.confirms.closed = true;
    for (const c of [...this.consumers.values()]) this.dropConsumer(c);
    this.redeliverTotal += this.unacked.size;
    this.broker.channelClosed(this);
    const byQueue = new Map<Queue, Message[]>();
    for (const d of this.unacked.values()) {
      d.queue.unackedCount--;
      let list = byQueue.get(d.queue);
      if (list === undefined) byQueue.set(d.queue, (list = []));
      list.push(d.message);
    }
    this.unacked.clear();
    for (const [q, list] of byQueue) q.requeue(list);
  }
}

/** The error a channel is closed with when a delivery was not acked in time (RabbitMQ's words). */
export function ackTimeoutError(channel: number, timeoutMs: number): ProtocolError {
  return new ProtocolError(
    ReplyCode.PRECONDITION_FAILED,
    `delivery acknowledgement on channel ${channel} timed out. Timeout value used: ${timeoutMs} ms`,
  );
}

function unknownTag(tag: number, verb: string): ProtocolError {
  return new ProtocolError(ReplyCode.PRECONDITION_FAILED, `${verb}: unknown delivery tag ${tag}`);
}
