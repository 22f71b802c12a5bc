import type { FieldTable } from '../../../protocol/amqp/values.js';

/**
 * The capabilities connection.start advertises: exactly what this front end implements, since
 * clients switch behaviour on them (amqplib and the Java client wait for `basic.nack`, handle
 * server-sent cancels only with `consumer_cancel_notify`, and so on).
 */
export const CAPABILITIES: Readonly<Record<string, boolean>> = Object.freeze({
  publisher_confirms: true,
  exchange_exchange_bindings: true,
  'basic.nack': true,
  consumer_cancel_notify: true,
  'connection.blocked': true,
  authentication_failure_close: true,
  per_consumer_qos: true,
  direct_reply_to: false,
  consumer_priorities: false,
});

/** connection.start's server-properties. */
export function serverProperties(version: string): FieldTable {
  return {
    product: 'Skiff',
    version,
    platform: `Node.js ${process.version}`,
    copyright: 'Skiff contributors',
    information: 'Skiff message broker, AMQP 0-9-1 listener (see README: AMQP 0-9-1 clients)',
    capabilities: { ...CAPABILITIES },
    cluster_name: 'skiff',
  };
}
