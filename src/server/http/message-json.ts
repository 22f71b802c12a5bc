import { storedNativeProperties } from '../../../protocol/amqp/content.js';
import { packValue, unpackProperties } from '../../../protocol/index.js';
import { isAmqpContent } from '../../broker/stored-content.js';
import { makeContent, type Message } from '../../broker/message.js';

/**
 * Messages as RabbitMQ's HTTP API writes them: AMQP property names (`content_type`,
 * `delivery_mode`, …) and a payload that is a string or base64. Skiff's properties (SPEC §3.3)
 * are camelCase and its timestamps milliseconds; AMQP's timestamps are seconds, so the HTTP API
 * speaks seconds, as RabbitMQ's does. `delivery_mode`, `priority` and `expiration` are publish
 * arguments in Skiff, not properties.
 */

/** `properties` of an HTTP publish, as the JSON schema lets them through. */
export interface AmqpProperties {
  content_type?: string;
  content_encoding?: string;
  headers?: Record<string, unknown>;
  delivery_mode?: number;
  priority?: number;
  correlation_id?: string;
  reply_to?: string;
  expiration?: string | number;
  message_id?: string;
  timestamp?: number;
  type?: string;
  user_id?: string;
  app_id?: string;
}

export const PROPERTIES_SCHEMA = {
  type: 'object',
  properties: {
    content_type: { type: 'string' },
    content_encoding: { type: 'string' },
    headers: { type: 'object' },
    delivery_mode: { type: 'integer', enum: [1, 2] },
    priority: { type: 'integer', minimum: 0, maximum: 255 },
    correlation_id: { type: 'string' },
    reply_to: { type: 'string' },
    expiration: { anyOf: [{ type: 'string', pattern: '^[0-9]{1,10}$' }, { type: 'integer', minimum: 0 }] },
    message_id: { type: 'string' },
    timestamp: { type: 'integer', minimum: 0 },
    type: { type: 'string' },
    user_id: { type: 'string' },
    app_id: { type: 'string' },
  },
} as const;

/** AMQP property name → Skiff's. */
const NAMES: readonly [keyof AmqpProperties, string][] = [
  ['content_type', 'contentType'],
  ['content_encoding', 'contentEncoding'],
  ['headers', 'headers'],
  ['correlation_id', 'correlationId'],
  ['reply_to', 'replyTo'],
  ['message_id', 'messageId'],
  ['type', 'type'],
  ['user_id', 'userId'],
  ['app_id', 'appId'],
];

/** What a publish needs: the content in wire form and the arguments the broker acts on. */
export interface OutgoingMessage {
  content: Buffer;
  persistent: boolean;
  priority: number;
  expiration: number;
}

export function toContent(props: AmqpProperties, body: Buffer): OutgoingMessage {
  const skiff: Record<string, unknown> = {};
  for (const [amqp, own] of NAMES) if (props[amqp] !== undefined) skiff[own] = props[amqp];
  if (props.timestamp !== undefined) skiff['timestamp'] = props.timestamp * 1000;
  const packed = Object.keys(skiff).length === 0 ? null : packValue(skiff);
  return {
    content: makeContent(packed, body),
    persistent: props.delivery_mode === 2,
    priority: props.priority ?? 0,
    expiration: props.expiration === undefined ? 0 : Number(props.expiration),
  };
}

/** A message taken with get, as `/api/queues/{vhost}/{name}/get` returns it. */
export function messageJson(m: Message, messageCount: number, encoding: 'auto' | 'base64', truncate: number | null): Record<string, unknown> {
  let own: Record<string, unknown> = {};
  // A message published over AMQP shows its properties as a native client would read them.
  const raw = isAmqpContent(m.content) ? storedNativeProperties(m.content) : m.propsBytes;
  // Properties are the publisher's bytes, forwarded unread; show what can be read.
  if (raw.length !== 0) {
    try {
      own = unpackProperties(raw);
    } catch {
      own = {};
    }
  }
  const properties: Record<string, unknown> = {};
  for (const [amqp, name] of NAMES) if (own[name] !== undefined) properties[amqp] = own[name];
  if (typeof own['timestamp'] === 'number') properties['timestamp'] = Math.floor(own['timestamp'] / 1000);
  properties['delivery_mode'] = m.persistent ? 2 : 1;
  if (m.priority !== 0) properties['priority'] = m.priority;
  if (m.expiration !== 0) properties['expiration'] = String(m.expiration);
  const full = m.body;
  const body = truncate !== null && full.length > truncate ? full.subarray(0, truncate) : full;
  const text = encoding === 'auto' ? utf8(body) : null;
  return {
    payload_bytes: full.length,
    redelivered: m.redelivered,
    exchange: m.exchange,
    routing_key: m.routingKey,
    message_count: messageCount,
    properties,
    payload: text ?? body.toString('base64'),
    payload_encoding: text === null ? 'base64' : 'string',
  };
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8(b: Buffer): string | null {
  try {
    return decoder.decode(b);
  } catch {
    return null;
  }
}
