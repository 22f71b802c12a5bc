import { connect, type ReconnectOptions } from '../../../src/client/index.js';
import type { BenchOptions, Column, Metrics, RunContext, Scenario, Variant } from '../scenario.js';

/**
 * How soon a consumer is back after its broker restarts: time from the broker accepting TCP
 * connections again to the first delivery on the recovered consumer, over N restarts.
 *
 * The consumer (the shipped client, in the harness process so both timestamps come from one
 * clock) holds one persistent, confirmed message unacked when the broker goes; after the
 * restart the broker has it ready again, so the first delivery comes as soon as the client has
 * reconnected, declared its queue again and resumed its consumer: the time measured is the
 * client's recovery, not a publisher's.
 */

const QUEUE = 'bench.recovery.q';
const RESTARTS = 20;

const COLUMNS: Column[] = [
  { key: 'restarts', label: 'restarts', digits: 0 },
  { key: 'p50', label: 'accepting → first delivery p50 ms', better: 'lower', digits: 0 },
  { key: 'p99', label: 'p99 ms', better: 'lower', digits: 0 },
  { key: 'max', label: 'max ms', better: 'lower', digits: 0 },
  { key: 'restartMs', label: 'broker down → accepting, mean ms', digits: 0 },
  { key: 'attempts', label: 'reconnect attempts, mean', digits: 1 },
];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function recoveryRun(ctx: RunContext, signal: NodeJS.Signals, reconnect: ReconnectOptions): Promise<Metrics> {
  const restart = ctx.restart;
  if (restart === null) return { restarts: 'needs a broker the bench starts (not --url)' };
  const conn = await connect(ctx.broker.url, { heartbeatMs: 0, reconnect });
  try {
    const ch = await conn.channel();
    await ch.declareQueue(QUEUE, { durable: true });
    await ch.purgeQueue(QUEUE);
    const pub = await conn.channel();
    await pub.confirmSelect();
    let firstDelivery: ((at: number) => void) | null = null;
    let held: { ack(): void } | null = null;
    await ch.consume(
      QUEUE,
      (m) => {
        held = m;
        firstDelivery?.(performance.now());
      },
      { prefetch: 1 },
    );
    let attempts = 0;
    conn.on('reconnecting', () => attempts++);
    const samples: number[] = [];
    const downMs: number[] = [];
    for (let i = 0; i < RESTARTS; i++) {
      // One message delivered and held unacked when the broker goes.
      const delivered = new Promise<number>((r) => (firstDelivery = r));
      await pub.publish('', QUEUE, `r${i}`, { persistent: true });
      await delivered;
      const redelivered = new Promise<number>((r) => (firstDelivery = r));
      const stoppedAt = performance.now();
      const { spawnedAt, acceptMs } = await restart(signal);
      const acceptedAt = spawnedAt + acceptMs;
      downMs.push(acceptedAt - stoppedAt);
      const at = await redelivered;
      samples.push(at - acceptedAt);
      firstDelivery = null;
      (held as { ack(): void } | null)?.ack();
      ctx.log(`  restart ${i + 1}/${RESTARTS}: first delivery ${(at - acceptedAt).toFixed(0)} ms after accepting`);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    return {
      restarts: RESTARTS,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? null,
      restartMs: downMs.reduce((s, x) => s + x, 0) / downMs.length,
      attempts: attempts / RESTARTS,
    };
  } finally {
    await conn.close();
  }
}

export const recovery: Scenario = {
  name: 'recovery',
  title: 'Recovery: a consumer of the shipped client across broker restarts',
  about: `Time from the restarted broker accepting TCP connections (polled every 5 ms) to the first delivery on the client's recovered consumer, over ${RESTARTS} restarts per variant; the consumer holds one persistent message unacked when the broker goes, so it is ready at once after the restart. "SIGTERM" is a graceful stop (the daemon closes connections with CONNECTION_FORCED), "SIGKILL" a crash. With the default reconnect options the time is mostly the backoff: the client retries at growing intervals (100 ms, ×2, jittered by up to half) while the broker is down, and the broker comes back between two attempts.`,
  brokers: ['skiff'],
  freshBroker: true,
  columns: COLUMNS,
  primary: { key: 'p99', better: 'lower' },
  variants(_o: BenchOptions): Variant[] {
    const fast: ReconnectOptions = { initialDelayMs: 10, maxDelayMs: 100 };
    return [
      { label: 'SIGTERM, default reconnect options', run: (ctx) => recoveryRun(ctx, 'SIGTERM', {}) },
      { label: 'SIGKILL, default reconnect options', run: (ctx) => recoveryRun(ctx, 'SIGKILL', {}) },
      { label: 'SIGKILL, reconnect { initialDelayMs: 10, maxDelayMs: 100 }', run: (ctx) => recoveryRun(ctx, 'SIGKILL', fast) },
    ];
  },
};
