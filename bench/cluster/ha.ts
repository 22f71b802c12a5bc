/**
 * The high-availability bench (issue 17): durable confirmed throughput of a three-node cluster
 * with 0, 1 and 2 synchronous followers against one node alone and against RabbitMQ quorum
 * queues (Debian's 3.10, one node); replication lag under that load; and failover time over
 * repeated leader kills. Everything on loopback, etcd and RabbitMQ started privately on free
 * ports, every process stopped by the pid this script started.
 *
 *   npm run bench:build && node bench/dist/bench/cluster/ha.js [--kills 20] [--window 5]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { connect, type Connection } from '../../src/client/index.js';
import { startRabbitMQ } from '../macro/brokers/rabbitmq.js';
import { SKIFF_CLI } from '../macro/paths.js';
import { cpuMs, freePort } from '../macro/proc.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const WINDOW_S = opt('window', 5);
const KILLS = opt('kills', 20);
const BODY = Buffer.alloc(1024, 7);
/** Publishes in flight (unconfirmed) per publisher. */
const IN_FLIGHT = 500;
const TTL_S = 2;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean> | boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await Promise.resolve(cond()).catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function startEtcd(): Promise<{ url: string; stop: () => void; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const p = spawn('/usr/bin/etcd', [
    '--data-dir', join(dir, 'data'), '--name', 'b',
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `b=http://127.0.0.1:${peer}`,
  ], { stdio: 'ignore' });
  children.add(p);
  const url = `http://127.0.0.1:${client}`;
  await until(() => fetch(`${url}/health`).then((r) => r.ok), 'etcd');
  return { url, dir, stop: () => { p.kill('SIGKILL'); children.delete(p); rmSync(dir, { recursive: true, force: true }); } };
}

interface Node {
  name: string;
  port: number;
  http: number;
  dir: string;
  env: Record<string, string>;
  proc: ChildProcess | null;
}

function startNode(n: Node): void {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SKIFF_')) env[k] = v;
  const p = spawn(process.execPath, [SKIFF_CLI, 'server', '--log-format', 'json', '--log-level', 'warn'], {
    env: { ...env, SKIFF_HOST: '127.0.0.1', SKIFF_PORT: String(n.port), SKIFF_AMQP_ENABLED: 'false', SKIFF_HTTP_PORT: String(n.http), SKIFF_DATA_DIR: n.dir, ...n.env },
    stdio: 'ignore',
  });
  children.add(p);
  p.on('exit', () => children.delete(p));
  n.proc = p;
}

function kill(n: Node): Promise<void> {
  const p = n.proc;
  n.proc = null;
  if (p === null || p.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  });
}

const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
async function clusterStatus(n: Node): Promise<{ role: string; replication: { inSync: string[]; followers: { lagBytes: number; lagSeconds: number }[] } | null } | null> {
  const r = await fetch(`http://127.0.0.1:${n.http}/api/cluster`, { headers: auth, signal: AbortSignal.timeout(1000) });
  return r.ok ? ((await r.json()) as never) : null;
}

/** A three-node cluster (or one plain node with `sync` null). */
async function startSkiff(sync: number | null): Promise<{ nodes: Node[]; etcd: { stop: () => void } | null; root: string }> {
  const root = mkdtempSync(join(tmpdir(), 'skiff-bench-ha-'));
  if (sync === null) {
    const n: Node = { name: 'alone', port: await freePort(), http: await freePort(), dir: join(root, 'alone'), env: {}, proc: null };
    startNode(n);
    await until(() => clusterStatus(n).then(() => true), 'the node');
    return { nodes: [n], etcd: null, root };
  }
  const etcd = await startEtcd();
  const nodes: Node[] = [];
  for (let i = 1; i <= 3; i++) {
    nodes.push({
      name: `n${i}`, port: await freePort(), http: await freePort(), dir: join(root, `n${i}`), proc: null,
      env: {
        SKIFF_CLUSTER_ENABLED: 'true', SKIFF_CLUSTER_ETCD_ENDPOINTS: etcd.url, SKIFF_CLUSTER_NAME: 'bench', SKIFF_CLUSTER_NODE_NAME: `n${i}`,
        SKIFF_CLUSTER_REPLICATION_PORT: '0', SKIFF_CLUSTER_SYNC_FOLLOWERS: String(sync), SKIFF_CLUSTER_LEASE_TTL_S: String(TTL_S),
      },
    });
  }
  for (const n of nodes) startNode(n);
  await until(async () => {
    for (const n of nodes) {
      const s = await clusterStatus(n).catch(() => null);
      if (s?.role === 'leader' && s.replication?.inSync.length === 3) return true;
    }
    return false;
  }, 'the cluster in sync');
  return { nodes, etcd, root };
}

