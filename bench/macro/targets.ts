import type { BrokerKind } from './driver.js';
import { fmtRatio, ratio } from './report.js';
import type { RunResults, VariantResult } from './runner.js';
import type { Metrics } from './scenario.js';

/** One of the issue's targets, checked against a run. */
interface Target {
  name: string;
  check(r: RunResults): { measured: string; met: boolean | null; gap: string };
}

function find(r: RunResults, scenario: string, variantPrefix: string, broker: BrokerKind): Metrics | null {
  const v = r.results.find((x: VariantResult) => x.scenario === scenario && x.variant.startsWith(variantPrefix) && x.broker === broker);
  return v === undefined || Object.keys(v.metrics).length === 0 ? null : v.metrics;
}

const n = (m: Metrics | null, k: string): number | null => {
  const v = m?.[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

const NOT_RUN = { measured: 'not run', met: null, gap: '' };

function ratioTarget(name: string, scenario: string, variant: string, key: string, min: number, base: BrokerKind = 'skiff'): Target {
  return {
    name,
    check(r) {
      const s = find(r, scenario, variant, base);
      const q = find(r, scenario, variant, 'rabbitmq');
      if (s === null || q === null) return NOT_RUN;
      const x = ratio(s, q, key);
      if (x === null) return NOT_RUN;
      return {
        measured: `${fmtRatio(x)} (${Math.round(n(s, key) ?? 0).toLocaleString('en-US')} vs ${Math.round(n(q, key) ?? 0).toLocaleString('en-US')} msg/s)`,
        met: x >= min,
        gap: x >= min ? '' : `short by ${(min - x).toFixed(2)}× (${Math.round((1 - x / min) * 100)} %)`,
      };
    },
  };
}

/** Issue 9: Skiff through its AMQP listener, with the same client as RabbitMQ (amqplib). */
function amqpLatencyTarget(): Target {
  return {
    name: 'AMQP: latency at 10k msg/s, p99 no worse than RabbitMQ (amqplib on both)',
    check(r) {
      const s = n(find(r, 'latency', '10,000', 'skiff-amqp'), 'p99');
      const q = n(find(r, 'latency', '10,000', 'rabbitmq'), 'p99');
      if (s === null || q === null) return NOT_RUN;
      return { measured: `p99 ${s.toFixed(2)} ms vs RabbitMQ ${q.toFixed(2)} ms`, met: s <= q, gap: s <= q ? '' : `${(s - q).toFixed(2)} ms over RabbitMQ` };
    },
  };
}

export const TARGETS: readonly Target[] = [
  ratioTarget('AMQP: transient 128 B, manual ack: ≥ 3× RabbitMQ (amqplib on both)', 'throughput', '128 B, manual', 'recv', 3, 'skiff-amqp'),
  ratioTarget('AMQP: transient 128 B, auto-ack: ≥ 3× RabbitMQ (amqplib on both)', 'throughput', '128 B, auto', 'recv', 3, 'skiff-amqp'),
  ratioTarget('AMQP: transient 4 KiB, manual ack: ≥ 3× RabbitMQ (amqplib on both)', 'throughput', '4 KiB, manual', 'recv', 3, 'skiff-amqp'),
  ratioTarget('AMQP: transient 4 KiB, auto-ack: ≥ 3× RabbitMQ (amqplib on both)', 'throughput', '4 KiB, auto', 'recv', 3, 'skiff-amqp'),
  ratioTarget('AMQP: durable with confirms: ≥ 3× RabbitMQ (amqplib on both)', 'durable', '128 B', 'confirmed', 3, 'skiff-amqp'),
  amqpLatencyTarget(),
  ratioTarget('transient throughput 128 B, manual ack: ≥ 3× RabbitMQ', 'throughput', '128 B, manual', 'recv', 3),
  ratioTarget('transient throughput 128 B, auto-ack: ≥ 3× RabbitMQ', 'throughput', '128 B, auto', 'recv', 3),
  ratioTarget('durable with confirms: ≥ 2× RabbitMQ', 'durable', '128 B', 'confirmed', 2),
  {
    name: 'latency at 10k msg/s: p99 < 1 ms and < RabbitMQ',
    check(r) {
      const s = n(find(r, 'latency', '10,000', 'skiff'), 'p99');
      const q = n(find(r, 'latency', '10,000', 'rabbitmq'), 'p99');
      if (s === null) return NOT_RUN;
      const under1 = s < 1;
      const underQ = q === null ? null : s < q;
      return {
        measured: `p99 ${s.toFixed(2)} ms vs RabbitMQ ${q === null ? '—' : `${q.toFixed(2)} ms`}`,
        met: under1 && underQ !== false,
        gap: [under1 ? '' : `${(s - 1).toFixed(2)} ms over 1 ms`, underQ === false ? `${(s - (q ?? 0)).toFixed(2)} ms over RabbitMQ` : '']
          .filter((x) => x !== '')
          .join('; '),
      };
    },
  },
  {
    name: 'fanout to 5,000 connections: all held, every message delivered, p99 < RabbitMQ',
    check(r) {
      const s = find(r, 'fanout', '5,000', 'skiff');
      const q = find(r, 'fanout', '5,000', 'rabbitmq');
      if (s === null) return NOT_RUN;
      const held = n(s, 'held') ?? 0;
      const delivered = n(s, 'delivered') ?? 0;
      const p99 = n(s, 'p99') ?? Infinity;
      const q99 = n(q, 'p99');
      const gaps = [
        held < 5000 ? `${5000 - held} connections lost` : '',
        delivered < 100 ? `${(100 - delivered).toFixed(3)} % of copies missing` : '',
        q99 !== null && p99 >= q99 ? `p99 ${(p99 - q99).toFixed(2)} ms over RabbitMQ` : '',
      ].filter((x) => x !== '');
      return {
        measured: `${held} held, ${delivered.toFixed(2)} % delivered, p99 ${p99.toFixed(2)} ms vs RabbitMQ ${q99 === null ? '—' : `${q99.toFixed(2)} ms`}`,
        met: gaps.length === 0,
        gap: gaps.join('; '),
      };
    },
  },
  {
    name: 'memory: < 250 B broker overhead per queued 128 B message',
    check(r) {
      const o = n(find(r, 'memory', '1,000,000 queued', 'skiff') ?? find(r, 'memory', '', 'skiff'), 'overhead');
      if (o === null) return NOT_RUN;
      return { measured: `${Math.round(o)} B`, met: o < 250, gap: o < 250 ? '' : `${Math.round(o - 250)} B over` };
    },
  },
  {
    name: 'restore of 1,000,000 messages: < 5 s',
    check(r) {
      const m = find(r, 'restore', '', 'skiff');
      const ms = n(m, 'readyMs');
      if (ms === null) return m === null ? NOT_RUN : { measured: String(m['store'] ?? 'pending'), met: null, gap: 'pending' };
      return { measured: `${(ms / 1000).toFixed(2)} s to all messages back (${((n(m, 'acceptMs') ?? 0) / 1000).toFixed(2)} s to accepting)`, met: ms < 5000, gap: ms < 5000 ? '' : `${((ms - 5000) / 1000).toFixed(2)} s over` };
    },
  },
];

export function targetsTable(r: RunResults): string {
  const lines = ['| target | measured | met | short by |', '| --- | --- | :---: | --- |'];
  for (const t of TARGETS) {
    const c = t.check(r);
    lines.push(`| ${t.name} | ${c.measured} | ${c.met === null ? '—' : c.met ? 'yes' : '**no**'} | ${c.gap} |`);
  }
  return lines.join('\n') + '\n';
}
