import { connect, type Channel, type Connection } from '../../../src/client/index.js';
import type { BenchConnection, BenchDriver, BenchPublisher, ConsumeOptions, PublishTarget } from '../driver.js';

const TRANSIENT = { persistent: false } as const;
const PERSISTENT = { persistent: true } as const;

class SkiffPublisher implements BenchPublisher {
  constructor(
    private readonly ch: Channel,
    private readonly confirm: boolean,
  ) {}

  publish(t: PublishTarget, body: Buffer, onConfirm?: (ok: boolean) => void): Promise<void> | null {
    const p = this.ch.publish(t.exchange, t.routingKey, body, t.persistent ? PERSISTENT : TRANSIENT);
    if (!this.confirm) return p;
    if (onConfirm !== undefined) {
      p.then(
        () => onConfirm(true),
        () => onConfirm(false),
      );
    }
    return null;
  }
}

class SkiffConnection implements BenchConnection {
  private adminChannel: Promise<Channel> | null = null;

  constructor(private readonly conn: Connection) {}

  /**
   * Runs a topology call on the admin channel, opened on first use so consumer and idle
   * connections carry no extra channel, and reopened after an error closed it.
   */
  private async admin<T>(f: (ch: Channel) => Promise<T>): Promise<T> {
    const ch = await (this.adminChannel ??= this.conn.channel());
    try {
      return await f(ch);
    } catch (err) {
      this.adminChannel = null;
      throw err;
    }
  }

  get isOpen(): boolean {
    return this.conn.isOpen;
  }

  async declareExchange(name: string, type: 'direct' | 'fanout', durable: boolean): Promise<void> {
    await this.admin((ch) => ch.declareExchange(name, type, { durable }));
  }

  async declareQueue(name: string, durable: boolean, args: Record<string, unknown> = {}): Promise<void> {
    await this.admin((ch) => ch.declareQueue(name, { durable, arguments: args }));
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
    return (await this.admin((ch) => ch.declareQueue(name, { passive: true }))).messageCount;
  }

  async publisher(confirm: boolean): Promise<BenchPublisher> {
    const ch = await this.conn.channel();
    if (confirm) await ch.confirmSelect();
    return new SkiffPublisher(ch, confirm);
  }

  async consume(queue: string, o: ConsumeOptions, onBody: (body: Buffer) => void): Promise<void> {
    const ch = await this.conn.channel();
    const noAck = o.noAck;
    const every = o.ackEvery ?? 1;
    let n = 0;
    await ch.consume(
      queue,
      (m) => {
        onBody(m.body);
        if (!noAck && ++n % every === 0) m.ack(every > 1);
      },
      { noAck, prefetch: o.prefetch, ...(o.arguments !== undefined && { arguments: o.arguments }) },
    );
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}

export const skiffDriver: BenchDriver = {
  kind: 'skiff',
  async connect(url: string): Promise<BenchConnection> {
    // The scenarios restart brokers on purpose and measure from fresh connections.
    return new SkiffConnection(await connect(url, { timeoutMs: 30_000, reconnect: false }));
  },
};
