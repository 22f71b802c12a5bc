/**
 * The 8 bytes a client sends before any frame (spec §4.2.2), and what a server answers to a
 * header it does not speak: its own header, then it closes the socket.
 */

/** `AMQP` 0 0 9 1. */
export const AMQP_PROTOCOL_HEADER: Buffer = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
export const PROTOCOL_HEADER_LENGTH = 8;

/** The result of {@link checkAmqpHeader}. */
export type AmqpHeaderCheck =
  | { readonly ok: true; readonly protocol: string }
  | {
      readonly ok: false;
      /** What the client seems to speak, for the log line (`Skiff native protocol 1.0`). */
      readonly protocol: string;
      /** What to write before closing: the header this server speaks. */
      readonly reply: Buffer;
    };

/**
 * Checks a client's first 8 bytes as RabbitMQ 3.x does: `AMQP 0 0 9 1` is 0-9-1, and
 * `AMQP 1 1 0 9` (0-9) is served as 0-9-1 too, since the two frame the same way; anything else
 * gets the 0-9-1 header back. `header` must hold at least 8 bytes.
 */
export function checkAmqpHeader(header: Buffer): AmqpHeaderCheck {
  const protocol = describeProtocolHeader(header);
  const [a, b, c, d] = [header[4], header[5], header[6], header[7]];
  const amqp = header[0] === 0x41 && header[1] === 0x4d && header[2] === 0x51 && header[3] === 0x50;
  if (amqp && ((a === 0 && b === 0 && c === 9 && d === 1) || (a === 1 && b === 1 && c === 0 && d === 9))) return { ok: true, protocol };
  return { ok: false, protocol, reply: AMQP_PROTOCOL_HEADER };
}

const HTTP_METHODS = ['GET ', 'POST', 'PUT ', 'HEAD', 'DELE', 'OPTI', 'PATC', 'CONN', 'PRI '];

/**
 * Names the protocol a connection's first bytes belong to, for the log line a listener writes
 * when it refuses a header (either listener can use it: it knows every header Skiff meets).
 */
export function describeProtocolHeader(header: Buffer): string {
  const ascii = header.toString('latin1', 0, Math.min(header.length, 8));
  if (ascii.startsWith('AMQP') && header.length >= 8) {
    const [a, b, c, d] = [header[4], header[5], header[6], header[7]] as number[];
    if (a === 0 && b === 0) return `AMQP 0-${c}-${d}`;
    // 0-8 and 0-9 numbered their headers differently: 1 1 8 0 (and 1 1 9 1) is 0-8, 1 1 0 9 is 0-9
    if (a === 1 && b === 1) return c === 0 ? `AMQP 0-${d}` : 'AMQP 0-8';
    if (b === 1 && c === 0 && d === 0) return a === 3 ? 'AMQP 1.0 (SASL)' : a === 2 ? 'AMQP 1.0 (TLS)' : 'AMQP 1.0';
    return `AMQP (id ${a}, version ${b}.${c}.${d})`;
  }
  if (ascii.startsWith('SKIFF\0') && header.length >= 8) return `Skiff native protocol ${header[6]}.${header[7]}`;
  if (header[0] === 0x16 && header[1] === 0x03) return 'TLS (a ClientHello: the client expects TLS)';
  if (HTTP_METHODS.some((m) => ascii.startsWith(m))) return 'HTTP';
  if (ascii.includes('MQTT') || ascii.includes('MQIs')) return 'MQTT';
  return `unknown (${header.subarray(0, 8).toString('hex')})`;
}
