import type { Socket } from 'node:net';
import { AMQPClient, type AMQPBaseClient, type AMQPChannel } from '@cloudamqp/amqp-client';
import type { BenchConnection, BenchDriver, BenchPublisher, ConsumeOptions, PublishTarget } from '../driver.js';

const TRANSIENT = { deliveryMode: 1 } as const;
const PERSISTENT = { deliveryMode: 2 } as const;

/** The client's socket, for backpressure: basicPublish's promise only says "written", one per message. */
function socketOf(client: AMQPBaseClient): Socket | undefined {
  return (client as unknown as { socket?: Socket }).socket;
}

class CloudAmqpPublisher implements BenchPublisher {
  private waiting: Promise<void> | null = null;

  constructor(
    private readonly client: AMQPBaseClient,
    private readonly ch: AMQPChannel,
    private readonly confirm: boolean,
  ) {}

  publish(t: PublishTarget, body: Buffer, onConfirm?: (ok: boolean) => void): Promise<void> | null {
    const sent = this.ch.basicPublish(t.exchange, t.routingKey, body, t.persistent ? PERSISTENT : TRANSIENT);
    // In confirm mode the promise settles with the broker's ack or nack.
    if (this.confirm) sent.then(() => onConfirm?.(true), () => onConfirm?.(false));
    else sent.catch(() => undefined);
    const socket = socketOf(this.client);
    if (socket === undefined || !socket.writableNeedDrain) return null;
    this.waiting ??= new Promise<void>((resolve) => socket.once('drain', () => resolve())).then(() => {
      this.waiting = null;
    });
    return this.waiting;
  }
}

class CloudAmqpConnection implements BenchConnection {
  private open = true;
  private adminChannel: Promise<AMQPChannel> | null = null;

  constructor(private readonly client: AMQPBaseClient) {
    client.onerror = () => (this.open = false);
  }

  /** The admin channel, opened on first use and reopened after an error closed it. */
  private async admin<T>(f: (ch: AMQPChannel) => Promise<T>): Promise<T> {
    const ch = await (this.adminChannel ??= this.client.channel());
    try {
      return await f(ch);
    } catch (err) {
      this.adminChannel = null;
      throw err;
    }
  }

  get isOpen(): boolean {
    return this.open && !this.client.closed;
  }

  async declareExchange(name: string, type: 'direct' | 'fanout', durable: boolean): Promise<void> {
    await this.admin((ch) => ch.exchangeDeclare(name, type, { durable, autoDelete: false }));
  }

  async declareQueue(name: string, durable: boolean): Promise<void> {
    await this.admin((ch) => ch.queueDeclare(name, { durable, autoDelete: false, exclusive: false }));
  }

  async bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    await this.admin((ch) => ch.queueBind(queue, exchange, routingKey));
  }

  async deleteQueue(name: string): Promise<void> {
    await this.admin((ch) => ch.queueDelete(name));
  }

  async deleteExchange(name: string): Promise<void> {
    await this.admin((ch) => ch.exchangeDelete(name));
  }

  async queueDepth(name: string): Promise<number> {
    return (await this.admin((ch) => ch.queueDeclare(name, { passive: true }))).messageCount;
  }

  async publisher(confirm: boolean): Promise<BenchPublisher> {
    const ch = await this.client.channel();
    if (confirm) await ch.confirmSelect();
    return new CloudAmqpPublisher(this.client, ch, confirm);
  }

  async consume(queue: string, o: ConsumeOptions, onBody: (body: Buffer) => void): Promise<void> {
    const ch = await this.client.channel();
    if (!o.noAck) await ch.basicQos(o.prefetch);
    const noAck = o.noAck;
    await ch.basicConsume(queue, { noAck }, (m) => {
      const body = m.body;
      if (body !== null) onBody(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      if (!noAck) void m.ack().catch(() => undefined);
    });
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.client.close().catch(() => undefined);
  }
}

/** The same AMQP workload through @cloudamqp/amqp-client (LavinMQ's client) instead of amqplib. */
export const cloudAmqpDriver: BenchDriver = {
  kind: 'rabbitmq',
  async connect(url: string): Promise<BenchConnection> {
    const client = new AMQPClient(`${url}?frameMax=131072`);
    const conn = await client.connect();
    socketOf(conn)?.setNoDelay(true);
    return new CloudAmqpConnection(conn);
  },
};
