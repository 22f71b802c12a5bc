import { Agents, sleep } from '../harness.js';
import { UsageSampler } from '../proc.js';
import type { BenchOptions, Column, Metrics, RunContext, Scenario, Variant } from '../scenario.js';
import { skiffStore } from './durable.js';
import { publisher } from './throughput.js';

/**
 * Streams (issue 14): N messages appended to one stream by two confirming publishers, then
 * replayed from `first` — from disk — by one consumer (prefetch as in throughput, acking with
 * `multiple` every half window, as stream consumers do). The broker's CPU and peak RSS are
 * sampled through each phase. Skiff and RabbitMQ are both driven over AMQP 0-9-1 with amqplib
 * (`skiff-amqp`, `rabbitmq`); `skiff` uses the native client.
 */

const STREAM = 'bench.stream';

const COLUMNS: Column[] = [
  { key: 'append', label: 'append msg/s (confirmed)', better: 'higher', digits: 0 },
  { key: 'appendCpu', label: 'broker CPU µs/msg append', better: 'lower', digits: 2 },
  { key: 'appendRss', label: 'peak RSS append MB', better: 'lower', digits: 0 },
  { key: 'replay', label: 'replay msg/s (from first)', better: 'higher', digits: 0 },
  { key: 'replayCpu', label: 'broker CPU µs/msg replay', better: 'lower', digits: 2 },
  { key: 'replayRss', label: 'peak RSS replay MB', better: 'lower', digits: 0 },
  { key: 'replayed', label: 'replayed', digits: 0 },
  { key: 'store', label: 'store' },
];

async function streamRun(ctx: RunContext, n: number, bodySize: number): Promise<Metrics> {
  await ctx.admin.deleteQueue(STREAM).catch(() => undefined);
  await ctx.admin.declareQueue(STREAM, true, { 'x-queue-type': 'stream' });
  const pubUsage = new UsageSampler(ctx.broker.pid);
  pubUsage.start();
  const t0 = performance.now();
  const per = Math.ceil(n / 2);
  const pub = () => publisher({ exchange: '', keys: [STREAM], bodySize, persistent: true, confirm: true, maxOutstanding: ctx.options.outstanding, limit: per });
  const agents = await Agents.start({ broker: ctx.broker.kind, url: ctx.broker.url, groups: [[pub()], [pub()]] });
  try {
    agents.go();
    await agents.publishersDone(60 * 60_000);
  } finally {
    await agents.close();
  }
  const appendMs = performance.now() - t0;
  const appended = per * 2;
  const up = pubUsage.stop();
  const append = appended / (appendMs / 1000);
  const appendCpu = (up.cpuPercent / 100) * appendMs * 1000 / appended;
  ctx.log(`  appended ${appended.toLocaleString('en-US')} at ${append.toFixed(0)} msg/s; replaying`);

  const usage = new UsageSampler(ctx.broker.pid);
  usage.start();
  const conn = await ctx.driver.connect(ctx.broker.url);
  let delivered = 0;
  let firstAt = 0;
  let lastAt = 0;
  let done: () => void = () => undefined;
  const drained = new Promise<void>((r) => (done = r));
  const prefetch = ctx.options.prefetch;
  const r0 = performance.now();
  await conn.consume(STREAM, { noAck: false, prefetch, route: STREAM, arguments: { 'x-stream-offset': 'first' }, ackEvery: Math.max(1, prefetch >> 1) }, () => {
    const now = performance.now();
    if (delivered++ === 0) firstAt = now;
    lastAt = now;
    if (delivered >= appended) done();
  });
  let seen = -1;
  while (delivered < appended && delivered !== seen) {
    seen = delivered;
    await Promise.race([drained, sleep(30_000)]);
  }
  const replayMs = performance.now() - r0;
  const ru = usage.stop();
  const replay = delivered > 1 ? (delivered - 1) / ((lastAt - firstAt) / 1000) : 0;
  const replayCpu = delivered > 0 ? (ru.cpuPercent / 100) * replayMs * 1000 / delivered : 0;
  await conn.close();
  const admin = await ctx.driver.connect(ctx.broker.url);
  await admin.deleteQueue(STREAM).catch(() => undefined);
  await admin.close();
  return { append, appendCpu, appendRss: up.peakRss / 2 ** 20, replay, replayCpu, replayRss: ru.peakRss / 2 ** 20, replayed: delivered, store: skiffStore(ctx) };
}

export const streams: Scenario = {
  name: 'streams',
  title: 'Streams: append to one stream, then replay it from disk',
  about:
    'Two publishers (agents of their own) append N persistent messages with confirms (≤ `outstanding` in flight each) to one stream (`x-queue-type: stream`); then one consumer reads it from `x-stream-offset: first` with prefetch as in throughput, acking with `multiple` every half window. Rates are messages over each phase\'s wall time (replay: first to last delivery); broker CPU µs/msg is its CPU time over the phase divided by the messages (what a loaded machine blurs least); RSS is the peak sampled every 200 ms. RabbitMQ runs its stream queue (3.10, over AMQP 0-9-1). The replay reads from disk: Skiff keeps only the newest 8 MiB of a stream in memory.',
  brokers: ['skiff', 'skiff-amqp', 'rabbitmq'],
  freshBroker: true,
  columns: COLUMNS,
  primary: { key: 'replay', better: 'higher' },
  variants(o: BenchOptions): Variant[] {
    const big = Math.max(1, Math.floor(o.streamMessages / 10));
    return [
      { label: `${o.streamMessages.toLocaleString('en-US')} × 128 B`, run: (ctx) => streamRun(ctx, o.streamMessages, 128) },
      { label: `${big.toLocaleString('en-US')} × 1 KiB`, run: (ctx) => streamRun(ctx, big, 1024) },
    ];
  },
};
