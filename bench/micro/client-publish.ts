/**
 * The client's own cost per published message, for each publishing form:
 *
 *   npm run bench:build && node bench/dist/bench/micro/client-publish.js [--messages 300000] [--runs 3]
 *       [--client path/to/dist/src/client/index.js] [--forms await,fire,...]
 *
 * A Skiff daemon runs in its own process; this process publishes 128 B messages to a direct
 * exchange with no bindings (the broker drops them at once, so its work stays small and
 * constant), and measures its own CPU time (user + system, `process.cpuUsage`) and wall time
 * from the first publish until the last message was written (or confirmed). `--client a,b`
 * loads other builds of the client (an older commit's; `this` is this one) and interleaves them
 * run by run, to compare the forms they share; forms a build lacks are skipped. The best run of
 * each is printed, with the CPU µs/msg spread over all runs.
 */
import { startSkiff } from '../macro/brokers/skiff.js';

interface ChannelLike {
  declareExchange(name: string, type: string): Promise<void>;
  confirmSelect(): Promise<void>;
  publish(exchange: string, key: string, body: Buffer): Promise<void>;
  tryPublish?(exchange: string, key: string, body: Buffer, options?: object, onConfirm?: (err: Error | null) => void): boolean;
  waitForDrain?(): Promise<void>;
  close(): Promise<void>;
}
interface ConnectionLike {
  channel(): Promise<ChannelLike>;
  close(): Promise<void>;
}
type ConnectFn = (url: string, options?: object) => Promise<ConnectionLike>;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const N = Number(arg('messages', '300000'));
const RUNS = Number(arg('runs', '3'));
const ownClient = new URL('../../src/client/index.js', import.meta.url).pathname;
/** Comma-separated builds of the client; several are run interleaved, in one process, against one broker. */
const clientPaths = arg('client', ownClient).split(',').map((c) => (c === 'this' ? ownClient : c));
const EXCHANGE = 'bench.sink';
const body = Buffer.alloc(128, 7);

/** One publishing form: publishes N messages and resolves when they are all written or confirmed. */
interface Form {
  name: string;
  about: string;
  confirm: boolean;
  available(ch: ChannelLike): boolean;
  run(ch: ChannelLike, n: number): Promise<void>;
}

const FORMS: Form[] = [
  {
    name: 'await',
    about: '`await ch.publish()` on every message (backpressure honoured per message)',
    confirm: false,
    available: () => true,
    async run(ch, n) {
      for (let i = 0; i < n; i++) await ch.publish(EXCHANGE, 'k', body);
    },
  },
  {
    name: 'await-1000',
    about: '`ch.publish()`, awaiting every 1000th promise',
    confirm: false,
    available: () => true,
    async run(ch, n) {
      for (let i = 0; i < n; i++) {
        const p = ch.publish(EXCHANGE, 'k', body);
        if (i % 1000 === 999) await p;
      }
    },
  },
  {
    name: 'try',
    about: '`ch.tryPublish()`, `await ch.waitForDrain()` when it returns false',
    confirm: false,
    available: (ch) => typeof ch.tryPublish === 'function',
    async run(ch, n) {
      const tryPublish = ch.tryPublish as NonNullable<ChannelLike['tryPublish']>;
      for (let i = 0; i < n; i++) {
        while (!tryPublish.call(ch, EXCHANGE, 'k', body)) await (ch.waitForDrain as () => Promise<void>).call(ch);
      }
      await (ch.waitForDrain as () => Promise<void>).call(ch);
    },
  },
  {
    name: 'confirm-promise',
    about: 'confirm mode, `ch.publish()` promise per message, at most 2000 unconfirmed',
    confirm: true,
    available: () => true,
    async run(ch, n) {
      let confirmed = 0;
      let sent = 0;
      let wake: (() => void) | null = null;
      const ok = (): void => {
        confirmed++;
        wake?.();
      };
      while (confirmed < n) {
        while (sent < n && sent - confirmed < 2000) {
          ch.publish(EXCHANGE, 'k', body).then(ok, ok);
          sent++;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
  },
  {
    name: 'confirm-callback',
    about: 'confirm mode, `ch.tryPublish(…, onConfirm)`, at most 2000 unconfirmed',
    confirm: true,
    available: (ch) => typeof ch.tryPublish === 'function',
    async run(ch, n) {
      const tryPublish = ch.tryPublish as NonNullable<ChannelLike['tryPublish']>;
      let confirmed = 0;
      let sent = 0;
      let wake: (() => void) | null = null;
      const done = (): void => {
        confirmed++;
        wake?.();
      };
      while (confirmed < n) {
        while (sent < n && sent - confirmed < 2000) {
          if (!tryPublish.call(ch, EXCHANGE, 'k', body, undefined, done)) break;
          sent++;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
  },
];

interface Sample {
  cpuUsPerMsg: number;
  msgPerS: number;
}

async function measure(connect: ConnectFn, url: string, form: Form): Promise<Sample | null> {
  const conn = await connect(url, { heartbeatMs: 0 });
  try {
    const ch = await conn.channel();
    if (!form.available(ch)) return null;
    await ch.declareExchange(EXCHANGE, 'direct');
    if (form.confirm) await ch.confirmSelect();
    await form.run(ch, Math.min(20_000, N)); // warm-up: JIT and buffers
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await form.run(ch, N);
    if (!form.confirm) await ch.declareExchange(EXCHANGE, 'direct'); // a round trip: every publish has left
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { cpuUsPerMsg: (cpu.user + cpu.system) / N, msgPerS: N / (wallMs / 1000) };
  } finally {
    await conn.close();
  }
}

const only = arg('forms', '').split(',').filter((s) => s !== '');
const forms = only.length > 0 ? FORMS.filter((f) => only.includes(f.name)) : FORMS;
const clients = await Promise.all(clientPaths.map(async (path) => ({ path, connect: ((await import(path)) as { connect: ConnectFn }).connect })));
const broker = await startSkiff();
try {
  const samples = new Map<string, Sample[]>();
  for (let r = 0; r < RUNS; r++) {
    for (const f of forms) {
      for (const c of clients) {
        const s = await measure(c.connect, broker.url, f);
        const key = `${c.path}\u0000${f.name}`;
        if (s !== null) samples.set(key, [...(samples.get(key) ?? []), s]);
      }
    }
  }
  console.log(`${N.toLocaleString('en-US')} messages of ${body.length} B, best of ${RUNS}`);
  console.log('| form | client | client CPU µs/msg (best, range) | msg/s (best) |');
  console.log('| --- | --- | ---: | ---: |');
  for (const f of forms) {
    for (const c of clients) {
      const ss = samples.get(`${c.path}\u0000${f.name}`);
      if (ss === undefined) continue;
      const cpus = ss.map((s) => s.cpuUsPerMsg).sort((a, b) => a - b);
      const rate = Math.max(...ss.map((s) => s.msgPerS));
      const label = c.path === ownClient ? 'this' : c.path;
      console.log(`| ${f.about} | ${label} | ${cpus[0]?.toFixed(2)} (${cpus[0]?.toFixed(2)}–${cpus[cpus.length - 1]?.toFixed(2)}) | ${Math.round(rate).toLocaleString('en-US')} |`);
    }
  }
} finally {
  await broker.stop();
}
