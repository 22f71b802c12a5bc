import type { Command } from 'commander';
import { loadConfig, unknownVariables, type FlagValue } from '../src/config/load.js';
import type { Daemon } from '../src/daemon.js';
import { createLogger } from '../src/log/logger.js';
import { hashPassword } from '../src/server/auth.js';
import { VERSION } from '../src/version.js';
import { CliError, ExitCode, usageError } from './exit.js';
import { println, type Io } from './io.js';

interface ServerFlags {
  config?: string;
  host?: string;
  port?: string;
  data?: string;
  logLevel?: string;
  logFormat?: string;
  check?: boolean;
  cluster?: boolean;
}

/** Flags that set config keys: [commander's option property, config key, flag as typed]. */
const CONFIG_FLAGS: [keyof ServerFlags, string, string][] = [
  ['host', 'host', '--host'],
  ['port', 'port', '--port'],
  ['data', 'data_dir', '--data'],
  ['logLevel', 'log_level', '--log-level'],
  ['logFormat', 'log_format', '--log-format'],
];

/** `skiff server` and `skiff hash-password`. */
export function addServerCommands(program: Command, io: Io): void {
  program
    .command('server')
    .description('run the daemon in the foreground (settings: defaults < --config file < flags < SKIFF_* environment)')
    .option('-c, --config <file>', 'TOML config file (env SKIFF_CONFIG); see config.example.toml')
    .option('--host <host>', 'address to listen on (env SKIFF_HOST)')
    .option('--port <port>', 'port to listen on, 0 for any free one (env SKIFF_PORT)')
    .option('--data <dir>', 'data directory (env SKIFF_DATA_DIR)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env SKIFF_LOG_LEVEL)')
    .option('--log-format <format>', 'auto|json|pretty (env SKIFF_LOG_FORMAT)')
    .option('--cluster', 'join the cluster the cluster_* settings name (env SKIFF_CLUSTER_ENABLED=true)')
    .option('--check', 'check the configuration, print it, and exit')
    .action(async (opts: ServerFlags) => {
      const flags: FlagValue[] = [];
      for (const [prop, key, flag] of CONFIG_FLAGS) {
        const value = opts[prop];
        if (typeof value === 'string') flags.push({ key, flag, value });
      }
      if (opts.cluster === true) flags.push({ key: 'cluster_enabled', flag: '--cluster', value: 'true' });
      const config = loadConfig({ ...(opts.config !== undefined && { file: opts.config }), flags, env: io.env });
      if (opts.check) {
        const shown = { ...config, users: config.users.map((u) => ({ name: u.name, admin: u.admin })) };
        println(io.stdout, JSON.stringify(shown, null, 2));
        return;
      }
      const log = createLogger({ level: config.logLevel, format: config.logFormat });
      for (const warning of unknownVariables(io.env)) log.warn(warning);
      log.info({ version: VERSION, config: io.env['SKIFF_CONFIG'] || opts.config || null, dataDir: config.store.dataDir, users: config.users.length }, 'starting');
      // Signals are caught from before start-up: one during a long restore stops the daemon as
      // soon as it is up, a second one exits at once.
      let signals = 0;
      let wake: (() => void) | null = null;
      const off = io.onInterrupt(() => {
        if (++signals > 1) {
          log.warn('second signal: exiting without a clean stop');
          io.exit(ExitCode.FAILURE);
          return;
        }
        log.info('shutting down');
        wake?.();
      });
      let daemon: Pick<Daemon, 'stop' | 'reloadTls'>;
      try {
        // Loaded here: the admin commands never pay for the daemon's front ends and codecs.
        if (config.cluster.enabled) {
          const { ClusterNode } = await import('../src/cluster/node.js');
          const node = await ClusterNode.start(config, { log });
          daemon = { stop: () => node.stop(), reloadTls: () => node.daemon?.reloadTls() ?? false };
        } else {
          const { startDaemon } = await import('../src/daemon.js');
          daemon = await startDaemon(config, { log });
        }
      } catch (err) {
        off();
        const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
        // The error names the address that failed: the native port or the HTTP one.
        const where = `cannot listen on ${e.address ?? config.host}:${e.port ?? config.port}`;
        if (e.code === 'EADDRINUSE') throw new CliError(ExitCode.FAILURE, `${where}: address already in use`);
        if (e.code === 'EADDRNOTAVAIL') throw new CliError(ExitCode.FAILURE, `${where}: no such local address`);
        if (e.code === 'EACCES') throw new CliError(ExitCode.FAILURE, `${where}: permission denied`);
        throw err;
      }
      // SIGHUP re-reads the TLS certificate, key and CA; without TLS it is ignored (logged).
      const offHup = io.onHangup?.(() => {
        log.info('SIGHUP: reloading TLS certificates');
        daemon.reloadTls();
      });
      if (signals === 0) await new Promise<void>((resolve) => (wake = resolve));
      try {
        await daemon.stop();
      } finally {
        off();
        offHup?.();
      }
      log.info('stopped');
    });

  program
    .command('hash-password')
    .description('print a scrypt hash of a password for the users table of the config')
    .argument('[password]', 'omitted: prompted for on a terminal, else the first line of stdin')
    .action(async (given: string | undefined) => {
      println(io.stdout, await hashPassword(await readPassword(io, given, 'hash-password')));
    });
}

/**
 * A password given as an argument, else typed twice at a terminal (not echoed), else the first
 * line of stdin (scripts). Empty is a usage error naming `command`.
 */
export async function readPassword(io: Io, given: string | undefined, command: string): Promise<string> {
  const password = given ?? (io.stdin.isTTY === true ? await promptTwice(io, command) : await firstLine(io));
  if (password === '') throw usageError(`${command}: the password is empty`);
  return password;
}

async function firstLine(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of io.stdin) {
    chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
    if ((c as Buffer).includes(10)) break;
  }
  return (Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '').replace(/\r$/, '');
}

async function promptTwice(io: Io, command: string): Promise<string> {
  const first = await promptHidden(io, 'password: ', command);
  const again = await promptHidden(io, 'again: ', command);
  if (first !== again) throw usageError(`${command}: the passwords do not match`);
  return first;
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(io: Io, prompt: string, command: string): Promise<string> {
  const stdin = io.stdin;
  io.stderr.write(prompt);
  stdin.setRawMode?.(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err: Error | null): void => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write('\n');
      if (err === null) resolve(text);
      else reject(err);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003' || ch === '\u0004') return done(usageError(`${command}: cancelled`));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}
