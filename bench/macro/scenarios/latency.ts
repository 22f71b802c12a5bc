import { FLOW_COLUMNS, type BenchOptions, type Scenario, type Variant } from '../scenario.js';
import { oneQueue } from './throughput.js';

export const latency: Scenario = {
  name: 'latency',
  title: 'Latency at a fixed publish rate: 1 publisher → direct → 1 queue → 1 consumer, 128 B',
  about:
    'The publisher paces itself (each ~1 ms tick sends what is due) and stamps each body with CLOCK_MONOTONIC; the consumer (manual ack) records now − stamp. Percentiles are over every message of the window.',
  brokers: ['skiff', 'skiff-amqp', 'rabbitmq', 'nats'],
  columns: FLOW_COLUMNS,
  primary: { key: 'p99', better: 'lower' },
  variants(o: BenchOptions): Variant[] {
    return o.rates.map((rate) => ({
      label: `${rate.toLocaleString('en-US')} msg/s`,
      run: (ctx) => oneQueue(ctx, 128, false, rate),
    }));
  },
};
