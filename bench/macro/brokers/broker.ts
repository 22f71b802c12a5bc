import type { ChildProcess } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import type { BrokerKind } from '../driver.js';

/** A broker under test: where to connect, which process to measure, how to stop it. */
export interface BrokerHandle {
  readonly kind: BrokerKind;
  readonly url: string;
  /** The process whose CPU and RSS are the broker's (beam.smp for RabbitMQ). */
  readonly pid: number;
  readonly version: string;
  /** Its HTTP management API and Prometheus endpoint (`http://127.0.0.1:port`), when it has them. */
  readonly http?: { readonly api: string; readonly metrics: string };
  /** Where it serves WebSockets (`ws://127.0.0.1:port/path`), when it does. */
  readonly wsUrl?: string;
  /** Stops the broker if this run started it; a no-op for `--url` brokers. */
  stop(): Promise<void>;
}

/** Resolves once something accepts TCP connections on the port, or rejects at the deadline / when `child` exits. */
export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess, pollMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | null = null;
  const onExit = (code: number | null, signal: string | null): void => {
    exited = `exited (${signal ?? code}) before listening`;
  };
  child?.once('exit', onExit);
  try {
    for (;;) {
      if (exited !== null) throw new Error(exited);
      const ok = await new Promise<boolean>((resolve) => {
        const s = netConnect({ host: '127.0.0.1', port });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    child?.off('exit', onExit);
  }
}

/** Processes this run started and has not yet seen exit, for {@link killStarted}. */
const started = new Set<number>();

/** Remembers a process this run started (a broker, epmd, the VM below a wrapper). */
export function track(child: ChildProcess | number): void {
  const pid = typeof child === 'number' ? child : child.pid;
  if (pid === undefined) return;
  started.add(pid);
  if (typeof child !== 'number') child.once('exit', () => started.delete(pid));
}

/**
 * Kills every process this run started and that is still alive — for an interrupted run, so
 * no broker outlives the bench. Only the recorded pids, nothing found by name.
 */
export function killStarted(): void {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  started.clear();
}

/** Makes SIGINT/SIGTERM stop the processes this run started before exiting. */
export function killStartedOnSignal(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killStarted();
      process.exit(130);
    });
  }
}

/**
 * Sends `signal` to a child we started (or to `target`, a process below it) and waits for the
 * child to exit; SIGKILL after `graceMs`.
 */
export async function stopChild(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM', target?: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (target === undefined || target === child.pid) child.kill(signal);
  else {
    try {
      process.kill(target, signal);
    } catch {
      child.kill(signal);
    }
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A broker someone else started (`--url`): measured if its pid is known, never stopped. */
export function externalBroker(kind: BrokerKind, url: string, pid: number, version = 'external'): BrokerHandle {
  return { kind, url, pid, version, stop: async () => undefined };
}
