/**
 * Where Skiff listens unless told otherwise. The daemon's config schema, the client's URL
 * parser and the CLI all read these, so a default port is written once.
 */

/** The address every listener binds by default: loopback only, until an operator opens it up. */
export const DEFAULT_HOST = '127.0.0.1';
/** The native Skiff protocol (SPEC.md). */
export const DEFAULT_PORT = 5680;
/** AMQP 0-9-1, RabbitMQ's port, so stock clients find it without configuration. */
export const DEFAULT_AMQP_PORT = 5672;
/** The HTTP management API, metrics and dashboard, RabbitMQ management's port. */
export const DEFAULT_HTTP_PORT = 15672;
/** The native protocol over TLS (`skiffs://`). */
export const DEFAULT_TLS_PORT = 5681;
/** AMQP over TLS (`amqps://`), RabbitMQ's port. */
export const DEFAULT_AMQPS_PORT = 5671;
