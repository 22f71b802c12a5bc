import { replyCodeName } from '../../protocol/index.js';

/** Base class of every error the client raises; `code` is stable and machine-readable. */
export class SkiffError extends Error {
  override name = 'SkiffError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /** True when doing the same thing again may succeed (see {@link ConnectionLostError}). */
  get retriable(): boolean {
    return false;
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

/**
 * The connection was lost while this call or publish waited for the broker's answer, and the
 * client is reconnecting (`cause` is why it was lost). Whether the broker acted on it is
 * unknown: a declaration may have happened, a message may have been taken. Doing it again once
 * reconnected is safe for declarations and at-least-once for publishes.
 */
export class ConnectionLostError extends ConnectionError {
  override name = 'ConnectionLostError';
  constructor(message: string, cause: unknown) {
    super('ERR_CONNECTION_LOST', message, { cause });
  }

  override get retriable(): boolean {
    return true;
  }
}

/**
 * An ack, nack or reject of a delivery that came over a connection or channel that has since
 * gone: the broker has already put the message back in its queue (it comes again, with
 * `redelivered = true`), and the delivery tag means nothing on the new connection.
 */
export class StaleDeliveryError extends SkiffError {
  override name = 'StaleDeliveryError';
  constructor(message: string) {
    super('ERR_STALE_DELIVERY', message);
  }
}
