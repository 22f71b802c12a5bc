import { cpuMs } from '../proc.js';
import type { RunContext, Scenario, Variant } from '../scenario.js';
import { inBatches } from '../scenario.js';
import { oneQueue } from './throughput.js';

const AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
/** Message rate of the flow whose latency is watched while the HTTP API is scraped. */
const FLOW_RATE = 2000;
/** How often the scraping client lists every queue while the flow runs. */
const LIST_EVERY_MS = 500;

/** One GET, timed from request to the last byte; throws on a non-2xx status. */
async function timed(url: string): Promise<{ ms: number; bytes: number; text: string }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { authorization: AUTH } });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 200)}`);
  return { ms, bytes: Buffer.byteLength(text), text };
}

/** The median of `n` timed GETs, after one untimed (caches, JIT). */
async function median(url: string, n: number): Promise<number> {
  await timed(url);
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push((await timed(url)).ms);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/** skiff_event_loop_delay_max_seconds: the daemon's longest event-loop stall since the last scrape. */
function loopMaxMs(metrics: string): number | null {
  const m = /^skiff_event_loop_delay_max_seconds (\S+)$/m.exec(metrics);
  return m === null ? null : Number(m[1]) * 1000;
}

async function scrape(ctx: RunContext, queues: number): Promise<Record<string, number | string | null>> {
  const http = ctx.broker.http;
  if (http === undefined) throw new Error('the broker has no HTTP API here (SKIFF_HTTP_ENABLED=false?)');
  const names = Array.from({ length: queues }, (_, i) => `bench.http.${String(i).padStart(5, '0')}`);
  const t0 = performance.now();
  await inBatches(names, 200, (q) => ctx.admin.declareQueue(q, false));
  ctx.log(`declared ${queues} queues in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  try {
    const isSkiff = ctx.broker.kind === 'skiff';
    const list = await timed(`${http.api}/api/queues`);
    ctx.log(`/api/queues: ${(list.bytes / 2 ** 20).toFixed(1)} MiB`);
    // CPU time the broker spends on one full listing: unlike wall time, other load on the machine does not inflate it.
    const cpu0 = cpuMs(ctx.broker.pid);
    for (let i = 0; i < 3; i++) await timed(`${http.api}/api/queues`);
    const cpu1 = cpuMs(ctx.broker.pid);
    const out: Record<string, number | string | null> = {
      queues,
      apiQueuesCpuMs: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / 3,
      apiQueuesMs: await median(`${http.api}/api/queues`, 5),
      apiPageMs: await median(`${http.api}/api/queues?page=1&page_size=100&sort=name`, 5),
      apiSortedMs: await median(`${http.api}/api/queues?page=1&page_size=100&sort=messages&sort_reverse=true`, 3),
      metricsMs: await median(`${http.metrics}/metrics`, 5),
      perObjectMs: await median(`${http.metrics}/metrics/per-object`, 3),
      listMiB: list.bytes / 2 ** 20,
    };
    // Message latency without, then with, a client listing every queue back to back.
    const idle = await oneQueue(ctx, 128, false, FLOW_RATE);
    let scraping = true;
    let scrapes = 0;
    let loopMax: number | null = null;
    if (isSkiff) await timed(`${http.metrics}/metrics`);
    // A scraper polling every LIST_EVERY_MS (a dashboard, an exporter), or back to back when a listing takes longer.
    const loop = (async () => {
      while (scraping) {
        const started = performance.now();
        await timed(`${http.api}/api/queues`);
        scrapes++;
        const rest = LIST_EVERY_MS - (performance.now() - started);
        if (rest > 0 && scraping) await new Promise((r) => setTimeout(r, rest));
      }
    })();
    let busy;
    try {
      busy = await oneQueue(ctx, 128, false, FLOW_RATE);
    } finally {
      scraping = false;
      await loop;
    }
    if (isSkiff) loopMax = loopMaxMs((await timed(`${http.metrics}/metrics`)).text);
    return {
      ...out,
      p99Idle: idle['p99'] ?? null,
      p99Scraping: busy['p99'] ?? null,
      maxScraping: busy['max'] ?? null,
      scrapesPerS: scrapes / ((ctx.options.durationMs + ctx.options.warmupMs) / 1000),
      loopMaxMs: loopMax,
    };
  } finally {
    await inBatches(names, 200, (q) => ctx.admin.deleteQueue(q).catch(() => undefined));
  }
}

export const http: Scenario = {
  name: 'http',
  title: 'HTTP API and metrics: scrape times with many queues, and message latency while /api/queues is listed',
  about: `N queues are declared; the broker's CPU time for a full /api/queues is measured over 3 listings (from /proc, so other load on the machine does not inflate it); each endpoint is fetched once untimed, then timed (median of 5, of 3 for per-object and sorted pages) from request to last byte, with guest credentials from the same machine: /api/queues (every queue, every field), a page of 100 by name and by depth, /metrics (aggregated) and /metrics/per-object. Then a ${FLOW_RATE.toLocaleString('en-US')} msg/s flow (1 publisher → 1 queue → 1 consumer, 128 B, manual ack) runs twice: alone, and while a client lists every queue (/api/queues) every ${LIST_EVERY_MS} ms, or back to back when a listing takes longer; p99 and max are its publish→consume latency. For Skiff, "event loop max" is the longest event-loop stall the daemon saw while being listed (skiff_event_loop_delay_max_seconds). RabbitMQ runs its management and Prometheus plugins (3.10, rabbitmq_prometheus on its own port).`,
  brokers: ['skiff', 'rabbitmq'],
  freshBroker: true,
  http: true,
  columns: [
    { key: 'apiQueuesMs', label: '/api/queues ms', better: 'lower', digits: 1 },
    { key: 'apiQueuesCpuMs', label: '/api/queues broker CPU ms', better: 'lower', digits: 1 },
    { key: 'apiPageMs', label: 'page of 100 ms', better: 'lower', digits: 1 },
    { key: 'apiSortedMs', label: 'page by depth ms', better: 'lower', digits: 1 },
    { key: 'metricsMs', label: '/metrics ms', better: 'lower', digits: 1 },
    { key: 'perObjectMs', label: 'per-object ms', better: 'lower', digits: 1 },
    { key: 'listMiB', label: 'list MiB', digits: 1 },
    { key: 'p99Idle', label: 'p99 ms alone', better: 'lower', digits: 2 },
    { key: 'p99Scraping', label: 'p99 ms listed', better: 'lower', digits: 2 },
    { key: 'maxScraping', label: 'max ms listed', better: 'lower', digits: 1 },
    { key: 'loopMaxMs', label: 'event loop max ms', digits: 1 },
    { key: 'scrapesPerS', label: 'lists/s', digits: 1 },
  ],
  primary: { key: 'apiQueuesMs', better: 'lower' },
  variants(): Variant[] {
    return [1000, 10_000].map((n) => ({ label: `${n.toLocaleString('en-US')} queues`, run: (ctx) => scrape(ctx, n) }));
  },
};
