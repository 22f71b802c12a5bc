/**
 * RabbitMQ for the side-by-side runs: Debian's rabbitmq-server, installed with apt-get if
 * missing, started as a private node — bound to 127.0.0.1 only, its own epmd on a free port,
 * its own node name, Mnesia and log directories under a temp dir, no plugins unless asked (the
 * management and Prometheus plugins, for the HTTP scenario) — and stopped by
 * signalling only the processes this module started. A system RabbitMQ, if any, is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { outDir } from '../paths.js';
import { findDescendant, commOf, freePort } from '../proc.js';
import { stopChild, track, waitForPort, type BrokerHandle } from './broker.js';
import { debianVersion, ensureDebianPackage } from './install.js';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const EPMD = '/usr/bin/epmd';

export function ensureRabbitMQ(): boolean {
  return ensureDebianPackage('rabbitmq-server', SERVER);
}

export interface RabbitHandle extends BrokerHandle {
  readonly port: number;
  /** From spawning the node to its AMQP port accepting connections, ms (the last boot). */
  readonly startMs: number;
  /** Stops the node gracefully and boots it again on the same data (the restore scenario). */
  restart(): Promise<{ spawnedAt: number; acceptMs: number }>;
}

export interface RabbitOptions {
  /** Enable rabbitmq_management and rabbitmq_prometheus, each on a free 127.0.0.1 port. */
  management?: boolean;
}

/** Starts a private RabbitMQ node. Throws if it cannot be installed or does not come up. */
export async function startRabbitMQ(options: RabbitOptions = {}): Promise<RabbitHandle> {
  if (!ensureRabbitMQ()) throw new Error('rabbitmq-server is not available');
  const base = mkdtempSync(`${tmpdir()}/skiff-bench-rabbitmq-`);
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  const [mgmtPort, promPort] = options.management === true ? [await freePort(), await freePort()] : [0, 0];
  const node = `skiffbench${process.pid}@localhost`;
  const conf = [`listeners.tcp.default = 127.0.0.1:${port}`];
  if (options.management === true) {
    conf.push(`management.tcp.ip = 127.0.0.1`, `management.tcp.port = ${mgmtPort}`, `prometheus.tcp.ip = 127.0.0.1`, `prometheus.tcp.port = ${promPort}`);
  }
  writeFileSync(`${base}/rabbitmq.conf`, `${conf.join('\n')}\n`);
  writeFileSync(`${base}/enabled_plugins`, options.management === true ? '[rabbitmq_management,rabbitmq_prometheus].\n' : '[].\n');
  const log = openSync(`${outDir('logs')}/rabbitmq-${port}.log`, 'a');

  // Our own epmd, in the foreground so we own its pid and stop it; the default one would be a
  // shared daemon on all interfaces that outlives us.
  const epmd = spawn(EPMD, ['-port', String(epmdPort), '-address', '127.0.0.1'], { stdio: ['ignore', log, log] });
  track(epmd);
  await waitForPort(epmdPort, 10_000, epmd);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: base, // the Erlang cookie is created here, not in the user's home
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: `${base}/mnesia`,
    RABBITMQ_LOG_BASE: `${base}/log`,
    RABBITMQ_CONFIG_FILE: `${base}/rabbitmq.conf`,
    RABBITMQ_ADVANCED_CONFIG_FILE: `${base}/advanced.config`,
    RABBITMQ_ENABLED_PLUGINS_FILE: `${base}/enabled_plugins`,
    RABBITMQ_CONF_ENV_FILE: `${base}/rabbitmq-env.conf`,
    RABBITMQ_PID_FILE: `${base}/rabbitmq.pid`,
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };

  let server: ChildProcess | null = null;
  let beam = 0;
  let startMs = 0;
  const boot = async (): Promise<{ spawnedAt: number; acceptMs: number }> => {
    const t0 = performance.now();
    const child = spawn(SERVER, [], { env, cwd: base, stdio: ['ignore', log, log] });
    server = child;
    track(child);
    await waitForPort(port, 120_000, child, 10);
    if (mgmtPort !== 0) await waitForPort(mgmtPort, 60_000, child, 50);
    startMs = performance.now() - t0;
    // The script stays as a signal-forwarding parent of the VM: measure the VM.
    beam = findDescendant(child.pid as number, (p) => commOf(p) === 'beam.smp') ?? (child.pid as number);
    track(beam);
    return { spawnedAt: t0, acceptMs: startMs };
  };
  const halt = async (): Promise<void> => {
    const s = server;
    server = null;
    if (s === null) return;
    const vm = beam;
    await stopChild(s, 60_000);
    // If the wrapper went first, make sure its VM (our grandchild) is gone too.
    if (vm !== 0 && commOf(vm) === 'beam.smp') {
      try {
        process.kill(vm, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };

  try {
    await boot();
  } catch (err) {
    await halt();
    await stopChild(epmd, 2000);
    throw new Error(`RabbitMQ did not start: ${(err as Error).message} (log: bench/out/logs/rabbitmq-${port}.log, ${base}/log)`);
  }

  return {
    kind: 'rabbitmq',
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    get pid() {
      return beam;
    },
    get startMs() {
      return startMs;
    },
    port,
    ...(mgmtPort !== 0 && { http: { api: `http://127.0.0.1:${mgmtPort}`, metrics: `http://127.0.0.1:${promPort}` } }),
    version: debianVersion('rabbitmq-server'),
    async restart() {
      await halt();
      return boot();
    },
    async stop(): Promise<void> {
      await halt();
      await stopChild(epmd, 5000);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
