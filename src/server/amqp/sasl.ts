import { decodeTable } from '../../../protocol/amqp/table.js';

/** The SASL mechanisms the AMQP listener offers in connection.start, as RabbitMQ's defaults. */
export const MECHANISMS = ['PLAIN', 'AMQPLAIN'] as const;

export interface Credentials {
  username: string;
  password: string;
}

/**
 * The user name and password in a connection.start-ok response, or null when the response is
 * not one the mechanism allows. PLAIN is RFC 4616 (`authzid NUL authcid NUL passwd`, the
 * authorisation identity ignored as RabbitMQ does); AMQPLAIN is a field table's entries without
 * its length prefix, holding `LOGIN` and `PASSWORD`.
 */
export function parseSaslResponse(mechanism: string, response: Buffer): Credentials | null {
  if (mechanism === 'PLAIN') {
    const first = response.indexOf(0);
    const second = first < 0 ? -1 : response.indexOf(0, first + 1);
    if (second < 0) return null;
    return { username: response.toString('utf8', first + 1, second), password: response.toString('utf8', second + 1) };
  }
  if (mechanism === 'AMQPLAIN') {
    let t;
    try {
      t = decodeTable(response, 0, response.length);
    } catch {
      return null;
    }
    const login = t['LOGIN'];
    const password = t['PASSWORD'];
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : null);
    const u = text(login);
    const p = text(password);
    return u === null || p === null ? null : { username: u, password: p };
  }
  return null;
}
