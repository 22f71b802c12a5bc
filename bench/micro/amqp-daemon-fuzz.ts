/**
 * Fuzzes the running daemon's AMQP listener with at least a million random and mutated frames:
 *
 *   npm run bench:build && node bench/dist/bench/micro/amqp-daemon-fuzz.js [--frames 1000000] [--seed 1] [--concurrency 64]
 *
 * Starts `skiff server` (built dist/, in-memory defaults, every listener on a free port), then
 * opens connections `concurrency` at a time, each getting past the handshake and sending one
 * random or mutated stream (test/helpers/amqp-daemon-fuzz.ts). Every 2,000 connections it
 * probes the daemon with amqplib (declare, publish, get), samples its RSS, and deletes the
 * queues the fuzz declared (over the HTTP API), so memory measures leaks rather than queues
 * the frames legitimately made. Fails (exit 1) if the daemon exits or a probe fails; prints
 * frames, connections, frames/s and the daemon's RSS at start, peak and end.
 */
import amqplib from 'amqplib';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fuzzDaemon } from '../../test/helpers/amqp-daemon-fuzz.js';
import { Random } from '../../test/helpers/random.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const target = arg('--frames', 1_000_000);
const seed = arg('--seed', 1);
const concurrency = arg('--concurrency', 64);

const bin = fileURLToPath(new URL('../../../../dist/cli/skiff.js', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'skiff-amqp-fuzz-'));
const child = spawn(process.execPath, [bin, 'server', '--log-format', 'json', '--log-level', 'warn'], {
  env: { ...process.env, SKIFF_PORT: '0', SKIFF_AMQP_PORT: '0', SKIFF_HTTP_PORT: '0', SKIFF_DATA_DIR: dataDir, SKIFF_LOG_LEVEL: 'info' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let exited: number | null | undefined;
child.on('exit', (code) => (exited = code));
const ports = await new Promise<{ amqp: number; http: number }>((resolve, reject) => {
  let partial = '';
  let http = 0;
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    const lines = (partial + s).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const r = JSON.parse(line) as { msg?: string; port?: number; amqpPort?: number };
      if (r.msg === 'http listening') http = r.port ?? 0;
      if (r.msg === 'skiff listening') resolve({ amqp: r.amqpPort ?? 0, http });
    }
  });
  child.on('exit', () => reject(new Error('the daemon exited before listening')));
});

const rssMB = (): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  return m === null ? 0 : Math.round(Number(m[1]) / 1024);
};
const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

async function probe(): Promise<void> {
  const c = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${ports.amqp}`);
  const ch = await c.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('probe'));
  for (let i = 0; i < 100; i++) {
    const m = await ch.get(queue, { noAck: true });
    if (m !== false) {
      if (m.content.toString() !== 'probe') throw new Error('the probe came back changed');
      await c.close();
      return;
    }
  }
  throw new Error('the probe message never arrived');
}

async function dropFuzzQueues(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${ports.http}/api/queues`, { headers: { authorization: auth } });
  const body = (await res.json()) as { name: string }[] | { error?: string; reason?: string };
  if (!Array.isArray(body)) throw new Error(`GET /api/queues: ${res.status} ${JSON.stringify(body)}`);
  const rows = body;
  for (const q of rows) {
    await fetch(`http://127.0.0.1:${ports.http}/api/queues/%2F/${encodeURIComponent(q.name)}`, { method: 'DELETE', headers: { authorization: auth } });
  }
  return rows.length;
}

const rssStart = rssMB();
let rssPeak = rssStart;
let queuesDropped = 0;
const t0 = performance.now();
try {
  const r = await fuzzDaemon(ports.amqp, new Random(seed), {
    frames: target,
    concurrency,
    every: 2000,
    async between(done) {
      if (exited !== undefined) throw new Error(`the daemon exited (${exited}) after ${done.frames} frames`);
      await probe();
      queuesDropped += await dropFuzzQueues();
      rssPeak = Math.max(rssPeak, rssMB());
      process.stderr.write(`${done.frames} frames, ${done.connections} connections, rss ${rssMB()} MB\n`);
    },
  });
  await probe();
  queuesDropped += await dropFuzzQueues();
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'amqp-daemon-fuzz',
      seed,
      frames: r.frames,
      connections: r.connections,
      seconds: +secs.toFixed(1),
      framesPerSec: Math.round(r.frames / secs),
      queuesDropped,
      rssStartMB: rssStart,
      rssPeakMB: Math.max(rssPeak, rssMB()),
      rssEndMB: rssMB(),
      daemonUp: exited === undefined,
    })}\n`,
  );
} catch (err) {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}
