import { REPLY_CODE_KIND, ReplyCode, type ReplyCodeName } from './spec.generated.js';

/** Which close an error calls for: `connection.close` or `channel.close`. */
export type AmqpErrorScope = 'connection' | 'channel';

/** Where an {@link AmqpError} arose and what it closes; all optional. */
export interface AmqpErrorOptions {
  /** The method that caused it, for the close's class-id and method-id (0 when none). */
  classId?: number;
  methodId?: number;
  /** Defaults to `connection` for the spec's hard errors and `channel` for soft ones. */
  scope?: AmqpErrorScope;
  /** The byte stream can no longer be split into frames: read nothing more from the peer. */
  fatal?: boolean;
  cause?: unknown;
}

/**
 * An AMQP exception: what a front end sends as `connection.close` or `channel.close`. The
 * codec raises these for malformed input; a front end raises them for what the broker refuses.
 *
 * `code` is the spec's name (`NOT_FOUND`), `replyCode` its number (404), and `message` the
 * explanation without the name; `replyText` is both as RabbitMQ words the close
 * (`NOT_FOUND - no queue 'q' in vhost '/'`).
 */
export class AmqpError extends Error {
  override name = 'AmqpError';
  readonly code: ReplyCodeName;
  readonly replyCode: number;
  classId: number;
  methodId: number;
  readonly scope: AmqpErrorScope;
  readonly fatal: boolean;

  constructor(code: ReplyCodeName, message: string, options: AmqpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.replyCode = ReplyCode[code];
    this.classId = options.classId ?? 0;
    this.methodId = options.methodId ?? 0;
    this.scope = options.scope ?? (REPLY_CODE_KIND[code] === 'hard' ? 'connection' : 'channel');
    this.fatal = options.fatal ?? false;
  }

  /** The reply-text of the close: `CODE - explanation`, truncated to a shortstr's 255 bytes. */
  get replyText(): string {
    const text = `${this.code} - ${this.message}`;
    if (Buffer.byteLength(text) <= 255) return text;
    // Cut on a character boundary: a shortstr holds at most 255 bytes.
    let cut = Buffer.from(text).subarray(0, 255).toString('utf8');
    if (cut.endsWith('\ufffd')) cut = cut.slice(0, -1);
    return cut;
  }

  /** True when the error closes the whole connection. */
  get isConnectionError(): boolean {
    return this.scope === 'connection';
  }
}

/** The reply code's name for a number (`UNKNOWN_599` for one the spec lacks). */
export function replyCodeName(code: number): string {
  for (const [name, value] of Object.entries(ReplyCode)) if (value === code) return name;
  return `UNKNOWN_${code}`;
}
