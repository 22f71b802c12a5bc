import type { BrokerHandle } from './brokers/broker.js';
import type { BenchConnection, BenchDriver, BrokerKind } from './driver.js';
import { Agents, sleep, type AgentOptions } from './harness.js';
import { mergeHistograms, summarize } from './latency.js';
import { UsageSampler } from './proc.js';
import type { AgentReport } from './roles.js';

export interface BenchOptions {
  /** Measurement window and the warm-up discarded before it, ms. */
  durationMs: number;
  warmupMs: number;
  /** Max-rate runs: publishers pause while this many messages are published but not yet consumed (0 = unbounded). */
  maxLag: number;
  /** Run publisher and consumer in one agent process instead of one each. */
  colocate: boolean;
  prefetch: number;
  /** Body sizes for throughput, rates for latency, queue counts and rate for fanout. */
  sizes: number[];
  rates: number[];
  fanoutQueues: number[];
  fanoutRate: number;
  /** Load processes the fanout consumers are spread over (the publisher runs in the first). */
  fanoutProcs: number;
  /** Durable: the most unconfirmed messages a publisher keeps in flight. */
  outstanding: number;
  restoreMessages: number;
  /** Backlog: persistent 1 KiB messages queued in one durable queue before it is drained. */
  backlogMessages: number;
  /** Streams: messages appended at 128 B (a tenth of it at 1 KiB) before they are replayed. */
  streamMessages: number;
  memoryMessages: number;
  idleConnections: number;
  /** Delayed: persistent messages scheduled an hour or more ahead while firing accuracy is measured. */
  delayedMessages: number;
}

export const DEFAULT_OPTIONS: BenchOptions = {
  durationMs: 4000,
  warmupMs: 1000,
  maxLag: 20_000,
  colocate: false,
  prefetch: 1000,
  sizes: [128, 4096],
  rates: [10_000, 50_000],
  fanoutQueues: [1000, 5000],
  fanoutRate: 20,
  fanoutProcs: 1,
  outstanding: 2000,
  restoreMessages: 1_000_000,
  backlogMessages: 10_000_000,
  streamMessages: 10_000_000,
  memoryMessages: 1_000_000,
  idleConnections: 1000,
  delayedMessages: 1_000_000,
};

/** A restart of the broker on its own data: when it was spawned and how long until it accepted connections. */
export interface Restarted {
  spawnedAt: number;
  acceptMs: number;
}

export interface RunContext {
  broker: BrokerHandle;
  driver: BenchDriver;
  options: BenchOptions;
  /** A connection from the harness process for declaring and inspecting topology. */
  admin: BenchConnection;
  /** Restarts the broker on the same data (stopped with `signal`, SIGTERM by default); null for a broker given with `--url`. */
  restart: ((signal?: NodeJS.Signals) => Promise<Restarted>) | null;
  /** The Skiff daemon's data directory, when this run started it. */
  dataDir: string | null;
  log(message: string): void;
}

export type Metrics = Record<string, number | string | null>;

export interface Variant {
  label: string;
  /** Brokers this variant applies to; all of the scenario's when absent. */
  brokers?: BrokerKind[];
  run(ctx: RunContext): Promise<Metrics>;
}

export interface Column {
  key: string;
  label: string;
  /** Which way is better, for ratios and for picking the best of several runs. */
  better?: 'higher' | 'lower';
  digits?: number;
}

export interface Scenario {
  name: string;
  title: string;
  /** What the numbers mean, for RESULTS.md. */
  about: string;
  brokers: BrokerKind[];
  /** Every run gets a broker of its own, even where one is otherwise shared (RabbitMQ, NATS). */
  freshBroker?: boolean;
  /** Needs the broker's HTTP API and metrics (RabbitMQ then runs its management and Prometheus plugins). */
  http?: boolean;
  columns: Column[];
  /** The metric that decides which of several runs is reported. */
  primary: { key: string; better: 'higher' | 'lower' };
  variants(o: BenchOptions): Variant[];
}

/** Columns of every publish → route → deliver scenario. */
export const FLOW_COLUMNS: Column[] = [
  { key: 'pub', label: 'published msg/s', better: 'higher', digits: 0 },
  { key: 'recv', label: 'delivered msg/s', better: 'higher', digits: 0 },
  { key: 'p50', label: 'p50 ms', better: 'lower', digits: 2 },
  { key: 'p99', label: 'p99 ms', better: 'lower', digits: 2 },
  { key: 'p999', label: 'p99.9 ms', better: 'lower', digits: 2 },
  { key: 'cpu', label: 'broker CPU %', digits: 0 },
  { key: 'cpuPerMsg', label: 'broker CPU µs/msg', better: 'lower', digits: 2 },
  { key: 'rss', label: 'broker RSS MB', better: 'lower', digits: 0 },
  { key: 'clientCpu', label: 'load CPU %', digits: 0 },
];

