import { Admin } from '../../../src/client/admin.js';
import { connect, type Connection } from '../../../src/client/index.js';
import { Agents, sleep } from '../harness.js';
import { rssBytes, UsageSampler } from '../proc.js';
import type { ConsumerRole } from '../roles.js';
import { cleanup, declareTopology, type BenchOptions, type Column, type Metrics, type RunContext, type Scenario, type Variant } from '../scenario.js';
import { publisher } from './throughput.js';

const EXCHANGE = 'bench.delay.x';
const DUE = 'bench.delay.due';
const LOAD_X = 'bench.delay.load.x';
const LOAD_Q = 'bench.delay.load.q';
const BODY = 128;
/** Messages whose firing is timed, and the spread of their delays. */
const TIMED = 20_000;
const TIMED_MIN_MS = 2000;
const TIMED_SPREAD_MS = 10_000;
/** Background publish load while they fire (transient, to another queue with a consumer). */
const LOAD_RATE = 10_000;
const SETTLE_MS = 3000;
const HOUR = 3_600_000;

const COLUMNS: Column[] = [
  { key: 'fill', label: 'schedule msg/s (confirmed)', better: 'higher', digits: 0 },
  { key: 'scheduled', label: 'scheduled', digits: 0 },
  { key: 'baseMB', label: 'RSS before MB', digits: 0 },
  { key: 'heldMB', label: 'RSS holding them MB', better: 'lower', digits: 0 },
  { key: 'peakMB', label: 'peak RSS while firing MB', better: 'lower', digits: 0 },
  { key: 'p50', label: 'late p50 ms', better: 'lower', digits: 2 },
  { key: 'p99', label: 'late p99 ms', better: 'lower', digits: 2 },
  { key: 'max', label: 'late max ms', better: 'lower', digits: 2 },
  { key: 'early', label: 'early', better: 'lower', digits: 0 },
  { key: 'fired', label: 'timed fired', digits: 0 },
  { key: 'loadRecv', label: 'load msg/s delivered', digits: 0 },
];

const mb = (b: number): number => b / 2 ** 20;
/** Wall-clock ms with sub-ms resolution (the broker's clock is Date.now on the same machine). */
const nowMs = (): number => performance.timeOrigin + performance.now();

