import { ProtocolError } from '../../protocol/index.js';
import { Broker, type BrokerOptions } from '../../src/broker/broker.js';
import type { Channel, ChannelSink } from '../../src/broker/channel.js';
import { makeContent, type Message } from '../../src/broker/message.js';
import type { QueueOptions } from '../../src/broker/queue.js';
import type { Session } from '../../src/broker/session.js';

/** One delivery as the client would have seen it at the moment it was sent. */
export interface SeenDelivery {
  consumerTag: string;
  deliveryTag: number;
  body: string;
  redelivered: boolean;
  routingKey: string;
}

/**
 * Stands in for the socket side of a channel (the server's ServerChannel): records what the
 * broker sends, and lets a test turn backpressure on and off.
 */
export class FakeSink implements ChannelSink {
  writable = true;
  readonly deliveries: SeenDelivery[] = [];
  readonly returns: { code: number; text: string; exchange: string; routingKey: string; body: string }[] = [];
  readonly confirms: { seq: number; multiple: boolean; ack: boolean }[] = [];
  readonly cancels: string[] = [];

  deliver(consumerTag: string, deliveryTag: number, m: Message): void {
    this.deliveries.push({ consumerTag, deliveryTag, body: m.body.toString(), redelivered: m.redelivered, routingKey: m.routingKey });
  }
  returned(code: number, text: string, exchange: string, routingKey: string, content: Buffer): void {
    const propsSize = content.readUInt32BE(0);
    this.returns.push({ code, text, exchange, routingKey, body: content.subarray(4 + propsSize).toString() });
  }
  confirm(seq: number, multiple: boolean, ack: boolean): void {
    this.confirms.push({ seq, multiple, ack });
  }
  cancelled(consumerTag: string): void {
    this.cancels.push(consumerTag);
  }

  /** Bodies delivered so far, optionally only to one consumer. */
  bodies(consumerTag?: string): string[] {
    return this.deliveries.filter((d) => consumerTag === undefined || d.consumerTag === consumerTag).map((d) => d.body);
  }

  tagOf(body: string): number {
    for (let i = this.deliveries.length - 1; i >= 0; i--) {
      const d = this.deliveries[i] as SeenDelivery;
      if (d.body === body) return d.deliveryTag;
    }
    throw new Error(`'${body}' was not delivered`);
  }
}

export const TRANSIENT: QueueOptions = { durable: false, exclusive: false, autoDelete: false, arguments: {} };

/** A broker with helpers to open sessions and channels over {@link FakeSink}s. */
export class TestBroker {
  readonly broker: Broker;
  private sessions = 0;

  constructor(options?: BrokerOptions) {
    this.broker = new Broker(options);
  }

  session(): Session {
    const id = `s${++this.sessions}`;
    return this.broker.openSession({ id, name: id, user: 'guest', peer: 'test', connectedAt: 0 });
  }

  /** Opens a channel (on a new session unless one is given). */
  channel(session: Session = this.session(), id = session.channels.size + 1): { ch: Channel; sink: FakeSink } {
    const sink = new FakeSink();
    return { ch: session.openChannel(id, sink), sink };
  }

  queue(name: string, options: Partial<QueueOptions> = {}, session: Session | null = null): string {
    return this.broker.declareQueue(name, { ...TRANSIENT, ...options }, false, session).name;
  }

  exchange(name: string, type: string, options: { durable?: boolean; autoDelete?: boolean; internal?: boolean } = {}): void {
    this.broker.declareExchange(name, type, { durable: false, autoDelete: false, internal: false, arguments: {}, ...options }, false);
  }

  /** Consumes and starts deliveries, as the server does after writing consume-ok. */
  consume(ch: Channel, queue: string, options: { tag?: string; noAck?: boolean; exclusive?: boolean } = {}): string {
    const tag = ch.consume(queue, options.tag ?? '', options.noAck ?? false, options.exclusive ?? false);
    ch.start(tag);
    return tag;
  }

  /** Publishes on a channel (which applies mandatory and confirms). */
  publish(ch: Channel, exchange: string, routingKey: string, body: string, options: { mandatory?: boolean; persistent?: boolean } = {}): void {
    ch.publish(exchange, routingKey, options.mandatory ?? false, options.persistent ?? false, 0, 0, content(body));
  }

  ready(queue: string): string[] {
    const q = this.broker.queues.get(queue);
    if (q === undefined) throw new Error(`no queue ${queue}`);
    return [...q.ready].map((m) => m.body.toString());
  }
}

export function content(body: string, props: Buffer | null = null): Buffer {
  return makeContent(props, Buffer.from(body));
}

/** Lets scheduled confirm flushes (setImmediate) run. */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Runs `f` and returns the ProtocolError it threw as `{code, message}`, for exact assertions. */
export function thrown(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('expected a ProtocolError, nothing was thrown');
}
