import { AMQP_PROPERTIES_TAG, storedNativeProperties } from '../../protocol/amqp/content.js';
import { packValue, unpackProperties } from '../../protocol/index.js';
import { Message } from './message.js';

/**
 * One message of a stream as its segment holds it (SPEC §3.4.5, README "Streams"):
 *
 *     u32 size (of what follows)   f64 offset   f64 timestamp (ms)
 *     u8 flags (bit 0 persistent)  u8 priority  u8 exchange length  u32 routing key length
 *     exchange  routing key  content
 *
 * `content` is the message in the broker's stored form (`[u32 propsSize][props][body]`) with
 * the `x-stream-offset` header already in its properties, so a replay forwards the bytes it
 * reads without touching them. Offsets in a segment are consecutive from the segment's base.
 */
export const RECORD_HEADER = 27;

const OFFSET_KEY = 'x-stream-offset';
/** An AMQP field-table entry `x-stream-offset` → signed 64-bit: shortstr key, 'l', int64. */
const AMQP_ENTRY = 1 + OFFSET_KEY.length + 1 + 8;
const AMQP_HEADERS_FLAG = 0x2000;
/** msgpack `{headers: {x-stream-offset: <uint64>}}` for a native message without properties. */
const NATIVE_EMPTY_PROPS = 1 + 8 + 1 + 16 + 9;

/**
 * Bytes the record of a message takes, and how its properties are rewritten: `amqp` splices an
 * entry into the raw AMQP headers, `native-empty` writes a fresh map, `repacked` carries the
 * properties re-encoded (native maps with properties, or AMQP blocks with flag continuations).
 */
export interface RecordPlan {
  size: number;
  kind: 'amqp' | 'native-empty' | 'repacked';
  /** For `amqp`: where the headers table starts (or would go) in the content, and whether there is one. */
  at: number;
  hasHeaders: boolean;
  /** For `repacked`: the new property bytes (the offset goes in as a placeholder and is patched). */
  props: Buffer | null;
}

const plan: RecordPlan = { size: 0, kind: 'amqp', at: 0, hasHeaders: false, props: null };

/** Plans the record of `content` (reused object: read it before the next call). */
export function planRecord(exchange: string, routingKey: string, content: Buffer): RecordPlan {
  const head = RECORD_HEADER + Buffer.byteLength(exchange) + Buffer.byteLength(routingKey);
  const propsSize = content.readUInt32BE(0);
  plan.props = null;
  if (propsSize === 0) {
    plan.kind = 'native-empty';
    plan.size = head + content.length + NATIVE_EMPTY_PROPS;
    return plan;
  }
  if (content[4] === AMQP_PROPERTIES_TAG && propsSize >= 3) {
    const flags = content.readUInt16BE(5);
    if ((flags & 1) === 0) {
      let p = 7;
      if ((flags & 0x8000) !== 0) p += 1 + (content[p] as number);
      if ((flags & 0x4000) !== 0) p += 1 + (content[p] as number);
      plan.kind = 'amqp';
      plan.at = p;
      plan.hasHeaders = (flags & AMQP_HEADERS_FLAG) !== 0;
      plan.size = head + content.length + AMQP_ENTRY + (plan.hasHeaders ? 0 : 4);
      return plan;
    }
  }
  plan.kind = 'repacked';
  plan.props = repackedProps(content);
  plan.size = head + 4 + plan.props.length + (content.length - 4 - propsSize);
  return plan;
}

/** Native properties with a placeholder `x-stream-offset` header (a uint64 patched by {@link writeRecord}). */
function repackedProps(content: Buffer): Buffer {
  let props: Record<string, unknown>;
  try {
    props = unpackProperties(storedNativeProperties(content));
  } catch {
    // Malformed properties are delivered as sent (SPEC §3); the offset header is then left out.
    props = {};
  }
  const headers = props['headers'];
  const h = headers !== null && typeof headers === 'object' && !Array.isArray(headers) && !Buffer.isBuffer(headers) ? { ...(headers as object) } : {};
  // A marker msgpack encodes as 0xcf + 8 bytes whatever the offset, found again by its value.
  (h as Record<string, unknown>)[OFFSET_KEY] = MARKER;
  props['headers'] = h;
  return Buffer.from(packValue(props));
}

/** 2^63 + 1: a uint64 no offset reaches, so msgpack writes it as 0xcf and 8 bytes. */
const MARKER = 2n ** 63n + 1n;
const MARKER_BYTES = Buffer.from([0xcf, 0x80, 0, 0, 0, 0, 0, 0, 1]);

/**
 * Writes the record planned by the last {@link planRecord} into `buf` at `pos`; returns where
 * the content starts (the record ends at `pos + plan.size`).
 */
