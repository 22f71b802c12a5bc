import { Method, ReplyCode, methodName, packValue, replyCodeName, splitContent, utf8Bytes, viewOf, type Bytes, type ParsedMethod } from '../../protocol/index.js';
import { ConfirmRing, Unconfirmed, confirmPromise, type ConfirmCallback, type PublishedMessage } from './confirms.js';
import type { Connection } from './connection.js';
import { messages } from './consumer-iterator.js';
import { ClosedError, ConnectionLostError, NackError, ServerError, SkiffError, StaleDeliveryError } from './errors.js';
import { HeldCalls } from './held-calls.js';
import { Message, PROPERTY_KEYS, type PublishOptions, type Settler } from './message.js';
import type { ReconnectSettings } from './options.js';

export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers' | (string & {});

export interface ExchangeDeclareOptions {
  durable?: boolean;
  autoDelete?: boolean;
  internal?: boolean;
  passive?: boolean;
  arguments?: Record<string, unknown>;
}

export interface QueueDeclareOptions {
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  passive?: boolean;
  arguments?: Record<string, unknown>;
}

export interface QueueInfo {
  queue: string;
  messageCount: number;
  consumerCount: number;
}

export interface ConsumeOptions {
  /** Consumer tag; the server makes one when empty. Kept across reconnects. */
  tag?: string;
  noAck?: boolean;
  exclusive?: boolean;
  /** Sets the channel's per-consumer prefetch (basic.qos) before consuming. */
  prefetch?: number;
  /**
   * Consumer priority (`x-priority`, a 32-bit integer, default 0): while a consumer of higher
   * priority has room in its prefetch window it gets the queue's messages; equals share round robin.
   */
  priority?: number;
  /**
   * Consumer arguments. A stream consumer (SPEC §3.4.5) takes `x-stream-offset` (`'first'`,
   * `'last'`, `'next'`, an offset, a `Date`, or an interval like `'1h'`) and
   * `x-stream-consumer-name` (offset tracking: the broker stores its offset as it acks). After a
   * reconnect a named consumer resumes from its stored offset rather than its `x-stream-offset`.
   */
  arguments?: Record<string, unknown>;
}

export interface ReturnedMessage {
  /** The reply code's name (`NO_ROUTE`), as every error's `code` is. */
  code: string;
  /** The numeric reply code (312). */
  replyCode: number;
  text: string;
  exchange: string;
  routingKey: string;
  message: Message;
}

/** A running consumer. */
export interface Consumer {
  /** The consumer tag: the given one, else the server's; the same after a reconnect. */
  readonly tag: string;
  /** Stops deliveries (basic.cancel). Unacked messages stay unacked until settled or the channel closes. */
  cancel(): Promise<void>;
}

/** @internal What an iterator over a consumer learns besides messages. */
export interface ConsumerHooks {
  /** The consumer is over: `cause` is the error that closed the channel, null for a close or cancel. */
  ended(cause: Error | null): void;
  /** The connection was lost; deliveries not yet acked will come again. */
  linkLost(): void;
}

interface ConsumerRecord {
  readonly tag: string;
  queue: string;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  /** The per-consumer prefetch in force when it started, to set again before it resumes. */
  readonly prefetch: number;
  /** The basic.consume arguments, sent again when it resumes. */
  readonly args: Record<string, unknown>;
  readonly onMessage: (m: Message) => void;
  readonly hooks: ConsumerHooks | null;
}

type Pending = {
  resolve: (p: ParsedMethod) => void;
  reject: (e: Error) => void;
  /** Runs as the reply is read, before any later frame: consume registers its handler here. */
  onReply: ((p: ParsedMethod) => void) | undefined;
  name: string;
};

type ChannelState = 'open' | 'recovering' | 'closed';

const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};
/** Stands in the confirm ring for a `tryPublish` without a callback: nothing to tell anyone. */
const NOBODY = new Unconfirmed(noop, null);

/** A rejected promise that is already marked handled: an ignored publish must not crash the process. */
function rejected(err: Error): Promise<void> {
  const p = Promise.reject(err);
  p.catch(noop);
  return p;
}

