import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { VERSION } from '../../../src/version.js';
import { outDir, SKIFF_CLI } from '../paths.js';
import { cmdlineOf, findDescendant, freePort } from '../proc.js';
import { stopChild, track, waitForPort, type BrokerHandle } from './broker.js';

export interface SkiffStartOptions {
  /** Data directory (SKIFF_DATA_DIR); a fresh temp dir, removed on stop, when absent. */
  dataDir?: string;
  port?: number;
  /** Runs the daemon under another program, e.g. `['clinic', 'doctor', '--']`; the pid we measure is then found below it. */
  wrap?: string[];
  /** Extra node flags (`--cpu-prof`, ...). */
  nodeArgs?: string[];
  /** Signal that stops it (clinic wants SIGINT to write its report). */
  stopSignal?: NodeJS.Signals;
  /** How long stop may take before SIGKILL (a profiler writing its report needs a while). */
  stopGraceMs?: number;
}

export interface SkiffHandle extends BrokerHandle {
  readonly port: number;
  /** The HTTP listener's port (SKIFF_HTTP_ENABLED=false in the environment turns it off). */
  readonly httpPort: number;
  /** The AMQP 0-9-1 listener's port (stock AMQP clients reach the same broker there). */
  readonly amqpPort: number;
  readonly dataDir: string;
  /** From spawn to the first accepted TCP connection, ms (the last start). */
  readonly startMs: number;
  /** Stops the daemon (gracefully, or with `signal`) and starts it again on the same data directory and port. */
  restart(signal?: NodeJS.Signals): Promise<{ spawnedAt: number; acceptMs: number }>;
}

/** Starts `node dist/cli/skiff.js server` in its own process on a free 127.0.0.1 port. */
export async function startSkiff(o: SkiffStartOptions = {}): Promise<SkiffHandle> {
  const port = o.port ?? (await freePort());
  const httpPort = await freePort();
  const amqpPort = await freePort();
  const ownDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(`${tmpdir()}/skiff-bench-`);
  const logName = `bench/out/logs/skiff-${port}.log`;
  const log = openSync(`${outDir('logs')}/skiff-${port}.log`, 'a');
  const wrap = o.wrap ?? [];
  // SKIFF_BENCH_BROKER_NODE_ARGS: extra node flags for the daemon (e.g. --trace-gc), like the agents'.
  const extra = (process.env['SKIFF_BENCH_BROKER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const argv = [...extra, ...(o.nodeArgs ?? []), SKIFF_CLI, 'server'];
  const [cmd, ...args] = wrap.length > 0 ? [...wrap, process.execPath, ...argv] : [process.execPath, ...argv];

  let child: ChildProcess | null = null;
  let pid = 0;
  let startMs = 0;
  const launch = async (): Promise<{ spawnedAt: number; acceptMs: number }> => {
    const spawnedAt = performance.now();
    const c = spawn(cmd as string, args, {
      env: {
        SKIFF_HTTP_PORT: String(httpPort),
        SKIFF_AMQP_PORT: String(amqpPort),
        // Every load connection comes from 127.0.0.1: no per-IP cap on WebSockets.
        SKIFF_WS_MAX_CONNECTIONS_PER_IP: '0',
        ...process.env,
        SKIFF_PORT: String(port),
        SKIFF_HOST: '127.0.0.1',
        SKIFF_DATA_DIR: dataDir,
      },
      stdio: ['ignore', log, log],
    });
    child = c;
    track(c);
    try {
      // 5 ms polls: the restore scenario times this.
      await waitForPort(port, 120_000, c, 5);
    } catch (err) {
      await stopChild(c, 2000);
      throw new Error(`skiff did not start: ${(err as Error).message} (log: ${logName})`);
    }
    startMs = performance.now() - spawnedAt;
    // Under a wrapper (clinic is itself node) the daemon is the descendant running skiff.js.
    pid = wrap.length > 0 ? (findDescendant(c.pid as number, (p) => p !== c.pid && cmdlineOf(p).includes(SKIFF_CLI)) ?? (c.pid as number)) : (c.pid as number);
    if (pid !== c.pid) track(pid);
    return { spawnedAt, acceptMs: startMs };
  };
  const halt = async (signal?: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = null;
    // Under a wrapper, signal the daemon itself: the wrapper writes its report once its child
    // exits (0x, behind clinic flame, never passes a signal on; it relies on a terminal's Ctrl-C).
    if (c !== null) await stopChild(c, o.stopGraceMs ?? 30_000, signal ?? o.stopSignal ?? 'SIGTERM', pid);
  };

  await launch();
  return {
    kind: 'skiff',
    url: `skiff://guest:guest@127.0.0.1:${port}`,
    get pid() {
      return pid;
    },
    get startMs() {
      return startMs;
    },
    port,
    httpPort,
    amqpPort,
    // SKIFF_HTTP_ENABLED=false in the bench's environment turns the listener off.
    ...(process.env['SKIFF_HTTP_ENABLED'] !== 'false' && {
      http: { api: `http://127.0.0.1:${httpPort}`, metrics: `http://127.0.0.1:${httpPort}` },
      wsUrl: `ws://guest:guest@127.0.0.1:${httpPort}/ws`,
    }),
    dataDir,
    version: VERSION,
    async restart(signal?: NodeJS.Signals) {
      await halt(signal);
      return launch();
    },
    async stop(): Promise<void> {
      await halt();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