async function leaderOf(nodes: Node[]): Promise<Node> {
  let found: Node | null = null;
  await until(async () => {
    for (const n of nodes) {
      if (n.proc === null) continue;
      const s = await clusterStatus(n).catch(() => null);
      if (s?.role === 'leader') {
        found = n;
        return true;
      }
    }
    return false;
  }, 'a leader');
  return found as unknown as Node;
}

interface Cell {
  label: string;
  msgs: number;
  seconds: number;
  cpuUsPerMsg: number | null;
  maxLagBytes: number | null;
  maxLagSeconds: number | null;
}

/** Publishes 1 KiB persistent messages with confirms, IN_FLIGHT outstanding, for the window. */
async function skiffCell(label: string, sync: number | null): Promise<Cell> {
  const { nodes, etcd, root } = await startSkiff(sync);
  const leader = sync === null ? (nodes[0] as Node) : await leaderOf(nodes);
  const conn: Connection = await connect(nodes.map((n) => `skiff://guest:guest@127.0.0.1:${n.port}`), { heartbeatMs: 0 });
  const ch = await conn.channel();
  await ch.declareQueue('bench.ha', { durable: true });
  await ch.confirmSelect();
  let confirmed = 0;
  let running = true;
  let inFlight = 0;
  const w: { wake: (() => void) | null } = { wake: null };
  const pump = (async () => {
    while (running) {
      while (inFlight < IN_FLIGHT && running) {
        inFlight++;
        void ch.publish('', 'bench.ha', BODY, { persistent: true }).then(
          () => {
            confirmed++;
            inFlight--;
            w.wake?.();
          },
          () => {
            inFlight--;
            w.wake?.();
          },
        );
      }
      await new Promise<void>((r) => (w.wake = r));
    }
  })();
  await sleep(1000);
  let maxLagBytes = 0;
  let maxLagSeconds = 0;
  const sampler = setInterval(() => {
    void clusterStatus(leader).then((s) => {
      for (const f of s?.replication?.followers ?? []) {
        maxLagBytes = Math.max(maxLagBytes, f.lagBytes);
        maxLagSeconds = Math.max(maxLagSeconds, f.lagSeconds);
      }
    }, () => undefined);
  }, 100);
  const c0 = confirmed;
  const cpu0 = cpuMs(leader.proc?.pid as number) ?? 0;
  const t0 = performance.now();
  await sleep(WINDOW_S * 1000);
  const msgs = confirmed - c0;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuMs(leader.proc?.pid as number) ?? 0;
  clearInterval(sampler);
  running = false;
  w.wake?.();
  await Promise.race([pump, sleep(2000)]);
  await conn.close().catch(() => undefined);
  for (const n of nodes) await kill(n);
  etcd?.stop();
  rmSync(root, { recursive: true, force: true });
  return { label, msgs, seconds, cpuUsPerMsg: msgs === 0 ? null : ((cpu1 - cpu0) * 1000) / msgs, maxLagBytes: sync === null ? null : maxLagBytes, maxLagSeconds: sync === null ? null : maxLagSeconds };
}