/**
 * Settles deliveries of one channel on one connection. A reconnect (or a close) retires it, so
 * an ack of a delivery from before is refused instead of acking whatever the new connection
 * numbered the same.
 */
class DeliveryLease implements Settler {
  live = true;
  lostConnection = false;
  constructor(private readonly ch: Channel) {}

  ack(deliveryTag: number, multiple: boolean): void {
    this.check(deliveryTag);
    this.ch.settle(Method.BasicAck, [deliveryTag, multiple]);
  }

  nack(deliveryTag: number, multiple: boolean, requeue: boolean): void {
    this.check(deliveryTag);
    this.ch.settle(Method.BasicNack, [deliveryTag, multiple, requeue]);
  }

  reject(deliveryTag: number, requeue: boolean): void {
    this.check(deliveryTag);
    this.ch.settle(Method.BasicReject, [deliveryTag, requeue]);
  }

  private check(tag: number): void {
    if (this.live) return;
    throw new StaleDeliveryError(
      this.lostConnection
        ? `delivery ${tag} on channel ${this.ch.id} came over a connection that was lost; the broker has requeued it and will deliver it again (redelivered = true)`
        : `delivery ${tag} came on channel ${this.ch.id}, which is closed; the broker has requeued it`,
    );
  }
}

/**
 * A channel: the unit of work (SPEC §3.2). Requests are answered in order, so several may be in
 * flight. A channel error from the server rejects this channel's pending calls and closes it;
 * the connection and other channels carry on. Check `closed` to learn why a channel ended.
 *
 * When the connection is lost and reconnects, the channel is opened again with its confirm
 * mode, prefetch and consumers; calls and publishes made meanwhile wait for that (see
 * `ReconnectOptions`).
 */
export class Channel {
  readonly id: number;
  private readonly conn: Connection;
  /** @internal The connection's own replay channel: records nothing, is not recovered. */
  readonly internal: boolean;
  private state: ChannelState = 'open';
  private readonly pending: Pending[] = [];
  private readonly consumers = new Map<string, ConsumerRecord>();
  private confirmMode = false;
  private readonly ring = new ConfirmRing();
  /** Unconfirmed publishes of a lost connection, sent again after reconnecting. */
  private toRepublish: Unconfirmed[] = [];
  private readonly republish: boolean;
  /** Calls and publishes made while the connection was away, in order. */
  private readonly held: HeldCalls;
  private lease = new DeliveryLease(this);
  /** Per-consumer and global prefetch last set (basic.qos), to set again after reconnecting. */
  private prefetchCount = 0;
  private globalPrefetch: number | null = null;
  private returnListeners: ((r: ReturnedMessage) => void)[] = [];
  private closeCause: Error | null = null;
  private resolveClosed!: (cause: Error | null) => void;
  /** Resolves when the channel closes for good: null after `close()`, else the error that closed it. */
  readonly closed: Promise<Error | null> = new Promise((r) => (this.resolveClosed = r));

  /** @internal use {@link Connection.channel} */
  constructor(conn: Connection, id: number, internal = false) {
    this.conn = conn;
    this.id = id;
    this.internal = internal;
    const settings = conn.reconnectSettings;
    this.republish = settings?.republishUnconfirmed ?? false;
    this.held = new HeldCalls(conn, settings);
  }

  /** @internal */
  async open(): Promise<void> {
    await this.rpcNow(Method.ChannelOpen, [], Method.ChannelOpenOk);
  }

  /** False once the channel is closed for good (it stays true while a reconnect is under way). */
  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  // ---- topology ----

  async declareExchange(name: string, type: ExchangeType, options: ExchangeDeclareOptions = {}): Promise<void> {
    const x = {
      name,
      type,
      durable: options.durable ?? false,
      autoDelete: options.autoDelete ?? false,
      internal: options.internal ?? false,
      arguments: options.arguments ?? {},
    };
    await this.rpc(Method.ExchangeDeclare, [name, type, options.passive ?? false, x.durable, x.autoDelete, x.internal, x.arguments], Method.ExchangeDeclareOk);
    if (!this.internal && options.passive !== true) this.conn.topology.exchangeDeclared(x);
  }

