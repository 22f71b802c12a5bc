import { packValue, unpackProperties } from '../../protocol/index.js';
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
  let props: Record<string, unknown>;
  try {
    props = m.propsBytes.length === 0 ? {} : unpackProperties(m.propsBytes);
  } catch {
    return { content: m.content, deaths: [] };
  }
  const h = props['headers'];
  const headers: Record<string, unknown> = h !== null && typeof h === 'object' && !Array.isArray(h) && !Buffer.isBuffer(h) ? { ...h } : {};
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
  props['headers'] = headers;
  const packed = packValue(props);
  const body = m.body;
  const content = Buffer.allocUnsafe(4 + packed.length + body.length);
  content.writeUInt32BE(packed.length, 0);
  packed.copy(content, 4);
  body.copy(content, 4 + packed.length);
  return { content, deaths };
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
