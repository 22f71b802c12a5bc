import { Agents, sleep } from '../harness.js';
import { rssBytes } from '../proc.js';
import type { Role } from '../roles.js';
import type { BenchOptions, Column, Metrics, RunContext, Scenario, Variant } from '../scenario.js';
import { publisher } from './throughput.js';

const QUEUE = 'bench.mem.q';
const BODY = 128;
/** Let allocations settle (sockets, GC) before reading RSS. */
const SETTLE_MS = 3000;

const COLUMNS: Column[] = [
  { key: 'baseMB', label: 'RSS before MB', digits: 0 },
  { key: 'afterMB', label: 'RSS after MB', digits: 0 },
  { key: 'perMsg', label: 'B per queued msg', better: 'lower', digits: 0 },
  { key: 'overhead', label: 'overhead B/msg (beyond the 128 B body)', better: 'lower', digits: 0 },
  { key: 'perConnKB', label: 'KB per idle connection', better: 'lower', digits: 1 },
];

const mb = (b: number): number => b / 2 ** 20;

async function withAgents(ctx: RunContext, roles: Role[], work: (a: Agents) => Promise<void>): Promise<void> {
  const agents = await Agents.start({ broker: ctx.broker.kind, url: ctx.broker.url, groups: [roles], setupTimeoutMs: 300_000 });
  try {
    await work(agents);
  } finally {
    await agents.close();
  }
}

async function queued(ctx: RunContext, n: number): Promise<Metrics> {
  const { admin } = ctx;
  await admin.declareQueue(QUEUE, false);
  await sleep(SETTLE_MS);
  const base = rssBytes(ctx.broker.pid) ?? 0;
  let after = 0;
  let depth = 0;
  try {
    await withAgents(ctx, [publisher({ exchange: '', keys: [QUEUE], bodySize: BODY, limit: n })], async (agents) => {
      agents.go();
      await agents.publishersDone(600_000);
      const deadline = Date.now() + 120_000;
      while ((depth = await admin.queueDepth(QUEUE)) < n && Date.now() < deadline) await sleep(50);
      await sleep(SETTLE_MS);
      after = rssBytes(ctx.broker.pid) ?? 0;
    });
  } finally {
    await admin.deleteQueue(QUEUE).catch(() => undefined);
  }
  const perMsg = (after - base) / Math.max(1, depth);
  return { baseMB: mb(base), afterMB: mb(after), perMsg, overhead: perMsg - BODY, queued: depth };
}

async function idle(ctx: RunContext, n: number): Promise<Metrics> {
  await sleep(SETTLE_MS);
  const base = rssBytes(ctx.broker.pid) ?? 0;
  let after = 0;
  await withAgents(ctx, [{ kind: 'idle', connections: n }], async () => {
    await sleep(SETTLE_MS);
    after = rssBytes(ctx.broker.pid) ?? 0;
  });
  return { baseMB: mb(base), afterMB: mb(after), perConnKB: (after - base) / n / 1024 };
}

export const memory: Scenario = {
  name: 'memory',
  title: 'Memory: broker RSS per queued message and per idle connection',
  about:
    'RSS of the broker process before and after (a) publishing N transient 128 B messages into one queue with no consumer, (b) opening N connections that do nothing. Read 3 s after the last message was queued / connection opened. Each variant runs on a broker started for it. RSS includes garbage the runtime has not collected yet, so it is an upper bound.',
  brokers: ['skiff', 'rabbitmq'],
  freshBroker: true,
  columns: COLUMNS,
  primary: { key: 'afterMB', better: 'lower' },
  variants(o: BenchOptions): Variant[] {
    return [
      { label: `${o.memoryMessages.toLocaleString('en-US')} queued ${BODY} B messages`, run: (ctx) => queued(ctx, o.memoryMessages) },
      { label: `${o.idleConnections.toLocaleString('en-US')} idle connections`, run: (ctx) => idle(ctx, o.idleConnections) },
    ];
  },
};
