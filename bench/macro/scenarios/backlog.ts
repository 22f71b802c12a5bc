import { sleep } from '../harness.js';
import { UsageSampler } from '../proc.js';
import type { BenchOptions, Column, Metrics, RunContext, Scenario, Variant } from '../scenario.js';
import { skiffStore } from './durable.js';
import { depth, fillDurable } from './restore.js';

/**
 * A backlog longer than memory (issue 13): N persistent 1 KiB messages confirmed into one
 * durable queue with no consumer, a graceful restart on that store, then one consumer drains it.
 * The broker's RSS is sampled (every 200 ms) through all three phases.
 */

const QUEUE = 'bench.backlog.q';
const BODY = 1024;

const COLUMNS: Column[] = [
  { key: 'fill', label: 'fill msg/s (confirmed)', better: 'higher', digits: 0 },
  { key: 'fillRss', label: 'peak RSS while filling MB', better: 'lower', digits: 0 },
  { key: 'acceptMs', label: 'restart: start → accepting ms', better: 'lower', digits: 0 },
  { key: 'firstMs', label: 'start → first delivery ms', better: 'lower', digits: 0 },
  { key: 'drain', label: 'drain msg/s (1 consumer, acks)', better: 'higher', digits: 0 },
  { key: 'drainRss', label: 'peak RSS restart + drain MB', better: 'lower', digits: 0 },
  { key: 'delivered', label: 'delivered', digits: 0 },
  { key: 'store', label: 'store' },
];

async function backlogRun(ctx: RunContext, n: number): Promise<Metrics> {
  const restart = ctx.restart;
  if (restart === null) return { store: 'needs a broker the bench starts (not --url)' };
  const fillUsage = new UsageSampler(ctx.broker.pid);
  fillUsage.start();
  const fill = await fillDurable(ctx, QUEUE, n, BODY);
  const fillRss = fillUsage.stop().peakRss / 2 ** 20;
  const before = await depth(ctx.admin, QUEUE);
  ctx.log(`  filled ${before.toLocaleString('en-US')} at ${fill.toFixed(0)} msg/s, peak RSS ${fillRss.toFixed(0)} MB; restarting`);

  const { spawnedAt, acceptMs } = await restart();
  const usage = new UsageSampler(ctx.broker.pid);
  usage.start();
  const conn = await ctx.driver.connect(ctx.broker.url);
  let delivered = 0;
  let firstAt = 0;
  let lastAt = 0;
  let done: () => void = () => undefined;
  const drained = new Promise<void>((r) => (done = r));
  await conn.consume(QUEUE, { noAck: false, prefetch: ctx.options.prefetch, route: QUEUE }, () => {
    const now = performance.now();
    if (delivered++ === 0) firstAt = now;
    lastAt = now;
    if (delivered >= before) done();
  });
  // Bounded: a broker that stops delivering ends the run with what it delivered.
  let seen = -1;
  while (delivered < before && delivered !== seen) {
    seen = delivered;
    await Promise.race([drained, sleep(30_000)]);
  }
  const drain = delivered > 1 ? (delivered - 1) / ((lastAt - firstAt) / 1000) : 0;
  const drainRss = usage.stop().peakRss / 2 ** 20;
  await conn.close();
  const admin = await ctx.driver.connect(ctx.broker.url);
  await admin.deleteQueue(QUEUE).catch(() => undefined);
  await admin.close();
  return { fill, fillRss, acceptMs, firstMs: firstAt - spawnedAt, drain, drainRss, delivered, store: skiffStore(ctx) };
}

export const backlog: Scenario = {
  name: 'backlog',
  title: 'Backlog: persistent 1 KiB messages in one durable queue, far past memory',
  about:
    'Publishes N persistent 1 KiB messages with confirms (≤ `outstanding` in flight) into one durable queue with no consumer, restarts the broker gracefully on that store, then one consumer (prefetch as in throughput, acking each) drains it. RSS is the peak sampled every 200 ms during the fill, and during restart + drain. "start → first delivery" is from spawning the restarted broker to the consumer\'s first message (connect, consume, deliver). Skiff runs with its default paging budgets (memory_high_watermark 1 GiB: 32 MiB per queue, 256 MiB in all); RabbitMQ with a classic queue (its default type).',
  brokers: ['skiff', 'rabbitmq'],
  freshBroker: true,
  columns: COLUMNS,
  primary: { key: 'drain', better: 'higher' },
  variants(o: BenchOptions): Variant[] {
    return [{ label: `${o.backlogMessages.toLocaleString('en-US')} × 1 KiB persistent`, run: (ctx) => backlogRun(ctx, o.backlogMessages) }];
  },
};
