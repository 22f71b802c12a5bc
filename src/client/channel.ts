import { Method, ReplyCode, packValue, splitContent, type ParsedMethod } from '../../protocol/index.js';
import type { Connection } from './connection.js';
import { ClosedError, NackError, ServerError, SkiffError } from './errors.js';
import { Message, PROPERTY_KEYS, type PublishOptions, type Settler } from './message.js';

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
  /** Consumer tag; the server makes one when empty. */
  tag?: string;
  noAck?: boolean;
  exclusive?: boolean;
  /** Sets the channel's per-consumer prefetch (basic.qos) before consuming. */
  prefetch?: number;
}

export interface ReturnedMessage {
  code: number;
  text: string;
  exchange: string;
  routingKey: string;
  message: Message;
}

/** A running consumer. */
export interface Consumer {
  readonly tag: string;
  /** Stops deliveries (basic.cancel). Unacked messages stay unacked until settled or the channel closes. */
  cancel(): Promise<void>;
}

type Pending = {
  expect: number;
  resolve: (p: ParsedMethod) => void;
  reject: (e: Error) => void;
  /** Runs as the reply is read, before any later frame: consume registers its handler here. */
  onReply: ((p: ParsedMethod) => void) | undefined;
};
type ConfirmWaiter = { resolve: () => void; reject: (e: Error) => void };

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * A channel: the unit of work (SPEC §3.2). Requests are answered in order, so several may be in
 * flight. A channel error from the server rejects this channel's pending calls and closes it;
 * the connection and other channels carry on. Check `closed` to learn why a channel ended.
 */
export class Channel implements Settler {
  readonly id: number;
  private readonly conn: Connection;
  private readonly pending: Pending[] = [];
  private readonly consumers = new Map<string, (m: Message) => void>();
  private readonly cancelHandlers = new Map<string, () => void>();
  private confirmMode = false;
  private publishSeq = 0;
  private readonly confirms = new Map<number, ConfirmWaiter>();
  private returnListeners: ((r: ReturnedMessage) => void)[] = [];
  private isClosed = false;
  private closeCause: Error | null = null;
  private resolveClosed!: (cause: Error | null) => void;
  /** Resolves when the channel closes: null after `close()`, else the error that closed it. */
  readonly closed: Promise<Error | null> = new Promise((r) => (this.resolveClosed = r));

  /** @internal use {@link Connection.channel} */
  constructor(conn: Connection, id: number) {
    this.conn = conn;
    this.id = id;
  }

