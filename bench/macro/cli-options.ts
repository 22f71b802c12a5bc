import { parseArgs } from 'node:util';
import type { BrokerKind } from './driver.js';
import { DEFAULT_OPTIONS, type BenchOptions } from './scenario.js';

export const OPTION_HELP = `Options:
  --brokers <list>        skiff,skiff-amqp,rabbitmq,nats (default: skiff; skiff-amqp = Skiff's AMQP listener with amqplib)
  --amqp-client <name>    amqplib or cloudamqp (@cloudamqp/amqp-client): the client for skiff-amqp and rabbitmq (default amqplib)
  --url <url>             drive a running broker (skiff://, amqp://, nats://) instead of starting one
  --pid <pid>             its process, for CPU/RSS (found from the port when omitted)
  --runs <n>              runs per cell, best reported (default 1)
  --variant <text>        only variants whose label contains this
  --duration <s>          measurement window (default ${DEFAULT_OPTIONS.durationMs / 1000})
  --warmup <s>            discarded warm-up (default ${DEFAULT_OPTIONS.warmupMs / 1000})
  --max-lag <n>           max-rate runs: pause publishing past n in flight, 0 = never (default ${DEFAULT_OPTIONS.maxLag})
  --colocate              publisher and consumer in one load process (default: one process each)
  --prefetch <n>          consumer prefetch (default ${DEFAULT_OPTIONS.prefetch})
  --sizes <list>          throughput body sizes in bytes (default ${DEFAULT_OPTIONS.sizes.join(',')})
  --rates <list>          latency publish rates, msg/s (default ${DEFAULT_OPTIONS.rates.join(',')})
  --fanout-queues <list>  fanout queue counts (default ${DEFAULT_OPTIONS.fanoutQueues.join(',')})
  --fanout-rate <n>       fanout publish rate, msg/s (default ${DEFAULT_OPTIONS.fanoutRate})
  --fanout-procs <n>      load processes the fanout consumers are spread over (default ${DEFAULT_OPTIONS.fanoutProcs})
  --outstanding <n>       durable: unconfirmed messages in flight (default ${DEFAULT_OPTIONS.outstanding})
  --restore-messages <n>  restore: messages in the store (default ${DEFAULT_OPTIONS.restoreMessages})
  --backlog-messages <n>  backlog: persistent 1 KiB messages queued in one durable queue (default ${DEFAULT_OPTIONS.backlogMessages})
  --stream-messages <n>   streams: messages appended to the stream at 128 B (default ${DEFAULT_OPTIONS.streamMessages}; a tenth at 1 KiB)
  --memory-messages <n>   memory: queued messages (default ${DEFAULT_OPTIONS.memoryMessages})
  --idle-connections <n>  memory: idle connections (default ${DEFAULT_OPTIONS.idleConnections})
  --delayed-messages <n>  delayed: persistent messages scheduled far ahead (default ${DEFAULT_OPTIONS.delayedMessages})
  --json <file>           also write the raw results as JSON`;

export interface ParsedCli {
  positionals: string[];
  options: BenchOptions;
  brokers: BrokerKind[];
  runs: number;
  variant?: string;
  url?: string;
  pid?: number;
  json?: string;
  /** bench:all: print only, leave RESULTS.md alone. */
  noWrite: boolean;
  help: boolean;
}

const KINDS: readonly BrokerKind[] = ['skiff', 'skiff-amqp', 'rabbitmq', 'nats'];

