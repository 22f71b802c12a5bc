import pino, { type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  level: LogLevel;
  /** 'json' always, 'pretty' always, 'auto' (default) = pretty when stdout is a TTY. */
  format?: 'json' | 'pretty' | 'auto';
}

/**
 * The daemon's root logger: JSON lines by default, human-readable on a TTY. Everything below
 * it uses `child()` bindings (`{conn}`, `{queue}`); nothing logs per message.
 */
export function createLogger(options: LoggerOptions): Logger {
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  // Credentials never reach a log line, whichever format (connection.open carries a password).
  const redact = ['password', '*.password', 'passwordHash', '*.passwordHash'];
  if (pretty) {
    return pino({
      level: options.level,
      redact,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level: options.level, redact });
}

/** A logger that drops everything: for tests and embedding. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