  async deleteExchange(name: string, options: { ifUnused?: boolean } = {}): Promise<void> {
    await this.rpc(Method.ExchangeDelete, [name, options.ifUnused ?? false], Method.ExchangeDeleteOk);
    if (!this.internal) this.conn.topology.exchangeDeleted(name);
  }

  /** Declares a queue; an empty name asks the server to make one up. */
  async declareQueue(name = '', options: QueueDeclareOptions = {}): Promise<QueueInfo> {
    const durable = options.durable ?? false;
    const exclusive = options.exclusive ?? false;
    const autoDelete = options.autoDelete ?? false;
    const args = options.arguments ?? {};
    const r = await this.rpc(Method.QueueDeclare, [name, options.passive ?? false, durable, exclusive, autoDelete, args], Method.QueueDeclareOk);
    const [queue, messageCount, consumerCount] = r.args as [string, number, number];
    if (!this.internal && options.passive !== true) {
      this.conn.topology.queueDeclared({ name: queue, serverNamed: name === '', durable, exclusive, autoDelete, arguments: args });
    }
    return { queue, messageCount, consumerCount };
  }

  /** Returns how many ready messages the deleted queue held. */
  async deleteQueue(name: string, options: { ifUnused?: boolean; ifEmpty?: boolean } = {}): Promise<number> {
    const r = await this.rpc(Method.QueueDelete, [name, options.ifUnused ?? false, options.ifEmpty ?? false], Method.QueueDeleteOk);
    if (!this.internal) this.conn.topology.queueDeleted(name);
    return r.args[0] as number;
  }

  async bindQueue(queue: string, exchange: string, routingKey = '', args: Record<string, unknown> = {}): Promise<void> {
    await this.rpc(Method.QueueBind, [queue, exchange, routingKey, args], Method.QueueBindOk);
    if (!this.internal) this.conn.topology.bound({ kind: 'queue', destination: queue, source: exchange, routingKey, arguments: args });
  }

  async unbindQueue(queue: string, exchange: string, routingKey = '', args: Record<string, unknown> = {}): Promise<void> {
    await this.rpc(Method.QueueUnbind, [queue, exchange, routingKey, args], Method.QueueUnbindOk);
    if (!this.internal) this.conn.topology.unbound({ kind: 'queue', destination: queue, source: exchange, routingKey, arguments: args });
  }

  /**
   * Binds exchange `destination` to exchange `source` (exchange.bind, SPEC §3.3.3): what
   * `source` routes with this key goes on through `destination`.
   */
  async bindExchange(destination: string, source: string, routingKey = '', args: Record<string, unknown> = {}): Promise<void> {
    await this.rpc(Method.ExchangeBind, [destination, source, routingKey, args], Method.ExchangeBindOk);
    if (!this.internal) this.conn.topology.bound({ kind: 'exchange', destination, source, routingKey, arguments: args });
  }

  async unbindExchange(destination: string, source: string, routingKey = '', args: Record<string, unknown> = {}): Promise<void> {
    await this.rpc(Method.ExchangeUnbind, [destination, source, routingKey, args], Method.ExchangeUnbindOk);
    if (!this.internal) this.conn.topology.unbound({ kind: 'exchange', destination, source, routingKey, arguments: args });
  }

  /** Drops a queue's ready messages; returns how many. */
  async purgeQueue(queue: string): Promise<number> {
    const r = await this.rpc(Method.QueuePurge, [queue], Method.QueuePurgeOk);
    return r.args[0] as number;
  }

  // ---- publishing ----

  /** Turns on publisher confirms (SPEC §3.6): from now on `publish` resolves when the broker acks. */
  async confirmSelect(): Promise<void> {
    // The broker numbers publishes from the moment it reads confirm.select, so the client must
    // too, even for publishes sent before the reply arrives.
    await this.rpc(Method.ConfirmSelect, [], Method.ConfirmSelectOk, -1, undefined, () => (this.confirmMode = true));
  }

