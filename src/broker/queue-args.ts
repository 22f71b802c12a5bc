import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import { DELAYED_TYPE, DELAYED_TYPE_ARG, checkDelayedArguments } from './exchange/delayed.js';

/** What a full queue does with one more message (`x-overflow`, SPEC §3.4.1). */
export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

/**
 * A queue's `x-` arguments, parsed and checked (SPEC §3.4.1). `null` fields are unset. A queue
 * declared without any `x-` argument has no policy at all, so its hot path tests one field.
 */
export interface QueuePolicy {
  /** `x-message-ttl`: ms a message may stay ready in this queue. */
  readonly messageTtl: number | null;
  /** `x-expires`: ms without consumers, gets or re-declares after which the queue is deleted. */
  readonly expires: number | null;
  /** `x-max-length`: ready messages. */
  readonly maxLength: number | null;
  /** `x-max-length-bytes`: content bytes (properties + body) of ready messages. */
  readonly maxLengthBytes: number | null;
  readonly overflow: Overflow;
  readonly deadLetterExchange: string | null;
  readonly deadLetterRoutingKey: string | null;
  /** `x-max-priority`: highest priority level, 1…255. */
  readonly maxPriority: number | null;
  /** `x-delivery-limit`: returns a message survives before it is dead-lettered or dropped. */
  readonly deliveryLimit: number | null;
  /** `x-consumer-timeout`: ms a delivery may stay unacked before its channel is closed. */
  readonly consumerTimeout: number | null;
}

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const OVERFLOWS: readonly Overflow[] = ['drop-head', 'reject-publish', 'reject-publish-dlx'];

/** Highest accepted `x-max-priority`, as RabbitMQ (which recommends at most 10). */
export const MAX_PRIORITY = 255;

/** Returns a reason when `v` is unacceptable, else stores it. */
type ArgParser = (v: unknown, p: Mutable<QueuePolicy>) => string | null;

function nonNegative(set: (p: Mutable<QueuePolicy>, n: number) => void): ArgParser {
  return (v, p) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return `expected a non-negative integer, got ${show(v)}`;
    set(p, v);
    return null;
  };
}

function str(set: (p: Mutable<QueuePolicy>, s: string) => void): ArgParser {
  return (v, p) => {
    if (typeof v !== 'string') return `expected a string, got ${show(v)}`;
    set(p, v);
    return null;
  };
}

/** Every queue argument Skiff knows; keys starting `x-` and not listed here are refused. */
const QUEUE_ARGS: ReadonlyMap<string, ArgParser> = new Map<string, ArgParser>([
  ['x-message-ttl', nonNegative((p, n) => (p.messageTtl = n))],
  [
    'x-expires',
    (v, p) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) return `expected a positive integer, got ${show(v)}`;
      p.expires = v;
      return null;
    },
  ],
  ['x-max-length', nonNegative((p, n) => (p.maxLength = n))],
  ['x-max-length-bytes', nonNegative((p, n) => (p.maxLengthBytes = n))],
  [
    'x-overflow',
    (v, p) => {
      if (typeof v !== 'string' || !(OVERFLOWS as readonly string[]).includes(v)) {
        return `expected 'drop-head', 'reject-publish' or 'reject-publish-dlx', got ${show(v)}`;
      }
      p.overflow = v as Overflow;
      return null;
    },
  ],
  ['x-dead-letter-exchange', str((p, s) => (p.deadLetterExchange = s))],
  ['x-dead-letter-routing-key', str((p, s) => (p.deadLetterRoutingKey = s))],
  [
    'x-max-priority',
    (v, p) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_PRIORITY) {
        return `expected an integer from 1 to ${MAX_PRIORITY}, got ${show(v)}`;
      }
      p.maxPriority = v;
      return null;
    },
  ],
  ['x-delivery-limit', nonNegative((p, n) => (p.deliveryLimit = n))],
  ['x-consumer-timeout', nonNegative((p, n) => (p.consumerTimeout = n))],
]);

/** `x-queue-type`: accepted when `classic`, and then without a policy (nothing to act on). */
const QUEUE_TYPE = 'x-queue-type';

/** Names of the queue arguments Skiff acts on, for docs and drift tests. */
export const QUEUE_ARGUMENT_NAMES: readonly string[] = [...QUEUE_ARGS.keys()];

/**
 * Checks a queue's arguments and returns its policy, or null when it has no `x-` argument.
 * Keys without the `x-` prefix are kept and ignored, as RabbitMQ does. Throws
 * PRECONDITION_FAILED naming the first bad argument.
 */
