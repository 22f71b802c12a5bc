/**
 * Reply codes (SPEC.md §4). `kind` tells whether the code closes a channel or the whole
 * connection; the SPEC table and this object are kept in step by test/unit/spec-drift.test.ts.
 */
export const ReplyCode = {
  REPLY_SUCCESS: 200,
  CONTENT_TOO_LARGE: 311,
  NO_ROUTE: 312,
  CONNECTION_FORCED: 320,
  ACCESS_REFUSED: 403,
  NOT_FOUND: 404,
  RESOURCE_LOCKED: 405,
  PRECONDITION_FAILED: 406,
  FRAME_ERROR: 501,
  SYNTAX_ERROR: 502,
  COMMAND_INVALID: 503,
  CHANNEL_ERROR: 504,
  RESOURCE_ERROR: 506,
  NOT_ALLOWED: 530,
  NOT_IMPLEMENTED: 540,
  INTERNAL_ERROR: 541,
  FRAME_TOO_LARGE: 551,
  BAD_HEADER: 552,
} as const;

export type ReplyCodeName = keyof typeof ReplyCode;
export type ReplyCodeValue = (typeof ReplyCode)[ReplyCodeName];

/** Codes that always close the whole connection, whatever channel they arise on. */
const CONNECTION_CODES: ReadonlySet<number> = new Set([
  ReplyCode.CONNECTION_FORCED,
  ReplyCode.FRAME_ERROR,
  ReplyCode.COMMAND_INVALID,
  ReplyCode.CHANNEL_ERROR,
  ReplyCode.RESOURCE_ERROR,
  ReplyCode.NOT_ALLOWED,
  ReplyCode.NOT_IMPLEMENTED,
  ReplyCode.INTERNAL_ERROR,
  ReplyCode.FRAME_TOO_LARGE,
  ReplyCode.BAD_HEADER,
]);

export function isConnectionCode(code: number): boolean {
  return CONNECTION_CODES.has(code);
}

const NAMES = new Map<number, ReplyCodeName>(
  (Object.entries(ReplyCode) as [ReplyCodeName, number][]).map(([k, v]) => [v, k]),
);

export function replyCodeName(code: number): string {
  return NAMES.get(code) ?? `UNKNOWN_${code}`;
}

/**
 * An error that has a place on the wire: a reply code and a human message. Thrown by the codec
 * and the broker; the server turns it into `channel.close` or `connection.close`.
 */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  /** The reply code's name (`NOT_FOUND`): a string, as Node's, undici's and nats.js's errors carry it. */
  readonly code: string;
  /** The numeric reply code on the wire (404). */
  readonly replyCode: number;
  /** Method id that caused the error, 0 when none. */
  methodId: number;
  constructor(replyCode: number, message: string, options?: { methodId?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.replyCode = replyCode;
    this.code = replyCodeName(replyCode);
    this.methodId = options?.methodId ?? 0;
  }
  /** The close's text: `CODE - explanation` (SPEC §4). */
  get replyText(): string {
    return `${this.code} - ${this.message}`;
  }
  get isConnectionError(): boolean {
    return isConnectionCode(this.replyCode);
  }
}