  /**
   * Publishes a message. Without confirms the promise resolves as soon as the caller may publish
   * again: at once, or when the socket has drained and the broker has not blocked publishers
   * (await it to honour backpressure). In confirm mode it resolves when the broker confirms,
   * and rejects with {@link NackError} if the broker nacks, or with a retriable
   * {@link ConnectionLostError} if the connection is lost first (unless
   * `reconnect.republishUnconfirmed` sends it again). While the connection is away the message
   * waits (see `reconnect.bufferBytes` / `bufferTimeoutMs`). The promise never causes an
   * unhandled rejection when ignored.
   */
  publish(exchange: string, routingKey: string, body: string | Uint8Array, options: PublishOptions = {}): Promise<void> {
    if (this.state !== 'open') return this.publishNotOpen(exchange, routingKey, body, options);
    const bytes = toBytes(body);
    const props = encodeProperties(options);
    const args = [exchange, routingKey, options.mandatory ?? false, options.persistent ?? false, options.priority ?? 0, options.expiration ?? 0];
    const w = this.conn.writer;
    const size = w.contentFrameSize(args, props === null ? 0 : props.length, bytes.length);
    if (size > this.conn.frameMax) return rejected(this.tooLarge(bytes.length));
    w.content(this.id, Method.BasicPublish, args, props, bytes);
    if (this.confirmMode) {
      const u = new Unconfirmed(null, this.republish ? { exchange, routingKey, args, props, body: bytes } : null);
      this.ring.push(u);
      return confirmPromise(u);
    }
    return this.conn.writable() ?? RESOLVED;
  }

  /**
   * Publishes without a promise, for hot loops: returns false, sending nothing, while the
   * connection's write buffer is over its high-water mark, the broker has blocked publishers,
   * or the connection is reconnecting; then `await waitForDrain()` (or the connection's
   * `'drain'` event) and try again. In confirm mode `onConfirm` is called with null when the
   * broker confirms, or with the error ({@link NackError}, a retriable
   * {@link ConnectionLostError}). Throws on a closed channel or an oversized message.
   */
  tryPublish(
    exchange: string,
    routingKey: string,
    body: string | Uint8Array,
    options: PublishOptions = {},
    onConfirm?: ConfirmCallback,
  ): boolean {
    if (this.state !== 'open' || !this.conn.canWrite()) {
      if (this.state === 'closed') throw this.closedError();
      this.conn.wantDrain();
      return false;
    }
    const bytes = toBytes(body);
    const props = encodeProperties(options);
    const args = [exchange, routingKey, options.mandatory ?? false, options.persistent ?? false, options.priority ?? 0, options.expiration ?? 0];
    const w = this.conn.writer;
    const size = w.contentFrameSize(args, props === null ? 0 : props.length, bytes.length);
    if (size > this.conn.frameMax) throw this.tooLarge(bytes.length);
    w.content(this.id, Method.BasicPublish, args, props, bytes);
    if (this.confirmMode) {
      const republish = this.republish ? { exchange, routingKey, args, props, body: bytes } : null;
      this.ring.push(onConfirm === undefined && republish === null ? NOBODY : new Unconfirmed(onConfirm ?? noop, republish));
    }
    return true;
  }

  /**
   * Resolves when `tryPublish` may succeed again: the write buffer has drained, the broker has
   * unblocked publishers, the connection is back. Rejects if the connection closes for good.
   */
  waitForDrain(): Promise<void> {
    if (this.state === 'closed') return rejected(this.closedError());
    return this.conn.waitForDrain();
  }

  private publishNotOpen(exchange: string, routingKey: string, body: string | Uint8Array, options: PublishOptions): Promise<void> {
    if (this.state === 'closed') return rejected(this.closedError());
    const bytes = toBytes(body);
    const props = encodeProperties(options);
    const args = [exchange, routingKey, options.mandatory ?? false, options.persistent ?? false, options.priority ?? 0, options.expiration ?? 0];
    return this.held.publish({ exchange, routingKey, args, props, body: bytes });
  }

