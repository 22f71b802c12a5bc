import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { within } from './wait.js';

/** The built CLI: `npm test` builds first (pretest); run `npm run build` before vitest by hand. */
export const SKIFF_BIN = fileURLToPath(new URL('../../dist/cli/skiff.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The test runner's environment without SKIFF_* variables, so only what a test sets applies. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SKIFF_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `skiff <args>` to completion; `input` is written to its stdin, then stdin is closed. */
export function skiff(args: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [SKIFF_BIN, ...args], { env: cleanEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.end(options.input ?? '');
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return within(done, () => `skiff ${args.join(' ')} to exit (stdout so far: ${stdout}, stderr: ${stderr})`, 20_000).finally(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
}

/** A `skiff server` child process listening on a port it picked. */
export interface DaemonProcess {
  readonly port: number;
  /** The AMQP 0-9-1 listener's port (from the same log line); 0 when it is off. */
  readonly amqpPort: number;
  readonly proc: ChildProcess;
  readonly dataDir: string;
  /** Every stdout line so far (JSON log lines). */
  logLines(): string[];
  stderr(): string;
  /** Runs a CLI command against this daemon (`-p <port>` appended). */
  cli(args: readonly string[], options?: { input?: string; env?: Record<string, string> }): Promise<CliResult>;
  /** Sends `signal` and resolves with the exit code; removes a temporary data directory. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<DaemonProcess>();

/** A `skiff server` child as launched: what the tests need before and after it listens. */
export interface LaunchedServer {
  proc: ChildProcess;
  /** Resolves with the port from the "skiff listening" log line; rejects if it exits first. */
  listening: Promise<number>;
  exited: Promise<number | null>;
  /** Every stdout line so far (JSON log lines); the array grows as the daemon logs. */
  lines: string[];
  stderr(): string;
}

/** Spawns `skiff server --port 0 --data <dir> --log-format json` plus `args`. */
export function launchServer(dataDir: string, args: readonly string[], env: NodeJS.ProcessEnv): LaunchedServer {
  const proc = spawn(process.execPath, [SKIFF_BIN, 'server', '--port', '0', '--data', dataDir, '--log-format', 'json', ...args], {
    // Daemons run side by side: the HTTP listener takes any free port unless a test says otherwise.
    env: { SKIFF_HTTP_PORT: '0', SKIFF_AMQP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const listening = new Promise<number>((resolve, reject) => {
    proc.stdout?.setEncoding('utf8').on('data', (s: string) => {
      const parts = (partial + s).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'skiff listening' && typeof rec.port === 'number') resolve(rec.port);
      }
    });
    void exited.then((code) => reject(new Error(`skiff server exited with ${code} before listening: ${err}`)));
  });
  listening.catch(() => undefined);
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  return { proc, listening, exited, lines, stderr: () => err };
}

/**
 * Spawns `skiff server --port 0 --data <dir> --log-format json` plus `args` and resolves once
 * the "skiff listening" log line gives the port. Without `dataDir` the directory is a fresh
 * temporary one, removed by `stop()`; a given one (a restart test's) is left in place.
 */
export async function spawnDaemon(
  args: readonly string[] = [],
  options: { env?: Record<string, string>; dataDir?: string } = {},
): Promise<DaemonProcess> {
  const owned = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'skiff-cli-data-'));
  const { proc, listening, exited, lines, stderr } = launchServer(dataDir, args, cleanEnv(options.env));
  const port = await within(listening, 'skiff server to log "skiff listening"', 15_000).catch((e: unknown) => {
    proc.kill('SIGKILL');
    if (owned) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  });
  const listened = lines.map((l) => JSON.parse(l) as { msg?: string; amqpPort?: number }).find((r) => r.msg === 'skiff listening');
  const d: DaemonProcess = {
    port,
    amqpPort: listened?.amqpPort ?? 0,
    proc,
    dataDir,
    logLines: () => [...lines],
    stderr,
    cli: (a, o) => skiff([...a, '-p', String(port)], o),
    async stop(signal = 'SIGTERM') {
      running.delete(d);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const code = await within(exited, 'skiff server to exit', 15_000).catch((e: unknown) => {
        proc.kill('SIGKILL');
        throw e;
      });
      if (owned) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
  running.add(d);
  return d;
}

/** Kills whatever a failed test left running (use in afterAll/afterEach). */
export async function stopAllDaemons(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop('SIGKILL').catch(() => undefined)));
}
