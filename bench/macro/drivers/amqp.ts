import { connect, type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { BenchConnection, BenchDriver, BenchPublisher, ConsumeOptions, PublishTarget } from '../driver.js';

const TRANSIENT = { persistent: false } as const;
const PERSISTENT = { persistent: true } as const;

/** Resolves on the channel's next 'drain' (amqplib's publish returned false). */
function drained(ch: Channel): Promise<void> {
  return new Promise((resolve) => ch.once('drain', () => resolve()));
}

class AmqpPublisher implements BenchPublisher {
  private waiting: Promise<void> | null = null;

  constructor(
    private readonly ch: Channel | ConfirmChannel,
    private readonly confirm: boolean,
  ) {}

  publish(t: PublishTarget, body: Buffer, onConfirm?: (ok: boolean) => void): Promise<void> | null {
    const opts = t.persistent ? PERSISTENT : TRANSIENT;
    let ok: boolean;
    if (this.confirm) {
      ok = (this.ch as ConfirmChannel).publish(t.exchange, t.routingKey, body, opts, (err) => onConfirm?.(err === null || err === undefined));
    } else {
      ok = this.ch.publish(t.exchange, t.routingKey, body, opts);
    }
    if (ok) return null;
    this.waiting ??= drained(this.ch).then(() => {
      this.waiting = null;
    });
    return this.waiting;
  }
}

class AmqpConnection implements BenchConnection {
  private open = true;
  private adminChannel: Promise<Channel> | null = null;

  constructor(private readonly model: ChannelModel) {
    model.on('close', () => (this.open = false));
    model.on('error', () => (this.open = false));
  }

  /**
   * Runs a topology call on the admin channel, opened on first use so consumer and idle
   * connections carry no extra channel, and reopened after an error closed it.
   */
  private async admin<T>(f: (ch: Channel) => Promise<T>): Promise<T> {
    const ch = await (this.adminChannel ??= this.model.createChannel().then((c) => {
      c.on('error', () => undefined);
      return c;
    }));
    try {
      return await f(ch);
    } catch (err) {
      this.adminChannel = null;
      throw err;
    }
  }

  get isOpen(): boolean {
    return this.open;
  }

  async declareExchange(name: string, type: 'direct' | 'fanout', durable: boolean): Promise<void> {
    await this.admin((ch) => ch.assertExchange(name, type, { durable, autoDelete: false }));
  }

  async declareQueue(name: string, durable: boolean, args: Record<string, unknown> = {}): Promise<void> {
    await this.admin((ch) => ch.assertQueue(name, { durable, autoDelete: false, exclusive: false, arguments: args }));
  }

  async bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    await this.admin((ch) => ch.bindQueue(queue, exchange, routingKey));
  }

  async deleteQueue(name: string): Promise<void> {
    await this.admin((ch) => ch.deleteQueue(name));
  }

  async deleteExchange(name: string): Promise<void> {
    await this.admin((ch) => ch.deleteExchange(name));
  }

  async queueDepth(name: string): Promise<number> {
    return (await this.admin((ch) => ch.checkQueue(name))).messageCount;
  }

  async publisher(confirm: boolean): Promise<BenchPublisher> {
    const ch = confirm ? await this.model.createConfirmChannel() : await this.model.createChannel();
    ch.on('error', () => undefined);
    return new AmqpPublisher(ch, confirm);
  }

  async consume(queue: string, o: ConsumeOptions, onBody: (body: Buffer) => void): Promise<void> {
    const ch = await this.model.createChannel();
    ch.on('error', () => undefined);
    if (!o.noAck) await ch.prefetch(o.prefetch);
    const noAck = o.noAck;
    const every = o.ackEvery ?? 1;
    let n = 0;
    await ch.consume(
      queue,
      (m) => {
        if (m === null) return;
        onBody(m.content);
        if (!noAck && ++n % every === 0) ch.ack(m, every > 1);
      },
      { noAck, ...(o.arguments !== undefined && { arguments: o.arguments }) },
    );
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.model.close().catch(() => undefined);
  }
}

export const amqpDriver: BenchDriver = {
  kind: 'rabbitmq',
  async connect(url: string): Promise<BenchConnection> {
    // RabbitMQ's own frame_max default (older amqplib asked for 4 KiB, splitting 4 KiB bodies),
    // and no Nagle: amqplib leaves it on, which adds delayed-ACK stalls of tens of ms to a
    // request/ack flow; the Skiff client turns it off too.
    return new AmqpConnection(await connect(`${url}?frameMax=131072`, { noDelay: true }));
  },
};