  /** @internal Writes a publish held while the connection was away, or republishes one. */
  sendHeld(m: PublishedMessage, u: Unconfirmed): void {
    const size = this.conn.writer.contentFrameSize(m.args as never, m.props === null ? 0 : m.props.length, m.body.length);
    if (size > this.conn.frameMax) {
      u.settle(this.tooLarge(m.body.length));
      return;
    }
    this.conn.writer.content(this.id, Method.BasicPublish, m.args as never, m.props, m.body);
    if (this.confirmMode) this.ring.push(u);
    else u.settle(null);
  }

  private tooLarge(n: number): SkiffError {
    return new SkiffError('ERR_BODY_TOO_LARGE', `message of ${n} bytes does not fit in a frame (frameMax ${this.conn.frameMax})`);
  }

  private closedError(): ClosedError {
    return new ClosedError(`channel ${this.id} is closed`, this.closeCause ?? undefined);
  }

  /** Listens for mandatory messages the broker could not route (basic.return). */
  onReturn(listener: (r: ReturnedMessage) => void): () => void {
    this.returnListeners.push(listener);
    return () => {
      this.returnListeners = this.returnListeners.filter((l) => l !== listener);
    };
  }

  // ---- consuming ----

  /** Sets the prefetch window (basic.qos): per consumer, or for the channel with `global`. */
  async prefetch(count: number, global = false): Promise<void> {
    await this.rpc(Method.BasicQos, [count, global], Method.BasicQosOk);
    if (global) this.globalPrefetch = count;
    else this.prefetchCount = count;
  }

  /**
   * Starts a push consumer; `onMessage` gets every delivery. After a reconnect the consumer
   * resumes with the same tag (and options); messages that were unacked come again with
   * `redelivered = true`.
   */
  async consume(queue: string, onMessage: (message: Message) => void, options: ConsumeOptions = {}): Promise<Consumer> {
    return this.startConsumer(queue, onMessage, options, null);
  }

  /** @internal */
  async startConsumer(queue: string, onMessage: (message: Message) => void, options: ConsumeOptions, hooks: ConsumerHooks | null): Promise<Consumer> {
    if (options.prefetch !== undefined) await this.prefetch(options.prefetch);
    const noAck = options.noAck ?? false;
    const exclusive = options.exclusive ?? false;
    const prefetch = this.prefetchCount;
    const args = wireArguments({ ...options.arguments, ...(options.priority !== undefined && { 'x-priority': options.priority }) });
    // Deliveries may follow consume-ok in the same chunk: the handler must be in place first.
    const r = await this.rpc(Method.BasicConsume, [queue, options.tag ?? '', noAck, exclusive, args], Method.BasicConsumeOk, -1, (p) => {
      if (p.def.id !== Method.BasicConsumeOk) return;
      const tag = p.args[0] as string;
      this.consumers.set(tag, { tag, queue, noAck, exclusive, prefetch, args, onMessage, hooks });
    });
    const tag = r.args[0] as string;
    return { tag, cancel: () => this.cancel(tag) };
  }

  /**
   * Consumes as an async iterator; leaving the loop (`break`, `return`, a throw) cancels the
   * consumer. The loop ends when the channel is closed or the server cancels the consumer, and
   * throws the error that closed the channel or connection (a lost connection that is not
   * reconnecting, or gave up). While the connection reconnects the loop waits and then goes on.
   * Messages wait in memory only up to the prefetch window, so set `prefetch` unless `noAck`.
   */
  messages(queue: string, options: ConsumeOptions = {}): AsyncIterableIterator<Message> {
    return messages(this, queue, options);
  }

  async cancel(consumerTag: string): Promise<void> {
    await this.rpc(Method.BasicCancel, [consumerTag], Method.BasicCancelOk);
    this.forgetConsumer(consumerTag);
  }

  /**
   * Stores `offset` as the next one the consumer named `consumer` reads from stream `stream`
   * (offset tracking, SPEC §3.4.5): a named consumer that starts without `x-stream-offset`
   * resumes there. Acks of a running named consumer move it too.
   */
  async storeOffset(stream: string, consumer: string, offset: number): Promise<void> {
    await this.rpc(Method.QueueStoreOffset, [stream, consumer, offset], Method.QueueStoreOffsetOk);
  }

