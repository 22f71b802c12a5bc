import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import { invalid, show } from './queue-args.js';

/** What a stream keeps and how it cuts its log (`x-` arguments of a stream, SPEC §3.4.5). */
export interface StreamSettings {
  /** `x-max-length-bytes`: the log is cut, by whole segments, once it holds more; null = no limit. */
  readonly maxLengthBytes: number | null;
  /** `x-max-age` in ms: segments whose newest message is older are cut; null = no limit. */
  readonly maxAgeMs: number | null;
  /** `x-stream-max-segment-size-bytes`: a segment is closed and a new one begun past this. */
  readonly maxSegmentBytes: number;
}

/** RabbitMQ's default segment size (500 MB). */
export const DEFAULT_SEGMENT_BYTES = 500_000_000;

export const STREAM_TYPE = 'stream';

/** True when a declare asks for a stream. */
export function isStreamDeclare(args: Record<string, unknown>): boolean {
  return args['x-queue-type'] === STREAM_TYPE;
}

/** Arguments a classic queue takes but a stream does not (RabbitMQ names the queue type). */
const CLASSIC_ONLY = new Set([
  'x-message-ttl',
  'x-expires',
  'x-max-length',
  'x-overflow',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-max-priority',
  'x-delivery-limit',
  'x-consumer-timeout',
  'x-single-active-consumer',
  'x-queue-mode',
  'x-queue-master-locator',
]);

/** Units of `x-max-age` and of interval offsets, as RabbitMQ reads them. */
const AGE_UNITS: Readonly<Record<string, number>> = {
  Y: 365 * 86_400_000,
  M: 30 * 86_400_000,
  D: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
};

/** `7D`, `1h`, `30m`… in ms, or null when `v` is not such a string. */
export function parseAge(v: string): number | null {
  const m = /^([0-9]{1,15})([YMDhms])$/.exec(v);
  if (m === null) return null;
  return Number(m[1]) * (AGE_UNITS[m[2] as string] as number);
}

/**
 * Checks the arguments of a stream declare (with its flags: RabbitMQ refuses non-durable,
 * exclusive and auto-delete streams) and returns its settings. Throws PRECONDITION_FAILED in
 * RabbitMQ's words, naming the argument or property.
 */
export function parseStreamArguments(
  queue: string,
  args: Record<string, unknown>,
  flags: { durable: boolean; exclusive: boolean; autoDelete: boolean },
  vhost = '/',
): StreamSettings {
  if (!flags.durable) throw property(queue, 'non-durable', vhost);
  if (flags.exclusive) throw property(queue, 'exclusive-owner', vhost);
  if (flags.autoDelete) throw property(queue, 'auto-delete', vhost);
  let maxLengthBytes: number | null = null;
  let maxAgeMs: number | null = null;
  let maxSegmentBytes = DEFAULT_SEGMENT_BYTES;
  for (const key of Object.keys(args)) {
    if (!key.startsWith('x-') || key === 'x-queue-type') continue;
    const v = args[key];
    switch (key) {
      case 'x-max-length-bytes':
        maxLengthBytes = integer(queue, key, v, 0, vhost);
        break;
      case 'x-stream-max-segment-size-bytes':
        maxSegmentBytes = integer(queue, key, v, 1, vhost);
        break;
      case 'x-max-age': {
        if (typeof v !== 'string') throw invalid('queue', queue, key, `{unacceptable_type,${typeName(v)}}`, vhost);
        const ms = parseAge(v);
        if (ms === null || ms === 0) throw invalid('queue', queue, key, 'invalid_max_age', vhost);
        maxAgeMs = ms;
        break;
      }
      default:
        if (CLASSIC_ONLY.has(key)) {
          throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `invalid arg '${key}' for queue '${queue}' in vhost '${vhost}' of queue type rabbit_stream_queue`);
        }
        throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `unknown queue argument '${key}'`);
    }
  }
  return { maxLengthBytes, maxAgeMs, maxSegmentBytes };
}

function integer(queue: string, key: string, v: unknown, min: number, vhost: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid('queue', queue, key, `expected integer, got ${typeName(v)}`, vhost);
  if (v < 0) throw invalid('queue', queue, key, `{value_negative,${v}}`, vhost);
  if (v < min) throw invalid('queue', queue, key, `expected an integer of at least ${min}, got ${v}`, vhost);
  return v;
}

