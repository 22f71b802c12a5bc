#!/usr/bin/env node
import { Command } from 'commander';
import { createLogger } from '../src/log/logger.js';
import { startDaemon } from '../src/daemon.js';
import { VERSION } from '../src/version.js';

const program = new Command();
program.name('skiff').description('Skiff message broker').version(VERSION);

program
  .command('server')
  .description('run the daemon in the foreground')
  .option('--host <host>', 'address to listen on (env SKIFF_HOST)')
  .option('--port <port>', 'port to listen on (env SKIFF_PORT)')
  .action(async (opts: { host?: string; port?: string }) => {
    const log = createLogger({ level: 'info' });
    const port = Number(process.env['SKIFF_PORT'] ?? opts.port ?? 5680);
    const host = process.env['SKIFF_HOST'] ?? opts.host ?? '127.0.0.1';
    const daemon = await startDaemon({ host, port, log });
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) process.exit(1);
      stopping = true;
      log.info({ signal }, 'shutting down');
      void daemon.stop().then(() => process.exit(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });

await program.parseAsync(process.argv);
