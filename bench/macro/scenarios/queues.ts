import type { ConsumerRole } from '../roles.js';
import { cleanup, declareTopology, FLOW_COLUMNS, runFlow, type BenchOptions, type Scenario, type Variant } from '../scenario.js';
import { groups, publisher } from './throughput.js';

const EXCHANGE = 'bench.direct.many';
const PUBLISHERS = 10;
const QUEUES = 100;

export const queues: Scenario = {
  name: 'queues',
  title: `Many queues: ${PUBLISHERS} publishers → direct → ${QUEUES} queues → ${QUEUES} consumers, 128 B`,
  about: `Each publisher has its own connection and cycles its routing key over all ${QUEUES} queues; each consumer has its own connection (manual ack, prefetch as in throughput). Publishers run at full speed, bounded in flight like throughput.`,
  brokers: ['skiff', 'skiff-amqp', 'rabbitmq', 'nats'],
  columns: FLOW_COLUMNS,
  primary: { key: 'recv', better: 'higher' },
  variants(o: BenchOptions): Variant[] {
    return [
      {
        label: `${PUBLISHERS} pubs, ${QUEUES} queues, ${QUEUES} consumers`,
        async run(ctx) {
          const { admin } = ctx;
          const names = Array.from({ length: QUEUES }, (_, i) => `bench.mq.${i}`);
          await declareTopology(admin, EXCHANGE, 'direct', names);
          try {
            const consumers: ConsumerRole = {
              kind: 'consumer',
              queues: names.map((q) => ({ name: q, route: q })),
              perConnection: 1,
              noAck: ctx.broker.kind === 'nats',
              prefetch: o.prefetch,
            };
            const pubs = publisher({ exchange: EXCHANGE, keys: names, bodySize: 128, count: PUBLISHERS });
            return (await runFlow(ctx, { groups: groups(o, [pubs], [consumers]), maxLag: o.maxLag })).metrics;
          } finally {
            await cleanup(admin, names, [EXCHANGE]);
          }
        },
      },
    ];
  },
};
