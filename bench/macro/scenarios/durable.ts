import { readdirSync } from 'node:fs';
import type { ConsumerRole } from '../roles.js';
import { cleanup, declareTopology, FLOW_COLUMNS, runFlow, type BenchOptions, type Column, type RunContext, type Scenario, type Variant } from '../scenario.js';
import { groups, publisher } from './throughput.js';

const EXCHANGE = 'bench.durable.x';
const QUEUE = 'bench.durable.q';

const COLUMNS: Column[] = [
  FLOW_COLUMNS[0] as Column,
  { key: 'confirmed', label: 'confirmed msg/s', better: 'higher', digits: 0 },
  ...FLOW_COLUMNS.slice(1),
  { key: 'store', label: 'store' },
];

/**
 * What holds a Skiff run's durable state: 'sqlite' once the daemon wrote files into its data
 * directory, else 'none (in memory)' — the store landed after this bench, so until then the
 * durable scenario measures the confirm path without disk.
 */
export function skiffStore(ctx: RunContext): string {
  if (ctx.broker.kind !== 'skiff' && ctx.broker.kind !== 'skiff-amqp') return ctx.broker.kind === 'rabbitmq' ? 'disk' : '—';
  if (ctx.dataDir === null) return 'unknown';
  try {
    return readdirSync(ctx.dataDir).length > 0 ? 'sqlite' : 'none (in memory)';
  } catch {
    return 'none (in memory)';
  }
}

export const durable: Scenario = {
  name: 'durable',
  title: 'Durable: persistent 128 B messages → durable queue, publisher confirms, manual acks',
  about:
    'One publisher in confirm mode keeps at most `outstanding` unconfirmed messages in flight (pipelined); one consumer acks each message (prefetch as in throughput). "confirmed msg/s" is the rate of broker confirms in the window.',
  brokers: ['skiff', 'skiff-amqp', 'rabbitmq'],
  columns: COLUMNS,
  primary: { key: 'confirmed', better: 'higher' },
  variants(o: BenchOptions): Variant[] {
    return [
      {
        label: `128 B persistent, confirms (≤ ${o.outstanding} in flight)`,
        async run(ctx) {
          const { admin } = ctx;
          await declareTopology(admin, EXCHANGE, 'direct', [QUEUE], true);
          try {
            const consumer: ConsumerRole = { kind: 'consumer', queues: [{ name: QUEUE, route: QUEUE }], perConnection: 1, noAck: false, prefetch: o.prefetch };
            const pub = publisher({ exchange: EXCHANGE, keys: [QUEUE], bodySize: 128, persistent: true, confirm: true, maxOutstanding: o.outstanding });
            const r = await runFlow(ctx, { groups: groups(o, [pub], [consumer]), maxLag: o.maxLag });
            return { ...r.metrics, store: skiffStore(ctx) };
          } finally {
            await cleanup(admin, [QUEUE], [EXCHANGE]);
          }
        },
      },
    ];
  },
};
