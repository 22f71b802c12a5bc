import type { MessageProperties } from '../codec/properties.js';
import { AmqpError } from './errors.js';
import type { BasicProperties } from './spec.generated.js';
import { AmqpDecimal, AmqpTyped, type FieldTable, type FieldValue } from './values.js';

/**
 * Message properties between AMQP and Skiff's native protocol (SPEC §3.3), both ways, as far as
 * both sides can express them:
 *
 * | AMQP basic property | native | notes |
 * | --- | --- | --- |
 * | content-type, content-encoding, correlation-id, reply-to, message-id, type, user-id, app-id | same name, camelCase | native strings over 255 bytes cannot go to AMQP and are left out |
 * | headers | `headers` | values as in {@link toNativeValue} / {@link fromNativeValue} |
 * | timestamp (seconds) | `timestamp` (ms) | ×1000 / ÷1000 rounded down |
 * | delivery-mode 2 | publish argument `persistent` | 1 or absent = not persistent |
 * | priority | publish argument `priority` | |
 * | expiration (ms as text) | publish argument `expiration` (ms) | {@link parseExpiration} |
 * | cluster-id | — | deprecated in 0-9-1; not carried |
 *
 * Header values: strings, booleans, numbers, null, byte arrays, arrays and tables map to their
 * msgpack counterparts. What msgpack lacks becomes the nearest thing it has: a timestamp the
 * milliseconds number (native times are ms), a decimal its double, int64 beyond 2^53 a bigint
 * (msgpack int64). Integer widths and float vs double are not kept (msgpack readers do not
 * report them); coming back, numbers take the types amqplib gives them. RabbitMQ's own
 * `x-death` header gets its AMQP types back (`time` a timestamp, `count` a long).
 */

/** The native property map (SPEC §3.3). */
export type NativeProperties = MessageProperties;

/** The native publish arguments AMQP carries as properties. */
export interface NativePublishFlags {
  persistent: boolean;
  priority: number;
  /** Per-message TTL in ms; 0 for none. */
  expiration: number;
}

const STRING_PROPERTIES = ['contentType', 'contentEncoding', 'correlationId', 'replyTo', 'messageId', 'type', 'userId', 'appId'] as const;

/** The native property map for AMQP properties (see the module comment); only present keys. */
export function toNativeProperties(p: BasicProperties): NativeProperties {
  const n: NativeProperties = {};
  for (const k of STRING_PROPERTIES) {
    const v = p[k];
    if (v != null) n[k] = v;
  }
  if (p.headers != null) n.headers = toNativeTable(p.headers);
  if (p.timestamp != null) n.timestamp = p.timestamp * 1000;
  return n;
}

/**
 * What a native publish takes from AMQP properties: `persistent` for delivery-mode 2, the
 * priority, and the expiration parsed as RabbitMQ does (PRECONDITION_FAILED when it is not).
 */
export function toNativePublishFlags(p: BasicProperties): NativePublishFlags {
  return {
    persistent: p.deliveryMode === 2,
    priority: p.priority ?? 0,
    expiration: p.expiration == null ? 0 : parseExpiration(p.expiration),
  };
}

/**
 * AMQP properties for a native message: its property map (as decoded from msgpack, so of any
 * shape: values of the wrong type are left out) and the publish flags the broker kept.
 */
export function fromNativeProperties(n: Readonly<Record<string, unknown>>, flags: Partial<NativePublishFlags> = {}): BasicProperties {
  const p: BasicProperties = {};
  for (const k of STRING_PROPERTIES) {
    const v = n[k];
    if (typeof v === 'string' && Buffer.byteLength(v) <= 255) p[k] = v;
  }
  const h = n['headers'];
  if (isMap(h)) p.headers = fromNativeTable(h);
  const ts = n['timestamp'];
  if (typeof ts === 'number' && Number.isFinite(ts) && ts >= 0) p.timestamp = Math.floor(ts / 1000);
  if (flags.persistent === true) p.deliveryMode = 2;
  if (flags.priority !== undefined && flags.priority > 0) p.priority = Math.min(255, flags.priority);
  if (flags.expiration !== undefined && flags.expiration > 0) p.expiration = String(flags.expiration);
  return p;
}

