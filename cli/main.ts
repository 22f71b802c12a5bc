import { Command, CommanderError } from 'commander';
import { VERSION } from '../src/version.js';
import { addAdminCommands } from './admin-commands.js';
import { ExitCode, describeFailure } from './exit.js';
import type { Io } from './io.js';
import { addMessageCommands } from './message-commands.js';
import { addServerCommands } from './server-command.js';
import { addTopologyCommands } from './topology-commands.js';
import { addPolicyCommands } from './policy-commands.js';
import { addVhostCommands } from './vhost-commands.js';
import { addPermissionCommands, addUserCommands } from './user-commands.js';

/** The command table: every subcommand, its options and help text. */
export function buildProgram(io: Io): Command {
  const program = new Command('skiff')
    .description('Skiff message broker: run the daemon, administer it, move messages')
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`skiff: ${s.replace(/^error: /, '')}`),
    });
  addServerCommands(program, io);
  addAdminCommands(program, io);
  addTopologyCommands(program, io);
  addMessageCommands(program, io);
  addUserCommands(program, io);
  addPermissionCommands(program, io);
  addPolicyCommands(program, io);
  addVhostCommands(program, io);
  return program;
}

/**
 * Runs one command line (without `node skiff`) and returns the exit code. Failures print
 * one line on stderr (README "CLI" lists the codes); nothing here calls process.exit.
 */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    await buildProgram(io).parseAsync([...argv], { from: 'user' });
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) return ExitCode.OK;
    const { code, lines } = describeFailure(err);
    for (const line of lines) io.stderr.write(`skiff: ${line}\n`);
    return code;
  }
}