export interface FlowPlan extends Omit<AgentOptions, 'broker' | 'url'> {
  /** Copies of each message the consumers get in all (fanout: the number of queues). */
  copies?: number;
  /** How long to wait after publishing stops for the last deliveries. */
  drainMs?: number;
}

export interface FlowResult {
  metrics: Metrics;
  windowReports: AgentReport[];
  finalReports: AgentReport[];
  publishedTotal: number;
  receivedTotal: number;
  allDelivered: boolean;
}

const sum = (rs: AgentReport[], f: (r: AgentReport) => number): number => rs.reduce((s, r) => s + f(r), 0);

/**
 * The common measurement: start the agents, publish, discard the warm-up, measure a window
 * (rates, broker CPU and peak RSS), stop publishing, wait for the last deliveries, and take the
 * latency histogram over everything delivered since the window opened.
 */
export async function runFlow(ctx: RunContext, plan: FlowPlan): Promise<FlowResult> {
  const o = ctx.options;
  const t0 = performance.now();
  const agents = await Agents.start({ ...plan, broker: ctx.broker.kind, url: ctx.broker.url });
  const setupS = (performance.now() - t0) / 1000;
  try {
    const sampler = new UsageSampler(ctx.broker.pid);
    agents.go();
    await sleep(o.warmupMs);
    agents.mark();
    sampler.start();
    await sleep(o.durationMs);
    const windowReports = await agents.report();
    const usage = sampler.stop();
    await agents.stopPublishing();
    const copies = plan.copies ?? 1;
    const publishedTotal = agents.publishedTotal;
    const allDelivered = await agents.waitReceived(publishedTotal * copies, plan.drainMs ?? 30_000);
    const finalReports = await agents.report();
    const windowS = Math.max(...windowReports.map((r) => r.windowMs)) / 1000;
    const received = sum(windowReports, (r) => r.received);
    const lat = summarize(mergeHistograms(finalReports.map((r) => r.histogram)));
    const errors = finalReports.flatMap((r) => r.errors);
    if (errors.length > 0) ctx.log(`agent errors: ${errors.slice(0, 3).join('; ')}`);
    return {
      metrics: {
        pub: sum(windowReports, (r) => r.published) / windowS,
        recv: received / windowS,
        confirmed: sum(windowReports, (r) => r.confirmed) / windowS,
        p50: lat.p50Ms,
        p99: lat.p99Ms,
        p999: lat.p999Ms,
        max: lat.maxMs,
        cpu: usage.cpuPercent,
        // CPU time per delivered message: robust to other load on the machine, unlike rates.
        cpuPerMsg: received > 0 ? (usage.cpuPercent / 100) * windowS * 1e6 / received : null,
        rss: usage.peakRss / 2 ** 20,
        clientCpu: (100 * sum(windowReports, (r) => r.cpuMs)) / (windowS * 1000),
        setupS,
      },
      windowReports,
      finalReports,
      publishedTotal,
      receivedTotal: agents.receivedTotal,
      allDelivered,
    };
  } finally {
    await agents.close();
  }
}

/** Runs `f` over `items`, `size` at a time (pipelined on one channel, without flooding it). */
export async function inBatches<T>(items: readonly T[], size: number, f: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(f));
}

/** Declares a direct or fanout exchange and its queues, each bound with its own name as key. */
export async function declareTopology(admin: BenchConnection, exchange: string, type: 'direct' | 'fanout', queues: readonly string[], durable = false): Promise<void> {
  await admin.declareExchange(exchange, type, durable);
  await inBatches(queues, 200, (q) => admin.declareQueue(q, durable));
  await inBatches(queues, 200, (q) => admin.bindQueue(q, exchange, type === 'direct' ? q : ''));
}

/** Deletes queues and exchanges a variant declared, ignoring ones already gone. */
export async function cleanup(admin: BenchConnection, queues: readonly string[], exchanges: readonly string[]): Promise<void> {
  await inBatches(queues, 200, (q) => admin.deleteQueue(q).catch(() => undefined));
  for (const x of exchanges) await admin.deleteExchange(x).catch(() => undefined);
}