export function writeRecord(
  buf: Buffer,
  pos: number,
  p: RecordPlan,
  offset: number,
  timestamp: number,
  persistent: boolean,
  priority: number,
  exchange: string,
  routingKey: string,
  content: Buffer,
): number {
  buf.writeUInt32BE(p.size - 4, pos);
  buf.writeDoubleBE(offset, pos + 4);
  buf.writeDoubleBE(timestamp, pos + 12);
  buf[pos + 20] = persistent ? 1 : 0;
  buf[pos + 21] = priority > 255 ? 255 : priority;
  let q = pos + RECORD_HEADER;
  const ex = buf.write(exchange, q, 'utf8');
  q += ex;
  const rk = buf.write(routingKey, q, 'utf8');
  q += rk;
  buf[pos + 22] = ex;
  buf.writeUInt32BE(rk, pos + 23);
  const start = q;
  const propsSize = content.readUInt32BE(0);
  switch (p.kind) {
    case 'native-empty': {
      buf.writeUInt32BE(NATIVE_EMPTY_PROPS, q);
      q += 4;
      buf[q++] = 0x81;
      buf[q++] = 0xa7;
      q += buf.write('headers', q, 'latin1');
      buf[q++] = 0x81;
      buf[q++] = 0xaf;
      q += buf.write(OFFSET_KEY, q, 'latin1');
      buf[q++] = 0xcf;
      writeUint64(buf, q, offset);
      q += 8;
      content.copy(buf, q, 4);
      break;
    }
    case 'amqp': {
      const extra = AMQP_ENTRY + (p.hasHeaders ? 0 : 4);
      buf.writeUInt32BE(propsSize + extra, q);
      // Flags and content-type / content-encoding, as sent.
      content.copy(buf, q + 4, 4, p.at);
      buf.writeUInt16BE(content.readUInt16BE(5) | AMQP_HEADERS_FLAG, q + 5);
      q += p.at;
      let rest = p.at;
      if (p.hasHeaders) {
        const len = content.readUInt32BE(p.at);
        buf.writeUInt32BE(len + AMQP_ENTRY, q);
        content.copy(buf, q + 4, p.at + 4, p.at + 4 + len);
        q += 4 + len;
        rest = p.at + 4 + len;
      } else {
        buf.writeUInt32BE(AMQP_ENTRY, q);
        q += 4;
      }
      buf[q++] = OFFSET_KEY.length;
      q += buf.write(OFFSET_KEY, q, 'latin1');
      buf[q++] = 0x6c; // 'l' (a non-negative offset has the same bytes signed or not)
      writeUint64(buf, q, offset);
      q += 8;
      content.copy(buf, q, rest);
      break;
    }
    case 'repacked': {
      const props = p.props as Buffer;
      buf.writeUInt32BE(props.length, q);
      q += 4;
      props.copy(buf, q);
      const marker = props.indexOf(MARKER_BYTES);
      if (marker !== -1) writeUint64(buf, q + marker + 1, offset);
      q += props.length;
      content.copy(buf, q, 4 + propsSize);
      break;
    }
  }
  return start;
}

/**
 * Reads whole records from `chunk` starting at `pos`, calling `take` for each as a Message (id =
 * offset) until `take` returns false or a record is cut off. Returns the position after the
 * last whole record taken.
 */
export function readRecords(
  chunk: Buffer,
  pos: number,
  take: (m: Message, timestamp: number) => boolean,
): number {
  let lastEx = '';
  let lastExBytes: Buffer | null = null;
  let lastRk = '';
  let lastRkBytes: Buffer | null = null;
  while (pos + RECORD_HEADER <= chunk.length) {
    const size = chunk.readUInt32BE(pos);
    const end = pos + 4 + size;
    if (end > chunk.length || size < RECORD_HEADER - 4) break;
    const offset = chunk.readDoubleBE(pos + 4);
    const ts = chunk.readDoubleBE(pos + 12);
    const flags = chunk[pos + 20] as number;
    const priority = chunk[pos + 21] as number;
    const exLen = chunk[pos + 22] as number;
    const rkLen = chunk.readUInt32BE(pos + 23);
    let q = pos + RECORD_HEADER;
    // Replays read runs of messages from the same exchange and key: decode each name once.
    let ex: string;
    if (lastExBytes !== null && exLen === lastExBytes.length && chunk.compare(lastExBytes, 0, exLen, q, q + exLen) === 0) ex = lastEx;
    else {
      ex = lastEx = chunk.toString('utf8', q, q + exLen);
      lastExBytes = chunk.subarray(q, q + exLen);
    }
    q += exLen;
    let rk: string;
    if (lastRkBytes !== null && rkLen === lastRkBytes.length && chunk.compare(lastRkBytes, 0, rkLen, q, q + rkLen) === 0) rk = lastRk;
    else {
      rk = lastRk = chunk.toString('utf8', q, q + rkLen);
      lastRkBytes = chunk.subarray(q, q + rkLen);
    }
    q += rkLen;
    const m = new Message(offset, ex, rk, chunk.subarray(q, end), (flags & 1) !== 0, priority);
    if (!take(m, ts)) return pos;
    pos = end;
  }
  return pos;
}

/** Size of the record at `pos` (for a record larger than a read chunk), or 0 if its header is cut off. */
export function recordSizeAt(chunk: Buffer, pos: number): number {
  return pos + 4 <= chunk.length ? 4 + chunk.readUInt32BE(pos) : 0;
}

/** A safe integer as a big-endian uint64, without a BigInt per message. */
function writeUint64(buf: Buffer, at: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}