/** Publishes with confirms, at most `inFlight` unconfirmed at a time. */
async function confirmed(n: number, inFlight: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function run(ctx: RunContext, n: number): Promise<Metrics> {
  const conn: Connection = await connect(ctx.broker.url, { heartbeatMs: 0, reconnect: false });
  const pid = ctx.broker.pid;
  try {
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareExchange(EXCHANGE, 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
    await ch.declareQueue(DUE, { durable: true });
    await ch.bindQueue(DUE, EXCHANGE, 'due');
    await declareTopology(ctx.admin, LOAD_X, 'direct', [LOAD_Q]);
    await sleep(SETTLE_MS);
    const base = rssBytes(pid) ?? 0;

    // 1. The far schedule: n persistent messages due in 1–2 h, routed nowhere meanwhile.
    const body = Buffer.alloc(BODY, 0x61);
    const t0 = performance.now();
    await confirmed(n, ctx.options.outstanding, (i) => ch.publish(EXCHANGE, 'later', body, { persistent: true, headers: { 'x-delay': HOUR + ((i * 7919) % HOUR) } }));
    const fill = n / ((performance.now() - t0) / 1000);
    await sleep(SETTLE_MS);
    const held = rssBytes(pid) ?? 0;
    const admin = new Admin(conn);
    const scheduled = (await admin.exchanges()).find((x) => x.name === EXCHANGE)?.messagesDelayed ?? -1;
    ctx.log(`scheduled ${scheduled} at ${fill.toFixed(0)} msg/s; RSS ${mb(held).toFixed(0)} MB`);

    // 2. Timed messages fire under a publish load, with the far schedule still held.
    const lateness = new Float64Array(TIMED);
    let fired = 0;
    let early = 0;
    const allFired = new Promise<void>((resolve) => {
      void ch.consume(
        DUE,
        (m) => {
          const late = nowMs() - m.body.readDoubleBE(0);
          if (late < -1) early++;
          lateness[fired++] = late;
          if (fired === TIMED) resolve();
        },
        { noAck: true },
      );
    });
    const consumer: ConsumerRole = { kind: 'consumer', queues: [{ name: LOAD_Q, route: LOAD_Q }], perConnection: 1, noAck: true, prefetch: 1000 };
    const agents = await Agents.start({
      broker: ctx.broker.kind,
      url: ctx.broker.url,
      groups: [[consumer], [publisher({ exchange: LOAD_X, keys: [LOAD_Q], bodySize: BODY, rate: LOAD_RATE })]],
    });
    const usage = new UsageSampler(pid);
    let loadRecv = 0;
    try {
      agents.go();
      await sleep(1000);
      agents.mark();
      usage.start();
      const started = performance.now();
      const pubCh = await conn.channel();
      await pubCh.confirmSelect();
      await confirmed(TIMED, 64, (i) => {
        const delay = TIMED_MIN_MS + ((i * 4973) % TIMED_SPREAD_MS);
        const b = Buffer.alloc(BODY);
        // The due time as the broker will compute it (receipt + delay), stamped just before sending.
        b.writeDoubleBE(nowMs() + delay, 0);
        return pubCh.publish(EXCHANGE, 'due', b, { persistent: true, headers: { 'x-delay': delay } });
      });
      await Promise.race([allFired, sleep(TIMED_MIN_MS + TIMED_SPREAD_MS + 60_000)]);
      const secs = (performance.now() - started) / 1000;
      const reports = await agents.report();
      loadRecv = reports.reduce((s, r) => s + r.received, 0) / secs;
    } finally {
      await agents.close();
    }
    const u = usage.stop();
    const sorted = lateness.slice(0, fired).sort();
    return {
      fill,
      scheduled,
      baseMB: mb(base),
      heldMB: mb(held),
      peakMB: mb(u.peakRss),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.length === 0 ? NaN : (sorted[sorted.length - 1] as number),
      early,
      fired,
      loadRecv,
    };
  } finally {
    await ch0Cleanup(conn);
    await cleanup(ctx.admin, [LOAD_Q], [LOAD_X]).catch(() => undefined);
    await conn.close().catch(() => undefined);
  }
}

/** Deleting the exchange drops what it still holds. */
async function ch0Cleanup(conn: Connection): Promise<void> {
  try {
    const ch = await conn.channel();
    await ch.deleteExchange(EXCHANGE);
    await ch.deleteQueue(DUE);
  } catch {
    // already gone
  }
}

export const delayed: Scenario = {
  name: 'delayed',
  title: 'Delayed messages: a million scheduled, and firing accuracy under load',
  about: `A durable \`x-delayed-message\` exchange. First N persistent ${BODY} B messages are scheduled 1–2 h ahead (confirmed, --outstanding in flight, 2,000 by default), and broker RSS is read 3 s later. Then, with those still held and a paced ${LOAD_RATE.toLocaleString('en-US')} msg/s transient load through another queue (forked agents), ${TIMED.toLocaleString('en-US')} persistent messages with delays of 2–12 s are published; each body carries its due time (publish time + delay, wall clock), and the consumer (noAck, in the harness process) records how late it arrives. RabbitMQ is not compared: Debian's rabbitmq-server does not ship the rabbitmq_delayed_message_exchange plugin.`,
  brokers: ['skiff'],
  freshBroker: true,
  columns: COLUMNS,
  primary: { key: 'p99', better: 'lower' },
  variants(o: BenchOptions): Variant[] {
    return [{ label: `${o.delayedMessages.toLocaleString('en-US')} scheduled ${BODY} B`, run: (ctx) => run(ctx, o.delayedMessages) }];
  },
};
