/**
 * One load-generator API over three brokers: Skiff through the shipped client, RabbitMQ through
 * amqplib, NATS core through `nats`. Scenarios and agents speak only this, so every broker gets
 * exactly the same workload shape.
 */

/** `skiff-amqp` is Skiff through its AMQP 0-9-1 listener with RabbitMQ's client (amqplib). */
export type BrokerKind = 'skiff' | 'skiff-amqp' | 'rabbitmq' | 'nats';

export interface ConsumeOptions {
  noAck: boolean;
  prefetch: number;
  /**
   * NATS has no queues: the subject this queue's messages are published on (the routing key
   * for direct exchanges, the exchange name for fanout). Ignored by AMQP-style brokers.
   */
  route: string;
  /** Consumer arguments (a stream's `x-stream-offset`). */
  arguments?: Record<string, unknown>;
  /** Ack with `multiple` every this many messages instead of each one (stream replays). */
  ackEvery?: number;
}

export interface PublishTarget {
  exchange: string;
  routingKey: string;
  persistent: boolean;
}

/** A publishing handle on its own channel. */
export interface BenchPublisher {
  /**
   * Sends one message. Returns null when the caller may go on at once, or a promise to await
   * before sending more (socket or broker backpressure). `onConfirm` is called in confirm mode
   * when the broker settles the message.
   */
  publish(target: PublishTarget, body: Buffer, onConfirm?: (ok: boolean) => void): Promise<void> | null;
}

export interface BenchConnection {
  declareExchange(name: string, type: 'direct' | 'fanout', durable: boolean): Promise<void>;
  /** `args`: queue arguments (`x-queue-type: stream`). */
  declareQueue(name: string, durable: boolean, args?: Record<string, unknown>): Promise<void>;
  bindQueue(queue: string, exchange: string, routingKey: string): Promise<void>;
  deleteQueue(name: string): Promise<void>;
  deleteExchange(name: string): Promise<void>;
  /** Ready messages in a queue (passive declare). */
  queueDepth(name: string): Promise<number>;
  publisher(confirm: boolean): Promise<BenchPublisher>;
  /** Starts a consumer; the driver acks each message after `onBody` returns unless `noAck`. */
  consume(queue: string, options: ConsumeOptions, onBody: (body: Buffer) => void): Promise<void>;
  /** True until the connection is lost or closed. */
  readonly isOpen: boolean;
  close(): Promise<void>;
}

export interface BenchDriver {
  readonly kind: BrokerKind;
  connect(url: string): Promise<BenchConnection>;
}

/** The AMQP 0-9-1 client the AMQP brokers are driven with (`--amqp-client`; inherited by the agents). */
export function amqpClientName(): 'amqplib' | 'cloudamqp' {
  return process.env['SKIFF_BENCH_AMQP_CLIENT'] === 'cloudamqp' ? 'cloudamqp' : 'amqplib';
}

async function amqpDriver(): Promise<BenchDriver> {
  return amqpClientName() === 'cloudamqp' ? (await import('./drivers/cloudamqp.js')).cloudAmqpDriver : (await import('./drivers/amqp.js')).amqpDriver;
}

/** Loads the driver for a broker (lazily, so a missing optional client only breaks its own runs). */
export async function loadDriver(kind: BrokerKind): Promise<BenchDriver> {
  switch (kind) {
    case 'skiff':
      return (await import('./drivers/skiff.js')).skiffDriver;
    case 'rabbitmq':
      return amqpDriver();
    case 'skiff-amqp':
      return { ...(await amqpDriver()), kind: 'skiff-amqp' };
    case 'nats':
      return (await import('./drivers/nats.js')).natsDriver;
  }
}
