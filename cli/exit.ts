import { CommanderError } from 'commander';
import { Method, ReplyCode } from '../protocol/index.js';
import { ConfigError } from '../src/config/load.js';
import { ConnectionError, DefinitionsError, ServerError, SkiffError } from '../src/client/index.js';
import { StoreError } from '../src/store/errors.js';

/** Exit codes scripts can rely on (README "CLI"). */
export const ExitCode = {
  OK: 0,
  /** Anything unexpected: a bug, an I/O error, the daemon failing to start. */
  FAILURE: 1,
  /** Bad arguments, a bad config file or a bad definitions file. */
  USAGE: 2,
  /** No daemon at host:port (refused, unreachable, timed out) or the connection was lost. */
  UNREACHABLE: 3,
  /** The daemon refused the login (user or password wrong; which one is not said). */
  AUTH: 4,
  /** The daemon refused the operation: NOT_FOUND, PRECONDITION_FAILED, not an admin, … */
  SERVER: 5,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI itself detects, with the exit code it maps to. */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: ExitCodeValue;
  constructor(exitCode: ExitCodeValue, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function usageError(message: string): CliError {
  return new CliError(ExitCode.USAGE, message);
}

/**
 * Maps an error to its exit code and the lines to print on stderr: one line, except a config
 * file with several problems, which gets one line per problem.
 */
export function describeFailure(err: unknown): { code: ExitCodeValue; lines: string[] } {
  if (err instanceof CliError) return { code: err.exitCode, lines: [err.message] };
  if (err instanceof ConfigError) return { code: ExitCode.USAGE, lines: err.problems.map((p) => `config: ${p}`) };
  if (err instanceof DefinitionsError) return { code: ExitCode.USAGE, lines: [`definitions: ${err.message}`] };
  if (err instanceof CommanderError) return { code: ExitCode.USAGE, lines: [] };
  if (err instanceof ServerError) {
    const login = err.scope === 'connection' && err.methodId === Method.ConnectionOpen && err.replyCode === ReplyCode.ACCESS_REFUSED;
    return { code: login ? ExitCode.AUTH : ExitCode.SERVER, lines: [err.message] };
  }
  if (err instanceof ConnectionError) return { code: ExitCode.UNREACHABLE, lines: [err.message] };
  if (err instanceof SkiffError && err.code === 'ERR_CLOSED') {
    // A call on a channel or connection the server had closed: its cause is what went wrong.
    if (err.cause instanceof SkiffError) return describeFailure(err.cause);
    return { code: ExitCode.UNREACHABLE, lines: [err.message] };
  }
  if (err instanceof SkiffError) return { code: ExitCode.SERVER, lines: [err.message] };
  // The store's refusals to start name their code, which README's table explains.
  if (err instanceof StoreError) return { code: ExitCode.FAILURE, lines: [`${err.code}: ${err.message}`] };
  const e = err as NodeJS.ErrnoException;
  return { code: ExitCode.FAILURE, lines: [e instanceof Error ? e.message : String(err)] };
}
