import { connect, type NatsConnection } from 'nats';
import type { BenchConnection, BenchDriver, BenchPublisher, ConsumeOptions, PublishTarget } from '../driver.js';

/** nats.js has no write backpressure signal: a flush (PING/PONG) every this many publishes bounds its buffer. */
const FLUSH_EVERY = 2000;

class NatsPublisher implements BenchPublisher {
  private sinceFlush = 0;

  constructor(private readonly nc: NatsConnection) {}

  publish(t: PublishTarget, body: Buffer): Promise<void> | null {
    // Queues do not exist in NATS core: a direct binding is the subject named by the key, a
    // fanout binding the subject named by the exchange (see ConsumeOptions.route).
    this.nc.publish(t.routingKey === '' ? t.exchange : t.routingKey, body);
    if (++this.sinceFlush < FLUSH_EVERY) return null;
    this.sinceFlush = 0;
    return this.nc.flush();
  }
}

/** Topology is implicit in subjects: declarations are no-ops, as in NATS core itself. */
export abstract class NatsSubjects {
  async declareExchange(): Promise<void> {}
  async declareQueue(): Promise<void> {}
  async bindQueue(): Promise<void> {}
  async deleteQueue(): Promise<void> {}
  async deleteExchange(): Promise<void> {}

  async queueDepth(): Promise<number> {
    return 0;
  }
}

class NatsBenchConnection extends NatsSubjects implements BenchConnection {
  private open = true;

  constructor(private readonly nc: NatsConnection) {
    super();
    void nc.closed().then(() => (this.open = false));
  }

  get isOpen(): boolean {
    return this.open;
  }

  async publisher(): Promise<BenchPublisher> {
    return new NatsPublisher(this.nc);
  }

  async consume(_queue: string, o: ConsumeOptions, onBody: (body: Buffer) => void): Promise<void> {
    this.nc.subscribe(o.route, {
      callback: (_err, msg) => {
        const d = msg.data;
        onBody(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      },
    });
    // The subscription is live on the server only after it has seen the SUB.
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.nc.close();
  }
}

export const natsDriver: BenchDriver = {
  kind: 'nats',
  async connect(url: string): Promise<BenchConnection> {
    if (url.startsWith('ws://')) return (await import('./nats-ws.js')).NatsWsConnection.connect(url);
    const nc = await connect({ servers: url, maxReconnectAttempts: 0, pingInterval: 60_000 });
    return new NatsBenchConnection(nc);
  },
};