  /** The offset stored for the consumer named `consumer` on stream `stream`; null if none. */
  async queryOffset(stream: string, consumer: string): Promise<number | null> {
    const r = await this.rpc(Method.QueueQueryOffset, [stream, consumer], Method.QueueQueryOffsetOk);
    return (r.args[0] as number | null | undefined) ?? null;
  }

  /** Pulls one message (basic.get); null when the queue is empty. */
  async get(queue: string, options: { noAck?: boolean } = {}): Promise<Message | null> {
    const r = await this.rpc(Method.BasicGet, [queue, options.noAck ?? false], Method.BasicGetOk, Method.BasicGetEmpty);
    if (r.def.id === Method.BasicGetEmpty) return null;
    const [tag, redelivered, exchange, routingKey, messageCount, persistent] = r.args as [number, boolean, string, string, number, boolean];
    const { props, body } = splitContent(r.content as Bytes);
    return new Message(options.noAck ? null : this.lease, props, body, exchange, routingKey, redelivered, tag, persistent, '', messageCount);
  }

  /**
   * Acks a delivery by tag. Throws {@link StaleDeliveryError} for a delivery from before a
   * reconnect, or when the channel is closed (the broker has requeued it).
   */
  ack(deliveryTag: number, multiple = false): void {
    this.lease.ack(deliveryTag, multiple);
  }

  nack(deliveryTag: number, multiple = false, requeue = true): void {
    this.lease.nack(deliveryTag, multiple, requeue);
  }

  reject(deliveryTag: number, requeue = true): void {
    this.lease.reject(deliveryTag, requeue);
  }

  /** @internal */
  settle(methodId: number, args: (number | boolean)[]): void {
    this.conn.writer.method(this.id, methodId, args);
  }

  /** Closes the channel; its unacked messages go back to their queues. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'open') {
      try {
        await this.rpcNow(Method.ChannelClose, [ReplyCode.REPLY_SUCCESS, 'client closed', 0], Method.ChannelCloseOk);
      } catch (err) {
        if (!(err instanceof ClosedError) && !(err instanceof ServerError) && !(err instanceof ConnectionLostError)) throw err;
      }
    }
    // While reconnecting there is nothing to close on the server: the channel is not reopened.
    this.finish(null, new ClosedError(`channel ${this.id} was closed by the client`));
  }

  // ---- input ----

  /** @internal */
  onMethod(p: ParsedMethod): void {
    const a = p.args;
    switch (p.def.id) {
      case Method.BasicDeliver: {
        const c = this.consumers.get(a[0] as string);
        if (c === undefined) return;
        const { props, body } = splitContent(p.content as Bytes);
        const m = new Message(this.lease, props, body, a[3] as string, a[4] as string, a[2] as boolean, a[1] as number, a[5] as boolean, a[0] as string);
        this.callApp(c.onMessage, m);
        return;
      }
      case Method.BasicAck:
        this.ring.settle(a[0] as number, a[1] as boolean, null);
        return;
      case Method.BasicNack: {
        const seq = a[0] as number;
        this.ring.settle(seq, a[1] as boolean, new NackError(`broker could not take message ${seq} on channel ${this.id}`));
        return;
      }
      case Method.BasicReturn: {
        const { props, body } = splitContent(p.content as Bytes);
        const r: ReturnedMessage = {
          code: replyCodeName(a[0] as number),
          replyCode: a[0] as number,
          text: a[1] as string,
          exchange: a[2] as string,
          routingKey: a[3] as string,
          message: new Message(null, props, body, a[2] as string, a[3] as string, false, 0, false, ''),
        };
        for (const l of this.returnListeners) this.callApp(l, r);
        return;
      }
      case Method.BasicCancel: {
        // The server cancelled a consumer (its queue was deleted).
        const tag = a[0] as string;
        const c = this.consumers.get(tag);
        this.consumers.delete(tag);
        c?.hooks?.ended(null);
        this.conn.writer.method(this.id, Method.BasicCancelOk, [tag]);
        return;
      }
      case Method.ChannelClose: {
        const err = new ServerError(a[0] as number, a[1] as string, 'channel', a[2] as number);
        this.conn.writer.method(this.id, Method.ChannelCloseOk, []);
        this.finish(err, err);
        return;
      }
      default: {
        const w = this.pending.shift();
        if (w === undefined) return;
        w.onReply?.(p);
        w.resolve(p);
      }
    }
  }

