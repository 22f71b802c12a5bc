import type { ConsumerRole, PublisherRole, Role } from '../roles.js';
import { cleanup, declareTopology, FLOW_COLUMNS, runFlow, type BenchOptions, type RunContext, type Scenario, type Variant } from '../scenario.js';

const EXCHANGE = 'bench.direct';
const QUEUE = 'bench.q';

export function publisher(o: Partial<PublisherRole> & Pick<PublisherRole, 'exchange' | 'keys' | 'bodySize'>): PublisherRole {
  return { kind: 'publisher', count: 1, rate: 0, persistent: false, confirm: false, maxOutstanding: 0, limit: 0, ...o };
}

/** One agent process per role, or both in one with `--colocate`. */
export function groups(o: BenchOptions, pub: Role[], sub: Role[]): Role[][] {
  return o.colocate ? [[...sub, ...pub]] : [sub, pub];
}

/** 1 publisher → direct exchange → 1 queue → 1 consumer, transient, as fast as it goes. */
export async function oneQueue(ctx: RunContext, bodySize: number, noAck: boolean, rate: number): Promise<Record<string, number | string | null>> {
  const { admin, options: o } = ctx;
  await declareTopology(admin, EXCHANGE, 'direct', [QUEUE]);
  try {
    const consumer: ConsumerRole = { kind: 'consumer', queues: [{ name: QUEUE, route: QUEUE }], perConnection: 1, noAck, prefetch: o.prefetch };
    const r = await runFlow(ctx, {
      groups: groups(o, [publisher({ exchange: EXCHANGE, keys: [QUEUE], bodySize, rate })], [consumer]),
      maxLag: rate > 0 ? 0 : o.maxLag,
    });
    return r.metrics;
  } finally {
    await cleanup(admin, [QUEUE], [EXCHANGE]);
  }
}

export const throughput: Scenario = {
  name: 'throughput',
  title: 'Throughput: 1 publisher → direct → 1 queue → 1 consumer, transient',
  about:
    'The publisher sends as fast as the broker takes them (honouring backpressure; paused while more than `maxLag` messages are in flight so a run measures the broker, not a growing backlog). msg/s are counted over the measurement window; latency is publish→consume of every message delivered from the window start until the queue drained.',
  brokers: ['skiff', 'skiff-amqp', 'rabbitmq', 'nats'],
  columns: FLOW_COLUMNS,
  primary: { key: 'recv', better: 'higher' },
  variants(o: BenchOptions): Variant[] {
    const out: Variant[] = [];
    for (const size of o.sizes) {
      out.push({
        label: `${sizeLabel(size)}, manual ack, prefetch ${o.prefetch}`,
        brokers: ['skiff', 'skiff-amqp', 'rabbitmq'],
        run: (ctx) => oneQueue(ctx, size, false, 0),
      });
      out.push({ label: `${sizeLabel(size)}, auto-ack`, run: (ctx) => oneQueue(ctx, size, true, 0) });
    }
    return out;
  },
};

export function sizeLabel(n: number): string {
  return n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`;
}