  /** @internal */
  async open(): Promise<void> {
    await this.rpc(Method.ChannelOpen, [], Method.ChannelOpenOk);
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  // ---- topology ----

  async declareExchange(name: string, type: ExchangeType, options: ExchangeDeclareOptions = {}): Promise<void> {
    await this.rpc(
      Method.ExchangeDeclare,
      [name, type, options.passive ?? false, options.durable ?? false, options.autoDelete ?? false, options.internal ?? false, options.arguments ?? {}],
      Method.ExchangeDeclareOk,
    );
  }

  async deleteExchange(name: string, options: { ifUnused?: boolean } = {}): Promise<void> {
    await this.rpc(Method.ExchangeDelete, [name, options.ifUnused ?? false], Method.ExchangeDeleteOk);
  }

  /** Declares a queue; an empty name asks the server to make one up. */
  async declareQueue(name = '', options: QueueDeclareOptions = {}): Promise<QueueInfo> {
    const r = await this.rpc(
      Method.QueueDeclare,
      [name, options.passive ?? false, options.durable ?? false, options.exclusive ?? false, options.autoDelete ?? false, options.arguments ?? {}],
      Method.QueueDeclareOk,
    );
    const [queue, messageCount, consumerCount] = r.args as [string, number, number];
    return { queue, messageCount, consumerCount };
  }

  /** Returns how many ready messages the deleted queue held. */
  async deleteQueue(name: string, options: { ifUnused?: boolean; ifEmpty?: boolean } = {}): Promise<number> {
    const r = await this.rpc(Method.QueueDelete, [name, options.ifUnused ?? false, options.ifEmpty ?? false], Method.QueueDeleteOk);
    return r.args[0] as number;
  }

  async bindQueue(queue: string, exchange: string, routingKey = '', args: Record<string, unknown> = {}): Promise<void> {
    await this.rpc(Method.QueueBind, [queue, exchange, routingKey, args], Method.QueueBindOk);
  }

  async unbindQueue(queue: string, exchange: string, routingKey = '', args: Record<string, unknown> = {}): Promise<void> {
    await this.rpc(Method.QueueUnbind, [queue, exchange, routingKey, args], Method.QueueUnbindOk);
  }

  /**
   * Binds exchange `destination` to exchange `source` (exchange.bind, SPEC §3.3.3): what
   * `source` routes with this key goes on through `destination`.
   */
  async bindExchange(destination: string, source: string, routingKey = '', args: Record<string, unknown> = {}): Promise<void> {
    await this.rpc(Method.ExchangeBind, [destination, source, routingKey, args], Method.ExchangeBindOk);
  }

  async unbindExchange(destination: string, source: string, routingKey = '', args: Record<string, unknown> = {}): Promise<void> {
    await this.rpc(Method.ExchangeUnbind, [destination, source, routingKey, args], Method.ExchangeUnbindOk);
  }

  /** Drops a queue's ready messages; returns how many. */
  async purgeQueue(queue: string): Promise<number> {
    const r = await this.rpc(Method.QueuePurge, [queue], Method.QueuePurgeOk);
    return r.args[0] as number;
  }

  // ---- publishing ----

  /** Turns on publisher confirms (SPEC §3.6): from now on `publish` resolves when the broker acks. */
  async confirmSelect(): Promise<void> {
    await this.rpc(Method.ConfirmSelect, [], Method.ConfirmSelectOk);
    this.confirmMode = true;
  }

  /**
   * Publishes a message. Without confirms the promise resolves as soon as the caller may publish
   * again: at once, or when the socket has drained and the broker has not blocked publishers
   * (await it to honour backpressure). In confirm mode it resolves when the broker confirms,
   * and rejects with {@link NackError} if the broker nacks.
   */
  publish(exchange: string, routingKey: string, body: Buffer | string | Uint8Array, options: PublishOptions = {}): Promise<void> {
    if (this.isClosed) return Promise.reject(new ClosedError(`channel ${this.id} is closed`, this.closeCause ?? undefined));
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const props = encodeProperties(options);
    const args = [exchange, routingKey, options.mandatory ?? false, options.persistent ?? false, options.priority ?? 0, options.expiration ?? 0];
    const w = this.conn.writer;
    const size = w.contentFrameSize(args, props === null ? 0 : props.length, bytes.length);
    if (size > this.conn.frameMax) {
      return Promise.reject(
        new SkiffError('ERR_BODY_TOO_LARGE', `message of ${bytes.length} bytes does not fit in a frame (frameMax ${this.conn.frameMax})`),
      );
    }
    w.content(this.id, Method.BasicPublish, args, props, bytes);
    if (this.confirmMode) {
      const seq = ++this.publishSeq;
      return new Promise((resolve, reject) => this.confirms.set(seq, { resolve, reject }));
    }
    return this.conn.writable() ?? RESOLVED;
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
  }

  /** Starts a push consumer; `onMessage` gets every delivery. */
  async consume(queue: string, onMessage: (message: Message) => void, options: ConsumeOptions = {}): Promise<Consumer> {
    if (options.prefetch !== undefined) await this.prefetch(options.prefetch);
    // Deliveries may follow consume-ok in the same chunk: the handler must be in place first.
    const r = await this.rpc(
      Method.BasicConsume,
      [queue, options.tag ?? '', options.noAck ?? false, options.exclusive ?? false, {}],
      Method.BasicConsumeOk,
      -1,
      (p) => {
        if (p.def.id === Method.BasicConsumeOk) this.consumers.set(p.args[0] as string, onMessage);
      },
    );
    const tag = r.args[0] as string;
    return { tag, cancel: () => this.cancel(tag) };
  }

  /**
   * Consumes as an async iterator; leaving the loop (`break`, `return`, a throw) cancels the
   * consumer. The iterator ends when the channel closes or the server cancels the consumer.
   * Messages wait in memory only up to the prefetch window, so set `prefetch` unless `noAck`.
   */
  messages(queue: string, options: ConsumeOptions = {}): AsyncIterableIterator<Message> {
    const buffered: Message[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    let failure: Error | null = null;
    let consumer: Consumer | null = null;
    const started = this.consume(
      queue,
      (m) => {
        buffered.push(m);
        wake?.();
      },
      options,
    ).then((c) => {
      consumer = c;
      this.cancelHandlers.set(c.tag, () => {
        done = true;
        wake?.();
      });
    });
    void this.closed.then((cause) => {
      done = true;
      failure = cause;
      wake?.();
    });
    const finish = async (): Promise<IteratorResult<Message>> => {
      done = true;
      await started.catch(() => undefined);
      const c = consumer as Consumer | null;
      if (c !== null && !this.isClosed) await c.cancel().catch(() => undefined);
      return { value: undefined, done: true };
    };
    const iterator: AsyncIterableIterator<Message> = {
      next: async (): Promise<IteratorResult<Message>> => {
        await started;
        for (;;) {
          const m = buffered.shift();
          if (m !== undefined) return { value: m, done: false };
          if (done) {
            if (failure !== null) throw failure;
            return { value: undefined, done: true };
          }
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
      },
      return: finish,
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  async cancel(consumerTag: string): Promise<void> {
    await this.rpc(Method.BasicCancel, [consumerTag], Method.BasicCancelOk);
    this.consumers.delete(consumerTag);
    this.cancelHandlers.delete(consumerTag);
  }

  /** Pulls one message (basic.get); null when the queue is empty. */
  async get(queue: string, options: { noAck?: boolean } = {}): Promise<Message | null> {
    const r = await this.rpc(Method.BasicGet, [queue, options.noAck ?? false], Method.BasicGetOk, Method.BasicGetEmpty);
    if (r.def.id === Method.BasicGetEmpty) return null;
    const [tag, redelivered, exchange, routingKey, messageCount, persistent] = r.args as [number, boolean, string, string, number, boolean];
    const { props, body } = splitContent(r.content as Buffer);
    return new Message(options.noAck ? null : this, props, body, exchange, routingKey, redelivered, tag, persistent, '', messageCount);
  }

  ack(deliveryTag: number, multiple = false): void {
    if (!this.isClosed) this.conn.writer.method(this.id, Method.BasicAck, [deliveryTag, multiple]);
  }

  nack(deliveryTag: number, multiple = false, requeue = true): void {
    if (!this.isClosed) this.conn.writer.method(this.id, Method.BasicNack, [deliveryTag, multiple, requeue]);
  }

  reject(deliveryTag: number, requeue = true): void {
    if (!this.isClosed) this.conn.writer.method(this.id, Method.BasicReject, [deliveryTag, requeue]);
  }

  /** Closes the channel; its unacked messages go back to their queues. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    try {
      await this.rpc(Method.ChannelClose, [ReplyCode.REPLY_SUCCESS, 'client closed', 0], Method.ChannelCloseOk);
    } catch (err) {
      if (!(err instanceof ClosedError) && !(err instanceof ServerError)) throw err;
    }
    this.finish(null, new ClosedError(`channel ${this.id} was closed by the client`));
  }

  // ---- input ----

  /** @internal */
  onMethod(p: ParsedMethod): void {
    const a = p.args;
    switch (p.def.id) {
      case Method.BasicDeliver: {
        const handler = this.consumers.get(a[0] as string);
        if (handler === undefined) return;
        const { props, body } = splitContent(p.content as Buffer);
        const m = new Message(this, props, body, a[3] as string, a[4] as string, a[2] as boolean, a[1] as number, a[5] as boolean, a[0] as string);
        this.callApp(handler, m);
        return;
      }
      case Method.BasicAck:
        this.settleConfirms(a[0] as number, a[1] as boolean, true);
        return;
      case Method.BasicNack:
        this.settleConfirms(a[0] as number, a[1] as boolean, false);
        return;
      case Method.BasicReturn: {
        const { props, body } = splitContent(p.content as Buffer);
        const r: ReturnedMessage = {
          code: a[0] as number,
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
        this.consumers.delete(tag);
        const h = this.cancelHandlers.get(tag);
        this.cancelHandlers.delete(tag);
        h?.();
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
        const w = this.pending[0];
        if (w === undefined) return;
        this.pending.shift();
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

  private settleConfirms(seq: number, multiple: boolean, ack: boolean): void {
    const settle = (w: ConfirmWaiter, s: number): void => {
      if (ack) w.resolve();
      else w.reject(new NackError(`broker could not take message ${s} on channel ${this.id}`));
    };
    if (!multiple) {
      const w = this.confirms.get(seq);
      if (w !== undefined) {
        this.confirms.delete(seq);
        settle(w, seq);
      }
      return;
    }
    for (const [s, w] of this.confirms) {
      if (s > seq) break;
      this.confirms.delete(s);
      settle(w, s);
    }
  }

  /** @internal the connection ended under this channel. */
  connectionClosed(err: Error): void {
    // A server's connection.close says why; calls it cut short reject with that, not a wrapper.
    const rejectWith = err instanceof ClosedError || err instanceof ServerError ? err : new ClosedError(`channel ${this.id} closed: ${err.message}`, err);
    this.finish(err, rejectWith);
  }

  private finish(cause: Error | null, rejectWith: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeCause = cause;
    this.conn.releaseChannel(this.id);
    for (const w of this.pending.splice(0)) w.reject(rejectWith);
    for (const w of this.confirms.values()) w.reject(rejectWith);
    this.confirms.clear();
    this.consumers.clear();
    for (const h of this.cancelHandlers.values()) h();
    this.cancelHandlers.clear();
    this.resolveClosed(cause);
  }

  private rpc(
    methodId: number,
    args: unknown[],
    expect: number,
    alt = -1,
    onReply?: (p: ParsedMethod) => void,
  ): Promise<ParsedMethod> {
    if (this.isClosed) return Promise.reject(new ClosedError(`channel ${this.id} is closed`, this.closeCause ?? undefined));
    try {
      this.conn.assertOpen();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<ParsedMethod>((resolve, reject) => {
      this.pending.push({ expect, resolve, reject, onReply });
      this.conn.writer.method(this.id, methodId, args as never);
    }).then((p) => {
      if (p.def.id !== expect && p.def.id !== alt) {
        throw new SkiffError('ERR_UNEXPECTED_REPLY', `expected reply 0x${expect.toString(16)}, got ${p.def.name}`);
      }
      return p;
    });
  }
}

function encodeProperties(o: PublishOptions): Buffer | null {
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