  /**
   * Runs an application callback. What it throws is the application's error, not a broken
   * stream: thrown through the frame decoder it would lose the rest of the chunk and close the
   * connection as if the server had misbehaved.
   */
  private callApp<T>(callback: (value: T) => void, value: T): void {
    try {
      callback(value);
    } catch (err) {
      this.conn.applicationError(err);
    }
  }

  private forgetConsumer(tag: string): void {
    const c = this.consumers.get(tag);
    if (c === undefined) return;
    this.consumers.delete(tag);
    // The broker deletes an auto-delete queue with its last consumer; replaying it would bring it back.
    const q = this.conn.topology.queue(c.queue);
    if (q?.autoDelete === true && !this.conn.hasConsumerOn(c.queue)) this.conn.topology.queueDeleted(c.queue);
  }

  /** @internal Whether one of this channel's consumers reads `queue`. */
  consumesFrom(queue: string): boolean {
    for (const c of this.consumers.values()) if (c.queue === queue) return true;
    return false;
  }

  /** @internal A server-named queue came back under another name: consumers follow it. */
  queueRenamed(from: string, to: string): void {
    for (const c of this.consumers.values()) if (c.queue === from) c.queue = to;
  }

  // ---- recovery ----

  /**
   * @internal The connection was lost and will be re-established: calls waiting for a reply
   * learn it, and so do publishes waiting for a confirm, unless they are to be sent again.
   */
  linkLost(cause: Error): void {
    if (this.state === 'closed') return;
    if (this.internal) {
      this.finish(cause, new ConnectionLostError(`connection lost: ${cause.message}`, cause));
      return;
    }
    this.state = 'recovering';
    this.lease.live = false;
    this.lease.lostConnection = true;
    for (const w of this.pending.splice(0)) {
      w.reject(new ConnectionLostError(`connection lost before the broker answered ${w.name} on channel ${this.id}: ${cause.message}`, cause));
    }
    const unconfirmed = this.ring.drain();
    if (this.republish) this.toRepublish.push(...unconfirmed.filter((u) => u.message !== null));
    else {
      const err = new ConnectionLostError(
        `connection lost before the broker confirmed the message (it may or may not have been taken; publish it again for at-least-once): ${cause.message}`,
        cause,
      );
      for (const u of unconfirmed) u.settle(err);
    }
    for (const c of this.consumers.values()) c.hooks?.linkLost();
  }

  /**
   * @internal Opens the channel again on the new connection with its confirm mode, prefetch
   * and consumers, sends the publishes to repeat and those held meanwhile, and lets waiting
   * calls go. Rejects if the connection is lost again; a channel error closes only this channel.
   */
  async recover(): Promise<void> {
    if (this.state !== 'recovering') return;
    try {
      await this.rpcNow(Method.ChannelOpen, [], Method.ChannelOpenOk);
      this.lease = new DeliveryLease(this);
      if (this.confirmMode) await this.rpcNow(Method.ConfirmSelect, [], Method.ConfirmSelectOk);
      let current = 0;
      if (this.globalPrefetch !== null) await this.rpcNow(Method.BasicQos, [this.globalPrefetch, true], Method.BasicQosOk);
      for (const c of [...this.consumers.values()]) {
        if (c.prefetch !== current) {
          await this.rpcNow(Method.BasicQos, [c.prefetch, false], Method.BasicQosOk);
          current = c.prefetch;
        }
        await this.rpcNow(Method.BasicConsume, [c.queue, c.tag, c.noAck, c.exclusive, resumeArguments(c.args)], Method.BasicConsumeOk);
      }
      if (this.prefetchCount !== current) await this.rpcNow(Method.BasicQos, [this.prefetchCount, false], Method.BasicQosOk);
    } catch (err) {
      if ((this.state as ChannelState) === 'closed') return; // a channel error ended this channel only
      throw err;
    }
    this.state = 'open';
    for (const u of this.toRepublish.splice(0)) this.sendHeld(u.message as PublishedMessage, u);
    this.held.release(this);
  }