export function parseQueueArguments(queue: string, args: Record<string, unknown>, vhost = '/'): QueuePolicy | null {
  let p: Mutable<QueuePolicy> | null = null;
  for (const key of Object.keys(args)) {
    if (!key.startsWith('x-')) continue;
    if (key === QUEUE_TYPE) {
      // Stock clients and RabbitMQ exports name the type; streams are declared through stream-args.ts.
      if (args[key] !== 'classic') throw invalid('queue', queue, key, `unsupported queue type ${show(args[key])}`, vhost);
      continue;
    }
    const parse = QUEUE_ARGS.get(key);
    if (parse === undefined) throw unknownArgument('queue', key);
    p ??= emptyPolicy();
    const reason = parse(args[key], p);
    if (reason !== null) throw invalid('queue', queue, key, reason, vhost);
  }
  if (p !== null && p.deadLetterRoutingKey !== null && p.deadLetterExchange === null) {
    throw invalid('queue', queue, 'x-dead-letter-routing-key', "requires 'x-dead-letter-exchange'", vhost);
  }
  return p;
}

/** A policy with nothing set (drop-head overflow), to fill in. */
export function emptyPolicy(): Mutable<QueuePolicy> {
  return {
    messageTtl: null,
    expires: null,
    maxLength: null,
    maxLengthBytes: null,
    overflow: 'drop-head',
    deadLetterExchange: null,
    deadLetterRoutingKey: null,
    maxPriority: null,
    deliveryLimit: null,
    consumerTimeout: null,
  };
}

/** The exchange argument naming where unroutable messages go (RabbitMQ's name, no `x-`). */
export const ALTERNATE_EXCHANGE = 'alternate-exchange';

/**
 * Checks an exchange's arguments (SPEC §3.3.1) and returns its alternate exchange, or null.
 * Unknown `x-` keys are refused; other keys are kept and ignored.
 */
export function parseExchangeArguments(exchange: string, args: Record<string, unknown>, type = '', vhost = '/'): string | null {
  let alternate: string | null = null;
  // The delayed type's own argument (checked by it), accepted on that type only.
  if (type === DELAYED_TYPE) checkDelayedArguments(args);
  for (const key of Object.keys(args)) {
    const v = args[key];
    if (key === DELAYED_TYPE_ARG && type === DELAYED_TYPE) continue;
    if (key === ALTERNATE_EXCHANGE) {
      if (typeof v !== 'string') throw invalid('exchange', exchange, key, `expected a string, got ${show(v)}`, vhost);
      alternate = v;
    } else if (key.startsWith('x-')) {
      throw unknownArgument('exchange', key);
    }
  }
  return alternate;
}

/**
 * Re-declaring must not change what the broker acts on (AMQP `assert_equivalence`): every
 * `x-` argument, and `alternate-exchange` for exchanges, must match what is in force.
 */
export function checkArgumentsEquivalent(
  kind: 'queue' | 'exchange',
  name: string,
  received: Record<string, unknown>,
  current: Record<string, unknown>,
  vhost = '/',
): void {
  const keys = new Set<string>();
  for (const k of Object.keys(received)) if (acted(k)) keys.add(k);
  for (const k of Object.keys(current)) if (acted(k)) keys.add(k);
  for (const k of keys) {
    const r = received[k];
    const c = current[k];
    if (!sameArg(r, c)) {
      throw new ProtocolError(
        ReplyCode.PRECONDITION_FAILED,
        `inequivalent arg '${k}' for ${kind} '${name}' in vhost '${vhost}': received ${r === undefined ? 'none' : show(r)} but current is ${c === undefined ? 'none' : show(c)}`,
      );
    }
  }
}

function acted(key: string): boolean {
  return key.startsWith('x-') || key === ALTERNATE_EXCHANGE;
}

function sameArg(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  return typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b);
}

function unknownArgument(kind: string, key: string): ProtocolError {
  return new ProtocolError(ReplyCode.PRECONDITION_FAILED, `unknown ${kind} argument '${key}'`);
}

/** PRECONDITION_FAILED for one argument, in RabbitMQ's words. */
export function invalid(kind: string, name: string, key: string, reason: string, vhost = '/'): ProtocolError {
  return new ProtocolError(ReplyCode.PRECONDITION_FAILED, `invalid arg '${key}' for ${kind} '${name}' in vhost '${vhost}': ${reason}`);
}

/** A value as an error message shows it: strings quoted, the rest as msgpack would read. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === null || v === undefined) return 'nil';
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
