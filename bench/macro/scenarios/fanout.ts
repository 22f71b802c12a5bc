import type { ConsumerRole } from '../roles.js';
import { cleanup, declareTopology, FLOW_COLUMNS, runFlow, type BenchOptions, type Column, type Scenario, type Variant } from '../scenario.js';
import { publisher } from './throughput.js';

const EXCHANGE = 'bench.fanout';

const COLUMNS: Column[] = [
  ...FLOW_COLUMNS,
  { key: 'delivered', label: 'delivered %', better: 'higher', digits: 2 },
  { key: 'held', label: 'connections held', better: 'higher', digits: 0 },
  { key: 'setupS', label: 'setup s', better: 'lower', digits: 1 },
];

/**
 * The fanout scenario over TCP (`fanout`), or with every consumer on the broker's WebSocket
 * endpoint (`wsfanout`: the market-data gateway's browsers) while the publisher stays on TCP.
 */
function fanoutScenario(ws: boolean): Scenario {
  return {
    name: ws ? 'wsfanout' : 'fanout',
    title: ws
      ? 'WebSocket fanout: 1 publisher (TCP) → fanout → N queues, each with a consumer on its own WebSocket, 100 B ticks'
      : 'Fanout: 1 publisher → fanout → N queues, each with a consumer on its own connection, 100 B ticks',
    about: ws
      ? 'The fanout scenario with every consumer connected to the broker\'s WebSocket endpoint (Skiff: /ws on the HTTP listener, subprotocol skiff, the shipped client over `ws`; NATS: its websocket listener, a minimal NATS-protocol subscriber over `ws`, since nats.js for Node has no WebSocket transport). The publisher stays on TCP. Columns as in fanout.'
      : 'Market-data style: one publisher at a fixed rate, every queue bound to one fanout exchange, every consumer (auto-ack) on its own connection. "delivered %" counts every copy received after publishing stopped and the queues drained; "connections held" is how many consumer connections were still open at the end. Setup (connect + consume N times) is timed separately and not part of the rates.',
    brokers: ws ? ['skiff', 'nats'] : ['skiff', 'skiff-amqp', 'rabbitmq', 'nats'],
    columns: COLUMNS,
    primary: { key: 'p99', better: 'lower' },
    variants(o: BenchOptions): Variant[] {
      return o.fanoutQueues.map((n) => ({
        label: `${n.toLocaleString('en-US')} queues, ${o.fanoutRate} msg/s → ${(n * o.fanoutRate).toLocaleString('en-US')} deliveries/s`,
        async run(ctx) {
          const { admin } = ctx;
          const url = ws ? ctx.broker.wsUrl : undefined;
          if (ws && url === undefined) throw new Error(`${ctx.broker.kind} has no WebSocket endpoint here`);
          const names = Array.from({ length: n }, (_, i) => `bench.fan.${i}`);
          await declareTopology(admin, EXCHANGE, 'fanout', names);
          try {
            const procs = Math.min(o.fanoutProcs, n);
            const consumers = (part: string[]): ConsumerRole => ({
              kind: 'consumer',
              queues: part.map((q) => ({ name: q, route: EXCHANGE })),
              perConnection: 1,
              noAck: true,
              prefetch: 0,
              ...(url !== undefined && { url }),
            });
            const parts = Array.from({ length: procs }, (_, p) => names.filter((_, i) => i % procs === p));
            const pub = publisher({ exchange: EXCHANGE, keys: [''], bodySize: 100, rate: o.fanoutRate });
            // One load process by default: the publisher is light, and another busy process on 2
            // cores steals time from the broker. With --fanout-procs the subscribers are spread
            // over several, as thousands of browsers would be, so one busy load thread is not what
            // the latency measures.
            const groups = parts.map((part, p) => (p === 0 ? [consumers(part), pub] : [consumers(part)]));
            const r = await runFlow(ctx, { groups, copies: n, drainMs: 60_000, setupTimeoutMs: 600_000 });
            const final = r.finalReports;
            const held = final.reduce((s, x) => s + x.connectionsOpen, 0) - 1; // minus the publisher's
            return {
              ...r.metrics,
              delivered: r.publishedTotal === 0 ? 0 : (100 * r.receivedTotal) / (r.publishedTotal * n),
              held,
            };
          } finally {
            await cleanup(admin, names, [EXCHANGE]);
          }
        },
      }));
    },
  };
}

export const fanout: Scenario = fanoutScenario(false);
export const wsfanout: Scenario = fanoutScenario(true);