  /**
   * @internal The connection ended for good under this channel: `cause` is null when the
   * application closed it, and calls it cut short reject with `err`.
   */
  connectionClosed(cause: Error | null, err: Error): void {
    // A server's connection.close says why; calls it cut short reject with that, not a wrapper.
    const rejectWith =
      err instanceof ClosedError || err instanceof ServerError ? err : new ClosedError(`channel ${this.id} closed: ${err.message}`, err);
    this.finish(cause, rejectWith);
  }

  private finish(cause: Error | null, rejectWith: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeCause = cause;
    this.lease.live = false;
    this.conn.releaseChannel(this.id);
    for (const w of this.pending.splice(0)) w.reject(rejectWith);
    for (const u of this.ring.drain()) u.settle(rejectWith);
    for (const u of this.toRepublish.splice(0)) u.settle(rejectWith);
    this.held.fail(rejectWith instanceof ClosedError || rejectWith instanceof ServerError ? rejectWith : this.closedError());
    const consumers = [...this.consumers.values()];
    for (const c of consumers) this.forgetConsumer(c.tag);
    for (const c of consumers) c.hooks?.ended(cause);
    this.resolveClosed(cause);
  }

  /** Sends a request now, or once the connection is back when it is away. */
  private rpc(...call: Parameters<Channel['rpcNow']>): Promise<ParsedMethod> {
    if (this.state === 'recovering') return this.held.call(() => this.rpcNow(...call));
    return this.rpcNow(...call);
  }

  private rpcNow(
    methodId: number,
    args: unknown[],
    expect: number,
    alt = -1,
    onReply?: (p: ParsedMethod) => void,
    onSent?: () => void,
  ): Promise<ParsedMethod> {
    if (this.state === 'closed') return Promise.reject(this.closedError());
    const link = this.conn.link;
    if (link === null) return Promise.reject(new ConnectionLostError(`connection lost: cannot send on channel ${this.id}`, null));
    return new Promise<ParsedMethod>((resolve, reject) => {
      this.pending.push({ resolve, reject, onReply, name: methodName(methodId) });
      link.writer.method(this.id, methodId, args as never);
      onSent?.();
    }).then((p) => {
      if (p.def.id !== expect && p.def.id !== alt) {
        throw new SkiffError('ERR_UNEXPECTED_REPLY', `expected reply 0x${expect.toString(16)}, got ${p.def.name}`);
      }
      return p;
    });
  }
}

function toBytes(body: string | Uint8Array): Bytes {
  return typeof body === 'string' ? utf8Bytes(body) : viewOf(body);
}

function encodeProperties(o: PublishOptions): Bytes | null {
  // Most publishes carry no properties: named loads (inline-cached) settle that far faster than
  // the keyed loop below.
  if (
    o.contentType === undefined &&
    o.contentEncoding === undefined &&
    o.headers === undefined &&
    o.messageId === undefined &&
    o.correlationId === undefined &&
    o.replyTo === undefined &&
    o.timestamp === undefined &&
    o.type === undefined &&
    o.appId === undefined &&
    o.userId === undefined
  ) {
    return null;
  }
  let props: Record<string, unknown> | null = null;
  for (const k of PROPERTY_KEYS) {
    const v = o[k];
    if (v !== undefined) (props ??= {})[k] = v;
  }
  return props === null ? null : packValue(props);
}

/** A Date as `x-stream-offset` goes as `{timestamp: ms}`: method arguments are plain msgpack (SPEC §3.4.5). */
function wireArguments(args: Record<string, unknown>): Record<string, unknown> {
  const offset = args['x-stream-offset'];
  return offset instanceof Date ? { ...args, 'x-stream-offset': { timestamp: offset.getTime() } } : args;
}

/** A named stream consumer resumes from the offset the broker stored for it, not from where it first began. */
function resumeArguments(args: Record<string, unknown>): Record<string, unknown> {
  if (args['x-stream-consumer-name'] === undefined || !('x-stream-offset' in args)) return args;
  const { 'x-stream-offset': _dropped, ...rest } = args;
  return rest;
}
