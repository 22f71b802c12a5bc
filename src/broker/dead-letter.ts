import { storeAmqpMessage, storedBodyStart } from '../../protocol/amqp/content.js';
import { fromNativeTable, toNativeTable } from '../../protocol/amqp/interop.js';
import { decodeBasicProperties, encodeBasicProperties, maxBasicPropertiesSize } from '../../protocol/amqp/methods.generated.js';
import type { BasicProperties } from '../../protocol/amqp/spec.generated.js';
import type { FieldTable } from '../../protocol/amqp/values.js';
import { packValue, unpackProperties } from '../../protocol/index.js';
import { isAmqpContent } from './stored-content.js';
import type { Message } from './message.js';

/** Why a message was dead-lettered (the `reason` of its death record, SPEC §3.4.3). */
export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

/**
 * One entry of the `x-death` header, RabbitMQ's shape: one per (queue, reason), most recent
 * first, `count` incremented when the same queue dead-letters it again for the same reason.
 * `time` is when that first happened, in ms since the epoch (as Skiff's `timestamp` property).
 */
export interface DeathRecord {
  queue: string;
  reason: DeathReason;
  count: number;
  time: number;
  /** The exchange the message had been published to before this death. */
  exchange: string;
  'routing-keys': string[];
  /** The per-message TTL it had, removed so it does not expire again downstream. */
  'original-expiration'?: number;
}

/** The message's content with its death recorded, and the updated `x-death` list. */
export interface DeadLetter {
  content: Buffer;
  deaths: DeathRecord[];
}

/**
 * Rewrites a message's properties for dead-lettering from `queue` (SPEC §3.4.3): adds or bumps
 * its `x-death` record and sets `x-first-death-*` (once) and `x-last-death-*`. The body bytes are
 * reused. Properties that are not a msgpack map (the broker never checked them) cannot carry a
 * record: the content is kept as it was.
 */
export function deadLetter(m: Message, queue: string, reason: DeathReason, now: number): DeadLetter {
  if (isAmqpContent(m.content)) return deadLetterAmqp(m, queue, reason, now);
  let props: Record<string, unknown>;
  try {
    props = m.propsBytes.length === 0 ? {} : unpackProperties(m.propsBytes);
  } catch {
    return { content: m.content, deaths: [] };
  }
  const h = props['headers'];
  const headers: Record<string, unknown> = h !== null && typeof h === 'object' && !Array.isArray(h) && !Buffer.isBuffer(h) ? { ...h } : {};
  const deaths = recordDeath(headers, m, queue, reason, now);
  props['headers'] = headers;
  const packed = packValue(props);
  const body = m.body;
  const content = Buffer.allocUnsafe(4 + packed.length + body.length);
  content.writeUInt32BE(packed.length, 0);
  packed.copy(content, 4);
  body.copy(content, 4 + packed.length);
  return { content, deaths };
}

/**
 * The same for a message stored with AMQP properties: the death headers are written with
 * RabbitMQ's AMQP types (`time` a timestamp, `count` a long), the other headers keep theirs,
 * and the `expiration` property goes (its value is the record's `original-expiration`).
 */
function deadLetterAmqp(m: Message, queue: string, reason: DeathReason, now: number): DeadLetter {
  const c = m.content;
  const bodyStart = storedBodyStart(c);
  let props: BasicProperties;
  try {
    props = decodeBasicProperties(c, 5, bodyStart);
  } catch {
    return { content: c, deaths: [] };
  }
  const amqpHeaders: FieldTable = props.headers ?? {};
  const native = toNativeTable(amqpHeaders);
  const deaths = recordDeath(native, m, queue, reason, now);
  const changed: Record<string, unknown> = {};
  for (const k of DEATH_HEADERS) if (native[k] !== undefined) changed[k] = native[k];
  const next: BasicProperties = { ...props, headers: { ...amqpHeaders, ...fromNativeTable(changed) } };
  delete next.expiration;
  const buf = Buffer.allocUnsafe(maxBasicPropertiesSize(next));
  const n = encodeBasicProperties(buf, 0, next);
  return { content: storeAmqpMessage(buf.subarray(0, n), c.subarray(bodyStart), 0), deaths };
}

const DEATH_HEADERS = [
  'x-death',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-first-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
  'x-last-death-exchange',
] as const;

/** Adds or bumps the death record in `headers` (native values) and sets the `x-*-death-*` ones. */
function recordDeath(headers: Record<string, unknown>, m: Message, queue: string, reason: DeathReason, now: number): DeathRecord[] {
  const previous = Array.isArray(headers['x-death']) ? (headers['x-death'] as unknown[]) : [];
  const deaths: DeathRecord[] = [];
  let record: DeathRecord | null = null;
  for (const d of previous) {
    if (!isRecord(d)) continue;
    if (record === null && d.queue === queue && d.reason === reason) record = { ...d, count: d.count + 1 };
    else deaths.push(d);
  }
  if (record === null) {
    record = { queue, reason, count: 1, time: now, exchange: m.exchange, 'routing-keys': [m.routingKey] };
    if (m.expiration !== 0) record['original-expiration'] = m.expiration;
  }
  deaths.unshift(record);
  headers['x-death'] = deaths;
  if (headers['x-first-death-queue'] === undefined) {
    headers['x-first-death-queue'] = queue;
    headers['x-first-death-reason'] = reason;
    headers['x-first-death-exchange'] = m.exchange;
  }
  headers['x-last-death-queue'] = queue;
  headers['x-last-death-reason'] = reason;
  headers['x-last-death-exchange'] = m.exchange;
  return deaths;
}

function isRecord(d: unknown): d is DeathRecord {
  if (d === null || typeof d !== 'object') return false;
  const r = d as Record<string, unknown>;
  return typeof r['queue'] === 'string' && typeof r['reason'] === 'string' && typeof r['count'] === 'number';
}

/**
 * True when dead-lettering into `target` would close a loop that no client took part in: the
 * message already died in `target` and every death since (including that one) was automatic
 * (expired, maxlen, delivery_limit). Such messages are dropped for that queue, as RabbitMQ
 * does; a loop with a `rejected` in it is a retry loop and goes on.
 */
export function isCycle(reason: DeathReason, deaths: readonly DeathRecord[], target: string): boolean {
  if (reason === 'rejected') return false;
  for (const d of deaths) {
    if (d.reason === 'rejected') return false;
    if (d.queue === target) return true;
  }
  return false;
}