/** The longest per-message TTL RabbitMQ accepts: ten years in ms. */
const MAX_EXPIRY = 315_360_000_000;

/**
 * An `expiration` property as RabbitMQ reads it (Erlang's `string:to_integer`: an optional
 * sign and digits, nothing after them, 0 to ten years): the TTL in ms, or AmqpError
 * PRECONDITION_FAILED worded as RabbitMQ's (`invalid expiration 'soon': no_integer`).
 */
export function parseExpiration(s: string): number {
  const m = /^([+-]?)(\d+)(.*)$/s.exec(s);
  let reason: string;
  if (m === null) reason = 'no_integer';
  else if (m[3] !== '') reason = `{leftover_string,${JSON.stringify(m[3])}}`;
  else {
    const n = Number(`${m[1]}${m[2]}`);
    if (n < 0) reason = `{value_negative,${m[1]}${m[2]?.replace(/^0+(?=\d)/, '')}}`;
    else if (n > MAX_EXPIRY) reason = `{value_too_large,${m[2]?.replace(/^0+(?=\d)/, '')}}`;
    else return n || 0; // "-0" is 0
  }
  throw new AmqpError('PRECONDITION_FAILED', `invalid expiration '${s}': ${reason}`);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A field table as native (msgpack) values. */
export function toNativeTable(t: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in t) {
    const v = t[k];
    if (v === undefined) continue;
    if (k === '__proto__') Object.defineProperty(out, k, { value: toNativeValue(v), enumerable: true, writable: true, configurable: true });
    else out[k] = toNativeValue(v);
  }
  return out;
}

/** One field value as the nearest msgpack value (see the module comment). */
export function toNativeValue(v: FieldValue): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toNativeValue);
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.length);
  if (v instanceof Date) return v.getTime();
  if (v instanceof AmqpDecimal) return v.toNumber();
  if (v instanceof AmqpTyped) {
    switch (v.type) {
      case 'T':
        return Number(v.value) * 1000;
      case 'D':
        return (v.value as AmqpDecimal).toNumber();
      case 'S':
        return typeof v.value === 'string' ? v.value : Buffer.from(v.value as Uint8Array);
      default:
        return toNativeValue(v.value as FieldValue);
    }
  }
  return toNativeTable(v as FieldTable);
}

/** A native map as a field table; keys AMQP cannot hold (over 255 bytes) are left out. */
export function fromNativeTable(m: Readonly<Record<string, unknown>>): FieldTable {
  const out: FieldTable = {};
  for (const k in m) {
    if (Buffer.byteLength(k) > 255) continue;
    const v = k === 'x-death' ? fromNativeDeaths(m[k]) : fromNativeValue(m[k]);
    if (v === undefined) continue;
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

/** One native value as a field value; `undefined` for what AMQP cannot hold. */
export function fromNativeValue(v: unknown): FieldValue | undefined {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'number':
    case 'bigint':
      return v;
    case 'object':
      if (v === null) return null;
      if (Array.isArray(v)) return v.map((e) => fromNativeValue(e) ?? null);
      if (v instanceof Uint8Array) return v;
      if (isMap(v)) return fromNativeTable(v);
      return undefined;
    default:
      return undefined;
  }
}

/** RabbitMQ's `x-death` records with their AMQP types: `time` a timestamp, `count` a long. */
function fromNativeDeaths(v: unknown): FieldValue | undefined {
  if (!Array.isArray(v)) return fromNativeValue(v);
  return v.map((d) => {
    if (!isMap(d)) return fromNativeValue(d) ?? null;
    const t = fromNativeTable(d);
    const time = d['time'];
    if (typeof time === 'number' && Number.isFinite(time) && time >= 0) t['time'] = new AmqpTyped('T', Math.floor(time / 1000));
    const count = d['count'];
    if (typeof count === 'number' && Number.isInteger(count)) t['count'] = new AmqpTyped('l', count);
    const exp = d['original-expiration'];
    if (typeof exp === 'number') t['original-expiration'] = String(exp);
    return t;
  });
}
