import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { externalBroker, waitForPort, type BrokerHandle } from './brokers/broker.js';
import { startNats } from './brokers/nats.js';
import { startRabbitMQ, type RabbitHandle } from './brokers/rabbitmq.js';
import { startSkiff, type SkiffHandle } from './brokers/skiff.js';
import { loadDriver, type BrokerKind } from './driver.js';
import { pidListeningOn } from './proc.js';
import type { BenchOptions, Metrics, RunContext, Scenario } from './scenario.js';

export interface RunRequest {
  scenarios: readonly Scenario[];
  brokers: readonly BrokerKind[];
  options: BenchOptions;
  /** Each variant runs this many times per broker; the best run (by the scenario's primary metric) is reported. */
  runs: number;
  /** Only variants whose label contains this. */
  variantFilter?: string;
  /** Drive a broker that is already running instead of starting one. */
  url?: string;
  pid?: number;
  /** Extra options for the Skiff daemons this run starts (profilers). */
  skiff?: Parameters<typeof startSkiff>[0];
  log(message: string): void;
}

export interface VariantResult {
  scenario: string;
  variant: string;
  broker: BrokerKind;
  metrics: Metrics;
  /** Every run's metrics, best included. */
  runs: Metrics[];
  errors: string[];
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  ramGiB: number;
  node: string;
  kernel: string;
  loadAtStart: number[];
}

export interface RunResults {
  startedAt: string;
  finishedAt: string;
  commit: string;
  machine: MachineInfo;
  versions: Partial<Record<BrokerKind, string>>;
  options: BenchOptions;
  runs: number;
  results: VariantResult[];
}

export function machineInfo(): MachineInfo {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  return {
    cpu,
    cores: cpus().length,
    ramGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
    loadAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

interface Lease {
  handle: BrokerHandle;
  restart: RunContext['restart'];
  dataDir: string | null;
  release(): Promise<void>;
}

/**
 * Hands out brokers: a fresh Skiff daemon per run (it starts in a fraction of a second), one
 * RabbitMQ node and one NATS server shared by the whole run (RabbitMQ takes seconds to boot;
 * every variant deletes what it declared), or a fresh one of those too for scenarios that
 * measure memory (a runtime rarely hands freed memory back, so a used node skews RSS deltas).
 */
class BrokerPool {
  private readonly shared = new Map<BrokerKind, Promise<BrokerHandle>>();
  readonly versions: Partial<Record<BrokerKind, string>> = {};

  constructor(private readonly req: RunRequest) {}

  async lease(kind: BrokerKind, fresh: boolean, http = false): Promise<Lease> {
    const { url } = this.req;
    if (url !== undefined) {
      const port = Number(new URL(url).port);
      const pid = this.req.pid ?? pidListeningOn(port) ?? 0;
      if (pid === 0) this.req.log(`could not find the process listening on port ${port}: broker CPU/RSS will read 0 (give --pid)`);
      return { handle: externalBroker(kind, url, pid), restart: null, dataDir: null, release: async () => undefined };
    }
    if (kind === 'skiff' || kind === 'skiff-amqp') {
      const h: SkiffHandle = await startSkiff(this.req.skiff);
      this.versions[kind] = h.version;
      this.versions.skiff = h.version;
      // The same daemon, reached through its AMQP listener by the RabbitMQ driver; that listener
      // binds after the native one, which is what startSkiff waited for.
      if (kind === 'skiff-amqp') await waitForPort(h.amqpPort, 10_000);
      const handle: BrokerHandle = kind === 'skiff' ? h : { kind, url: `amqp://guest:guest@127.0.0.1:${h.amqpPort}`, pid: h.pid, version: h.version, stop: () => h.stop() };
      return { handle, restart: (signal) => h.restart(signal), dataDir: h.dataDir, release: () => h.stop() };
    }
    const start = (): Promise<BrokerHandle> => (kind === 'rabbitmq' ? startRabbitMQ({ management: http }) : startNats());
    // A node with the management plugin is never shared: the plugin's cost would skew the other scenarios.
    let p = fresh || http ? start() : this.shared.get(kind);
    if (p === undefined) {
      p = start();
      this.shared.set(kind, p);
    }
    const h = await p;
    this.versions[kind] = h.version;
    const restart = kind === 'rabbitmq' ? () => (h as RabbitHandle).restart() : null;
    return { handle: h, restart, dataDir: null, release: fresh || http ? () => h.stop() : async () => undefined };
  }

  async close(): Promise<void> {
    for (const p of this.shared.values()) await (await p.catch(() => null))?.stop();
    this.shared.clear();
  }
}

function isBetter(a: Metrics, b: Metrics | null, key: string, better: 'higher' | 'lower'): boolean {
  if (b === null) return true;
  const x = a[key];
  const y = b[key];
  if (typeof x !== 'number') return false;
  if (typeof y !== 'number') return true;
  return better === 'higher' ? x > y : x < y;
}

/**
 * Runs scenarios × variants × brokers, interleaving brokers per variant so that noise from
 * anything else on the machine hits both sides of a ratio alike.
 */
export async function runBench(req: RunRequest): Promise<RunResults> {
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const pool = new BrokerPool(req);
  const results: VariantResult[] = [];
  const unavailable = new Set<BrokerKind>();
  try {
    for (const scenario of req.scenarios) {
      for (const variant of scenario.variants(req.options)) {
        if (req.variantFilter !== undefined && !variant.label.includes(req.variantFilter)) continue;
        for (const kind of req.brokers) {
          if (!scenario.brokers.includes(kind) || (variant.brokers !== undefined && !variant.brokers.includes(kind))) continue;
          if (unavailable.has(kind)) continue;
          const vr: VariantResult = { scenario: scenario.name, variant: variant.label, broker: kind, metrics: {}, runs: [], errors: [] };
          let best: Metrics | null = null;
          for (let run = 1; run <= req.runs; run++) {
            req.log(`${scenario.name} / ${variant.label} / ${kind} — run ${run} of ${req.runs}`);
            let lease: Lease;
            try {
              lease = await pool.lease(kind, scenario.freshBroker === true, scenario.http === true);
            } catch (err) {
              req.log(`  ${kind} unavailable: ${(err as Error).message}`);
              unavailable.add(kind);
              vr.errors.push((err as Error).message);
              break;
            }
            const driver = await loadDriver(kind);
            try {
              const admin = await driver.connect(lease.handle.url);
              try {
                const m = await variant.run({
                  broker: lease.handle,
                  driver,
                  options: req.options,
                  admin,
                  restart: lease.restart,
                  dataDir: lease.dataDir,
                  log: (s) => req.log(`  ${s}`),
                });
                vr.runs.push(m);
                req.log(`  ${summaryLine(m)}`);
                if (isBetter(m, best, scenario.primary.key, scenario.primary.better)) best = m;
              } finally {
                await admin.close().catch(() => undefined);
              }
            } catch (err) {
              req.log(`  failed: ${(err as Error).stack ?? String(err)}`);
              vr.errors.push((err as Error).message);
            } finally {
              await lease.release();
            }
          }
          vr.metrics = best ?? {};
          results.push(vr);
        }
      }
    }
  } finally {
    await pool.close();
  }
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    commit: gitCommit(),
    machine,
    versions: pool.versions,
    options: req.options,
    runs: req.runs,
    results,
  };
}

function summaryLine(m: Metrics): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100) : v}`)
    .join(' ');
}