function property(queue: string, name: string, vhost: string): ProtocolError {
  return new ProtocolError(ReplyCode.PRECONDITION_FAILED, `invalid property '${name}' for queue '${queue}' in vhost '${vhost}'`);
}

/** The AMQP type name RabbitMQ reports for a value of the wrong type. */
function typeName(v: unknown): string {
  if (typeof v === 'string') return 'longstr';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? (v >= -128 && v <= 127 ? 'byte' : 'long') : 'double';
  if (v === null || v === undefined) return 'void';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'timestamp';
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return 'binary';
  return 'table';
}

// ---- consumer arguments ----

/** Where a stream consumer starts (`x-stream-offset`), resolved against the log when it attaches. */
export type StreamStart =
  | { readonly kind: 'first' }
  | { readonly kind: 'last' }
  | { readonly kind: 'next' }
  | { readonly kind: 'offset'; readonly offset: number }
  /** The first message appended at or after this time (ms since the epoch). */
  | { readonly kind: 'timestamp'; readonly at: number }
  /** The first message appended within this long before the consumer attached. */
  | { readonly kind: 'interval'; readonly ms: number };

export const STREAM_OFFSET = 'x-stream-offset';
/** Names a consumer whose offset the broker stores (SPEC §3.4.5 offset tracking). */
export const STREAM_CONSUMER_NAME = 'x-stream-consumer-name';

export interface StreamConsumerArgs {
  /** null: the stored offset of a named consumer, else `next`. */
  readonly start: StreamStart | null;
  readonly name: string | null;
}

/**
 * A stream consumer's arguments. A timestamp offset is a Date (AMQP's `T` field) or a map
 * `{timestamp: ms since the epoch}` (the native protocol, whose arguments are plain msgpack).
 * Throws PRECONDITION_FAILED naming the argument.
 */
export function parseStreamConsumerArgs(queue: string, args: Record<string, unknown>, vhost = '/'): StreamConsumerArgs {
  let start: StreamStart | null = null;
  let name: string | null = null;
  for (const key of Object.keys(args)) {
    const v = args[key];
    if (key === STREAM_OFFSET) start = parseStart(queue, v, vhost);
    else if (key === STREAM_CONSUMER_NAME) name = checkConsumerName(queue, v, vhost);
    // Other consumer arguments (x-priority, x-credit…) are accepted and ignored, as for queues.
  }
  return { start, name };
}

/** A stream consumer's name (offset tracking): 1 to 255 bytes. */
export function checkConsumerName(queue: string, v: unknown, vhost = '/'): string {
  if (typeof v !== 'string' || v === '' || Buffer.byteLength(v) > 255) {
    throw invalid('queue', queue, STREAM_CONSUMER_NAME, `expected a non-empty string of at most 255 bytes, got ${show(v)}`, vhost);
  }
  return v;
}

function isTimestampMap(v: unknown): v is { timestamp: number } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { timestamp?: unknown }).timestamp === 'number';
}

function parseStart(queue: string, v: unknown, vhost: string): StreamStart {
  // AMQP's timestamp arrives as a Date; the native protocol's is a map `{timestamp: ms}`.
  const at = v instanceof Date ? v.getTime() : isTimestampMap(v) ? v.timestamp : null;
  if (at !== null) {
    if (!Number.isFinite(at) || at < 0) throw invalid('queue', queue, STREAM_OFFSET, `an invalid timestamp ${show(v)}`, vhost);
    return { kind: 'timestamp', at };
  }
  if (typeof v === 'number' || typeof v === 'bigint') {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw invalid('queue', queue, STREAM_OFFSET, `expected a non-negative integer offset, got ${String(v)}`, vhost);
    return { kind: 'offset', offset: n };
  }
  if (typeof v === 'string') {
    if (v === 'first' || v === 'last' || v === 'next') return { kind: v };
    const ms = parseAge(v);
    if (ms !== null) return { kind: 'interval', ms };
  }
  throw invalid(
    'queue',
    queue,
    STREAM_OFFSET,
    `expected 'first', 'last', 'next', an offset, a timestamp or an interval such as '1h', got ${show(v)}`,
    vhost,
  );
}
