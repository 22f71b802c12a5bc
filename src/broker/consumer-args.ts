import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import { STREAM_CONSUMER_NAME, STREAM_OFFSET } from './stream-args.js';

/** What a consumer's arguments ask for. */
export interface ConsumerArguments {
  /** `x-priority`: consumers with a higher one get messages while they have room (RabbitMQ's consumer priorities). */
  priority: number;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `'${v}'`;
  return typeof v === 'object' ? 'a table' : String(v);
}

/**
 * Validates basic.consume arguments. `x-priority` must be a 32-bit signed integer and
 * `x-cancel-on-ha-failover` a boolean (accepted; a single node never fails over a queue). With
 * `strict`, any other key is refused (the native protocol); AMQP clients send arguments meant for
 * other brokers, so there unknown keys are ignored, as RabbitMQ ignores them.
 */
export function parseConsumerArguments(queue: string, args: Readonly<Record<string, unknown>>, strict: boolean, vhost = '/'): ConsumerArguments {
  const out: ConsumerArguments = { priority: 0 };
  for (const [key, v] of Object.entries(args)) {
    switch (key) {
      case 'x-priority':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
          throw new ProtocolError(
            ReplyCode.PRECONDITION_FAILED,
            `invalid arg 'x-priority' for queue '${queue}' in vhost '${vhost}': expected a 32-bit integer, got ${describe(v)}`,
          );
        }
        out.priority = v;
        break;
      case 'x-cancel-on-ha-failover':
        if (typeof v !== 'boolean') {
          throw new ProtocolError(
            ReplyCode.PRECONDITION_FAILED,
            `invalid arg 'x-cancel-on-ha-failover' for queue '${queue}' in vhost '${vhost}': expected a boolean, got ${describe(v)}`,
          );
        }
        break;
      case STREAM_OFFSET:
      case STREAM_CONSUMER_NAME:
        // A stream consumer's (SPEC §3.4.5): the stream checks them (a queue ignores them).
        break;
      default:
        if (strict) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `unknown consumer argument '${key}'`);
    }
  }
  return out;
}