async function rabbitCell(): Promise<Cell> {
  const r = await startRabbitMQ();
  try {
    const conn = await amqplib.connect(r.url);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('bench.ha', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    let confirmed = 0;
    let running = true;
    let inFlight = 0;
    const w: { wake: (() => void) | null } = { wake: null };
    const pump = (async () => {
      while (running) {
        while (inFlight < IN_FLIGHT && running) {
          inFlight++;
          ch.sendToQueue('bench.ha', BODY, { persistent: true }, (err) => {
            if (err == null) confirmed++;
            inFlight--;
            w.wake?.();
          });
        }
        await new Promise<void>((res) => (w.wake = res));
      }
    })();
    await sleep(1000);
    const c0 = confirmed;
    const cpu0 = cpuMs(r.pid) ?? 0;
    const t0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const msgs = confirmed - c0;
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuMs(r.pid) ?? 0;
    running = false;
    w.wake?.();
    await Promise.race([pump, sleep(2000)]);
    await conn.close().catch(() => undefined);
    return { label: 'RabbitMQ 3.10 quorum queue (1 node)', msgs, seconds, cpuUsPerMsg: ((cpu1 - cpu0) * 1000) / msgs, maxLagBytes: null, maxLagSeconds: null };
  } finally {
    await r.stop();
  }
}

/** Kill -9 the leader under a confirming publisher: time from the kill to the next confirm. */
async function failovers(): Promise<number[]> {
  const { nodes, etcd, root } = await startSkiff(1);
  const conn = await connect(nodes.map((n) => `skiff://guest:guest@127.0.0.1:${n.port}`), {
    heartbeatMs: 1000,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200, maxAttempts: Infinity },
  });
  const ch = await conn.channel();
  await ch.declareQueue('bench.failover', { durable: true });
  await ch.confirmSelect();
  let lastConfirm = 0;
  let running = true;
  const pump = (async () => {
    while (running) {
      await ch.publish('', 'bench.failover', BODY, { persistent: true }).then(
        () => (lastConfirm = performance.now()),
        () => sleep(10),
      );
    }
  })();
  const times: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    const leader = await leaderOf(nodes);
    await until(async () => (await clusterStatus(leader))?.replication?.inSync.length === 3, 'all in sync before the kill');
    await until(() => performance.now() - lastConfirm < 50, 'confirms flowing');
    const killedAt = performance.now();
    await kill(leader);
    // Confirms the dying leader sent before it was gone do not count: the first one after its exit.
    const goneAt = performance.now();
    await until(() => lastConfirm > goneAt, 'a confirm after the kill');
    times.push(lastConfirm - killedAt);
    process.stderr.write(`kill ${k + 1}: ${Math.round(lastConfirm - killedAt)} ms\n`);
    startNode(leader);
  }
  running = false;
  await Promise.race([pump, sleep(2000)]);
  await conn.close().catch(() => undefined);
  for (const n of nodes) await kill(n);
  etcd?.stop();
  rmSync(root, { recursive: true, force: true });
  return times;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

async function main(): Promise<void> {
  const load = loadavg().map((x) => x.toFixed(2)).join(' / ');
  const cells: Cell[] = [];
  if (!args.includes('--failover-only')) {
    cells.push(await skiffCell('Skiff alone (no cluster)', null));
    for (const sync of [0, 1, 2]) cells.push(await skiffCell(`Skiff 3 nodes, ${sync} sync follower${sync === 1 ? '' : 's'}`, sync));
    if (!args.includes('--no-rabbitmq')) cells.push(await rabbitCell());
  }
  const loadAfterCells = loadavg().map((x) => x.toFixed(2)).join(' / ');
  const times = KILLS > 0 ? await failovers() : [];
  const out: string[] = [];
  out.push(`- Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; load average at start ${load}, after the throughput cells ${loadAfterCells}, at the end ${loadavg().map((x) => x.toFixed(2)).join(' / ')}`);
  out.push(`- 1 publisher, 1 KiB persistent messages to one durable queue, publisher confirms, ${IN_FLIGHT} unconfirmed at most; ${WINDOW_S} s window after 1 s warm-up; no consumer`);
  out.push('');
  out.push('| setup | confirmed msg/s | leader CPU µs/msg | max follower lag (bytes) | max follower lag (s) |');
  out.push('| --- | ---: | ---: | ---: | ---: |');
  const base = cells[0] as Cell;
  for (const c of cells.length === 0 ? [] : cells) {
    const rate = c.msgs / c.seconds;
    const ratio = c === base ? '' : ` (${(rate / (base.msgs / base.seconds)).toFixed(2)}× alone)`;
    out.push(`| ${c.label} | ${Math.round(rate).toLocaleString('en-US')}${ratio} | ${c.cpuUsPerMsg === null ? '' : c.cpuUsPerMsg.toFixed(1)} | ${c.maxLagBytes === null ? '' : c.maxLagBytes.toLocaleString('en-US')} | ${c.maxLagSeconds === null ? '' : c.maxLagSeconds.toFixed(3)} |`);
  }
  if (times.length > 0) {
    out.push('');
    out.push(`Failover, ${times.length} leader kills (kill -9) under a confirming publisher with every node's URL, lease TTL ${TTL_S} s, 1 sync follower: kill → next confirm p50 ${Math.round(pct(times, 50))} ms, p99 ${Math.round(pct(times, 99))} ms, max ${Math.round(Math.max(...times))} ms, min ${Math.round(Math.min(...times))} ms.`);
  }
  console.log(out.join('\n'));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
