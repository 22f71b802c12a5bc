import { isUtf8 } from 'node:buffer';
import { readShortString, writeShortString } from '../codec/strings.js';
import { AmqpError } from './errors.js';

/**
 * AMQP's primitive types on the wire (spec §4.2.5), big-endian, for the generated method codecs,
 * field tables and the frame decoder and writer. Writers assume the caller made room (they do
 * not check bounds, as the Buffer methods do on every call); readers assume the caller checked
 * that the bytes are there.
 */

export function readU16(b: Buffer, p: number): number {
  return ((b[p] as number) << 8) | (b[p + 1] as number);
}

export function readU32(b: Buffer, p: number): number {
  return (((b[p] as number) << 24) >>> 0) + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number));
}

/**
 * An unsigned 64-bit integer as a number: exact up to 2^53, rounded above (delivery tags and
 * body sizes never get there; callers that must tell use {@link readU64Exact}).
 */
export function readU64(b: Buffer, p: number): number {
  return readU32(b, p) * 0x1_0000_0000 + readU32(b, p + 4);
}

/** An unsigned 64-bit integer: a number when it is safe, a bigint above 2^53 − 1. */
export function readU64Exact(b: Buffer, p: number): number | bigint {
  const hi = readU32(b, p);
  return hi < 0x20_0000 ? hi * 0x1_0000_0000 + readU32(b, p + 4) : b.readBigUInt64BE(p);
}

/** A signed 64-bit integer: a number when it is safe, a bigint beyond ±(2^53 − 1). */
export function readI64Exact(b: Buffer, p: number): number | bigint {
  const hi = b.readInt32BE(p);
  return hi >= -0x20_0000 && hi < 0x20_0000 ? hi * 0x1_0000_0000 + readU32(b, p + 4) : b.readBigInt64BE(p);
}

export function writeU16(b: Buffer, p: number, v: number): number {
  b[p] = v >>> 8;
  b[p + 1] = v;
  return p + 2;
}

export function writeU32(b: Buffer, p: number, v: number): number {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
  return p + 4;
}

/** A non-negative integer up to 2^53 as an unsigned 64-bit integer. */
export function writeU64(b: Buffer, p: number, v: number): number {
  const hi = Math.floor(v / 0x1_0000_0000);
  writeU32(b, p, hi);
  return writeU32(b, p + 4, v - hi * 0x1_0000_0000);
}

/** Shortstrs up to this many bytes go through the shared string cache; longer ones are rare. */
const CACHED_SHORTSTR = 64;

/** A shortstr's `n` bytes at `p`, decoded as UTF-8 without checking it (content methods). */
export function readShortstr(b: Buffer, p: number, n: number): string {
  return n <= CACHED_SHORTSTR ? readShortString(b, p, n) : b.toString('utf8', p, p + n);
}

/**
 * A shortstr that must be UTF-8 (names in every method without content, as RabbitMQ checks):
 * otherwise FRAME_ERROR with RabbitMQ's words.
 */
export function readShortstrChecked(b: Buffer, p: number, n: number): string {
  for (let i = 0; i < n; i++) {
    if ((b[p + i] as number) > 0x7f) {
      if (!isUtf8(b.subarray(p, p + n))) throw new AmqpError('FRAME_ERROR', 'Malformed UTF-8 in shortstr');
      return b.toString('utf8', p, p + n);
    }
  }
  return readShortstr(b, p, n);
}

/**
 * Writes a shortstr (length octet and UTF-8 bytes) at `p`; needs 1 + 3 × `s.length` bytes of room.
 * Throws RangeError for more than 255 bytes, before the caller has committed anything.
 */
export function writeShortstr(b: Buffer, p: number, s: string): number {
  const n = s.length < 86 ? writeShortString(b, p + 1, s) : b.write(s, p + 1, 'utf8');
  if (n > 255) throw new RangeError(`AMQP shortstr of ${n} bytes exceeds 255: ${JSON.stringify(s.slice(0, 40))}…`);
  b[p] = n;
  return p + 1 + n;
}

/** Writes a longstr (u32 length and the bytes). */
export function writeLongstr(b: Buffer, p: number, v: Uint8Array): number {
  b.set(v, p + 4);
  writeU32(b, p, v.length);
  return p + 4 + v.length;
}

/** Arguments that end before their last field (the method decoder names the method). */
export function truncated(): AmqpError {
  return new AmqpError('FRAME_ERROR', 'arguments are truncated');
}

export function trailing(n: number): AmqpError {
  return new AmqpError('FRAME_ERROR', `${n} unexpected octet${n === 1 ? '' : 's'} after the last argument`);
}
