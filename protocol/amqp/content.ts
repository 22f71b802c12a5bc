import { packValue, unpackProperties } from '../codec/msgpack.js';
import { fromNativeProperties, toNativeProperties, toNativeTable, type NativePublishFlags } from './interop.js';
import { decodeBasicProperties } from './methods.generated.js';
import type { BasicProperties } from './spec.generated.js';

/**
 * A proposed stored form for messages published over AMQP, so that one stored copy serves
 * consumers of both protocols without re-encoding for the common case.
 *
 * The broker keeps every message as `[u32 propsSize][props][body]` (SPEC §3), where native
 * `props` are a msgpack map. An AMQP-published message keeps its content header's property
 * block exactly as received, behind a tag byte msgpack never uses (0xC1):
 *
 *     [u32 1 + n][0xC1][n bytes: property flags and properties][body]
 *
 * An AMQP consumer gets those bytes forwarded untouched (`AmqpFrameWriter.deliverStored`); a
 * native consumer gets them mapped to a msgpack map ({@link storedNativeProperties}); a native
 * message going to an AMQP consumer gets its map mapped the other way
 * ({@link storedAmqpProperties}). A native `props` block can never start with 0xC1 when it is
 * a valid msgpack map, so the native listener must refuse (or drop) properties starting with it.
 */

/** First byte of a stored property block that holds AMQP properties. */
export const AMQP_PROPERTIES_TAG = 0xc1;

/**
 * Bytes to keep free in front of an assembled body for its stored form: the value to give
 * `AmqpDecoderOptions.bodyHeadroom`, so {@link storeAmqpMessage} builds around the body in place.
 */
export function storedHeadroom(rawProperties: Buffer): number {
  return 5 + rawProperties.length;
}

/**
 * The stored form of an AMQP message from what the decoder handed out. With `headroom` of at
 * least {@link storedHeadroom} (an assembled body) it is built in place around the body, else
 * the body is copied once into a new buffer.
 */
export function storeAmqpMessage(rawProperties: Buffer, body: Buffer, headroom: number): Buffer {
  const head = 5 + rawProperties.length;
  let c: Buffer;
  if (headroom >= head) c = Buffer.from(body.buffer, body.byteOffset - head, head + body.length);
  else {
    c = Buffer.allocUnsafe(head + body.length);
    body.copy(c, head);
  }
  c.writeUInt32BE(1 + rawProperties.length, 0);
  c[4] = AMQP_PROPERTIES_TAG;
  rawProperties.copy(c, 5);
  return c;
}

/** True when a stored message holds AMQP properties. */
export function isAmqpStored(content: Buffer): boolean {
  return content.length >= 5 && content[4] === AMQP_PROPERTIES_TAG && content.readUInt32BE(0) >= 1;
}

/** Where a stored message's properties end and its body begins. */
export function storedBodyStart(content: Buffer): number {
  return 4 + content.readUInt32BE(0);
}

/** AMQP properties of a stored message of either form; `flags` are the broker's for native ones. */
export function storedAmqpProperties(content: Buffer, flags: Partial<NativePublishFlags> = {}): BasicProperties {
  const end = storedBodyStart(content);
  if (isAmqpStored(content)) return decodeBasicProperties(content, 5, end);
  return fromNativeProperties(end === 4 ? {} : unpackProperties(content.subarray(4, end)), flags);
}

/** Native (msgpack) properties of a stored message of either form; empty for none. */
export function storedNativeProperties(content: Buffer): Buffer {
  const end = storedBodyStart(content);
  if (!isAmqpStored(content)) return content.subarray(4, end);
  const n = toNativeProperties(decodeBasicProperties(content, 5, end));
  return Object.keys(n).length === 0 ? EMPTY : packValue(n);
}

/** The `headers` of a stored message of either form, as native values (headers-exchange routing). */
export function storedHeaders(content: Buffer): Record<string, unknown> {
  const end = storedBodyStart(content);
  if (isAmqpStored(content)) {
    const h = decodeBasicProperties(content, 5, end).headers;
    return h == null ? {} : toNativeTable(h);
  }
  if (end === 4) return {};
  const h = unpackProperties(content.subarray(4, end))['headers'];
  return h !== null && typeof h === 'object' && !Array.isArray(h) && !Buffer.isBuffer(h) ? (h as Record<string, unknown>) : {};
}

const EMPTY: Buffer = Buffer.alloc(0);
