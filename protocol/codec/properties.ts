/**
 * Message properties (SPEC §3.3): the keys of the msgpack map a message carries, as the client
 * library sets them and the AMQP listener maps them to and from AMQP's basic properties.
 */
export interface MessageProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: Record<string, unknown>;
  messageId?: string;
  correlationId?: string;
  replyTo?: string;
  /** Milliseconds since the epoch. */
  timestamp?: number;
  type?: string;
  appId?: string;
  userId?: string;
}
