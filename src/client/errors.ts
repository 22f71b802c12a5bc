import { replyCodeName } from '../../protocol/index.js';

/** Base class of every error the client raises; `code` is stable and machine-readable. */
export class SkiffError extends Error {
  override name = 'SkiffError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * The server closed a channel or the connection with an error (SPEC §4), or refused one admin
 * request (`scope: 'request'`, SPEC §3.7; the connection stays open). `replyCode` is the
 * protocol's numeric code, `code` its name (`NOT_FOUND`, `PRECONDITION_FAILED`, …).
 */
export class ServerError extends SkiffError {
  override name = 'ServerError';
  readonly replyCode: number;
  readonly scope: 'channel' | 'connection' | 'request';
  readonly methodId: number;
  constructor(replyCode: number, text: string, scope: 'channel' | 'connection' | 'request', methodId: number) {
    super(replyCodeName(replyCode), text);
    this.replyCode = replyCode;
    this.scope = scope;
    this.methodId = methodId;
  }
}

/** The operation needs an open channel or connection and it is closed; `cause` says why. */
export class ClosedError extends SkiffError {
  override name = 'ClosedError';
  constructor(message: string, cause?: unknown) {
    super('ERR_CLOSED', message, { cause });
  }
}

/** The connection could not be made or was lost: refused, reset, timed out, bad handshake. */
export class ConnectionError extends SkiffError {
  override name = 'ConnectionError';
}

/** A publish in confirm mode that the broker could not take (basic.nack). */
export class NackError extends SkiffError {
  override name = 'NackError';
  constructor(message: string) {
    super('ERR_NACKED', message);
  }
}