function num(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: '${v}'`);
  return n;
}

function list(name: string, v: string | undefined, fallback: number[]): number[] {
  return v === undefined ? fallback : v.split(',').map((x) => num(name, x, 0));
}

function kindOfUrl(url: string): BrokerKind {
  if (url.startsWith('skiff:')) return 'skiff';
  if (url.startsWith('amqp:')) return 'rabbitmq';
  if (url.startsWith('nats:')) return 'nats';
  throw new Error(`--url: unknown scheme in '${url}' (skiff://, amqp:// or nats://)`);
}

export function parseCli(argv: string[], defaults: { brokers: BrokerKind[]; runs: number }): ParsedCli {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      brokers: { type: 'string' },
      url: { type: 'string' },
      'amqp-client': { type: 'string' },
      pid: { type: 'string' },
      runs: { type: 'string' },
      variant: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'max-lag': { type: 'string' },
      colocate: { type: 'boolean' },
      prefetch: { type: 'string' },
      sizes: { type: 'string' },
      rates: { type: 'string' },
      'fanout-queues': { type: 'string' },
      'fanout-rate': { type: 'string' },
      'fanout-procs': { type: 'string' },
      outstanding: { type: 'string' },
      'restore-messages': { type: 'string' },
      'backlog-messages': { type: 'string' },
      'stream-messages': { type: 'string' },
      'memory-messages': { type: 'string' },
      'delayed-messages': { type: 'string' },
      'idle-connections': { type: 'string' },
      json: { type: 'string' },
      'no-write': { type: 'boolean' },
    },
  });
  const d = DEFAULT_OPTIONS;
  const options: BenchOptions = {
    durationMs: num('duration', v.duration, d.durationMs / 1000) * 1000,
    warmupMs: num('warmup', v.warmup, d.warmupMs / 1000) * 1000,
    maxLag: num('max-lag', v['max-lag'], d.maxLag),
    colocate: v.colocate ?? d.colocate,
    prefetch: num('prefetch', v.prefetch, d.prefetch),
    sizes: list('sizes', v.sizes, d.sizes),
    rates: list('rates', v.rates, d.rates),
    fanoutQueues: list('fanout-queues', v['fanout-queues'], d.fanoutQueues),
    fanoutRate: num('fanout-rate', v['fanout-rate'], d.fanoutRate),
    fanoutProcs: Math.max(1, num('fanout-procs', v['fanout-procs'], d.fanoutProcs)),
    outstanding: num('outstanding', v.outstanding, d.outstanding),
    restoreMessages: num('restore-messages', v['restore-messages'], d.restoreMessages),
    backlogMessages: num('backlog-messages', v['backlog-messages'], d.backlogMessages),
    streamMessages: num('stream-messages', v['stream-messages'], d.streamMessages),
    memoryMessages: num('memory-messages', v['memory-messages'], d.memoryMessages),
    idleConnections: num('idle-connections', v['idle-connections'], d.idleConnections),
    delayedMessages: num('delayed-messages', v['delayed-messages'], d.delayedMessages),
  };
  const amqpClient = v['amqp-client'];
  if (amqpClient !== undefined) {
    if (amqpClient !== 'amqplib' && amqpClient !== 'cloudamqp') throw new Error(`--amqp-client: unknown client '${amqpClient}' (amqplib, cloudamqp)`);
    // An environment variable, so the forked load agents pick the same client.
    process.env['SKIFF_BENCH_AMQP_CLIENT'] = amqpClient;
  }
  let brokers = defaults.brokers;
  if (v.brokers !== undefined) {
    brokers = v.brokers.split(',').map((b) => {
      if (!KINDS.includes(b as BrokerKind)) throw new Error(`--brokers: unknown broker '${b}' (skiff, skiff-amqp, rabbitmq, nats)`);
      return b as BrokerKind;
    });
  }
  if (v.url !== undefined) brokers = [kindOfUrl(v.url)];
  return {
    positionals,
    options,
    brokers,
    runs: num('runs', v.runs, defaults.runs),
    help: v.help ?? false,
    noWrite: v['no-write'] ?? false,
    ...(v.variant !== undefined && { variant: v.variant }),
    ...(v.url !== undefined && { url: v.url }),
    ...(v.pid !== undefined && { pid: num('pid', v.pid, 0) }),
    ...(v.json !== undefined && { json: v.json }),
  };
}
