import { ProtocolError, ReplyCode, replyCodeName } from '../../../protocol/index.js';

/**
 * An HTTP error reply, `{error, reason}` as RabbitMQ's management API sends it: `error` a short
 * machine word (`not_found`, `bad_request`), `reason` a sentence for people.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly statusCode: number;
  readonly error: string;
  /** Extra response headers (`WWW-Authenticate`, `Allow`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(statusCode: number, error: string, reason: string, headers: Record<string, string> = {}) {
    super(reason);
    this.statusCode = statusCode;
    this.error = error;
    this.headers = headers;
  }

  get body(): { error: string; reason: string } {
    return { error: this.error, reason: this.message };
  }
}

export const badRequest = (reason: string): HttpError => new HttpError(400, 'bad_request', reason);
export const notFound = (reason: string): HttpError => new HttpError(404, 'not_found', reason);
export const forbidden = (reason: string): HttpError => new HttpError(403, 'access_refused', reason);

/**
 * A broker refusal as HTTP: a missing object is 404 and a refused one 403; everything else
 * (inequivalent redeclare, bad argument, exclusive queue, …) is 400 with the AMQP code and text,
 * `406 PRECONDITION_FAILED - inequivalent arg 'durable' …`, as RabbitMQ words it.
 */
export function fromProtocolError(err: ProtocolError): HttpError {
  const code = err.replyCode;
  if (code === ReplyCode.NOT_FOUND) return notFound(err.message);
  if (code === ReplyCode.ACCESS_REFUSED) return forbidden(err.message);
  return badRequest(`${code} ${err.replyText}`);
}
