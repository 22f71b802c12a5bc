import type { BenchConnection } from '../driver.js';
import { Agents, sleep } from '../harness.js';
import { rssBytes } from '../proc.js';
import type { BenchOptions, Column, Metrics, RunContext, Scenario, Variant } from '../scenario.js';
import { skiffStore } from './durable.js';
import { publisher } from './throughput.js';

const QUEUE = 'bench.restore.q';

const COLUMNS: Column[] = [
  { key: 'fill', label: 'fill msg/s (confirmed)', better: 'higher', digits: 0 },
  { key: 'before', label: 'queued before', digits: 0 },
  { key: 'restored', label: 'restored', better: 'higher', digits: 0 },
  { key: 'acceptMs', label: 'start → accepting ms', better: 'lower', digits: 0 },
  { key: 'readyMs', label: 'start → all messages back ms', better: 'lower', digits: 0 },
  { key: 'rss', label: 'RSS after restore MB', better: 'lower', digits: 0 },
  { key: 'store', label: 'store' },
];

export async function depth(c: BenchConnection, queue: string): Promise<number> {
  try {
    return await c.queueDepth(queue);
  } catch {
    return -1; // not (yet) there
  }
}

/** Declares a durable queue and fills it with `n` persistent messages, confirmed; returns the fill rate. */
export async function fillDurable(ctx: RunContext, queue: string, n: number, bodySize: number): Promise<number> {
  await ctx.admin.declareQueue(queue, true);
  const t0 = performance.now();
  const agents = await Agents.start({
    broker: ctx.broker.kind,
    url: ctx.broker.url,
    groups: [[publisher({ exchange: '', keys: [queue], bodySize, persistent: true, confirm: true, maxOutstanding: ctx.options.outstanding, limit: n })]],
  });
  try {
    agents.go();
    await agents.publishersDone(60 * 60_000);
  } finally {
    await agents.close();
  }
  return n / ((performance.now() - t0) / 1000);
}

async function restoreRun(ctx: RunContext, n: number): Promise<Metrics> {
  const restart = ctx.restart;
  if (restart === null) return { store: 'needs a broker the bench starts (not --url)' };
  const fill = await fillDurable(ctx, QUEUE, n, 128);
  const before = await depth(ctx.admin, QUEUE);
  const store = skiffStore(ctx);
  if (store.startsWith('none')) return { fill, before, store: 'pending: no store in this build' };

  const { spawnedAt, acceptMs } = await restart();
  // A fresh connection: the old one died with the broker.
  const conn = await ctx.driver.connect(ctx.broker.url);
  let restored = await depth(conn, QUEUE);
  const deadline = Date.now() + 120_000;
  while (restored < before && Date.now() < deadline) {
    await sleep(5);
    restored = await depth(conn, QUEUE);
  }
  const readyMs = performance.now() - spawnedAt;
  const rss = (rssBytes(ctx.broker.pid) ?? 0) / 2 ** 20;
  await conn.deleteQueue(QUEUE).catch(() => undefined);
  await conn.close();
  return { fill, before, restored, acceptMs, readyMs, rss, store };
}

export const restore: Scenario = {
  name: 'restore',
  title: 'Restore: restart with persistent 128 B messages in a durable queue',
  about:
    'Fills a durable queue with persistent 128 B messages (confirmed), stops the broker gracefully, starts it again on the same data and times spawn → first accepted TCP connection, and spawn → the queue reporting every message again.',
  brokers: ['skiff', 'rabbitmq'],
  columns: COLUMNS,
  primary: { key: 'readyMs', better: 'lower' },
  variants(o: BenchOptions): Variant[] {
    return [{ label: `${o.restoreMessages.toLocaleString('en-US')} messages`, run: (ctx) => restoreRun(ctx, o.restoreMessages) }];
  },
};
