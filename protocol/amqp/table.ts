import { isUtf8 } from 'node:buffer';
import { AmqpError } from './errors.js';
import { AmqpDecimal, AmqpTyped, type FieldTable, type FieldType, type FieldValue } from './values.js';
import { readI64Exact, readShortstr, readU32, readU64Exact, writeShortstr, writeU32 } from './wire.js';

/**
 * Field tables and arrays (spec §4.2.5.5 with RabbitMQ's tags; the JavaScript mapping is in
 * values.ts). Decoding checks every length against the bytes that hold it and bounds nesting,
 * so hostile input gets a FRAME_ERROR naming what is wrong, never a RangeError or a stack
 * overflow.
 */

/** Tables and arrays nest at most this deep; RabbitMQ's own (x-death) nest four levels. */
export const MAX_TABLE_DEPTH = 64;

const T = 0x74; // t
const b_ = 0x62; // b
const B = 0x42; // B
const s_ = 0x73; // s
const u = 0x75; // u
const I = 0x49; // I
const i_ = 0x69; // i
const l_ = 0x6c; // l
const L = 0x4c; // L: RabbitMQ reads it as int64 too
const f = 0x66; // f
const d = 0x64; // d
const D = 0x44; // D
const S = 0x53; // S
const x = 0x78; // x
const A = 0x41; // A
const TS = 0x54; // T
const F = 0x46; // F
const V = 0x56; // V

/** Largest seconds value a Date can hold (8.64e15 ms). */
const MAX_DATE_SECONDS = 8.64e12;

// The decoder's position: a module-level cursor instead of [value, offset] pairs, which would
// allocate per value.
let pos = 0;

/**
 * Decodes the entries of a table in `b[start, end)`: the bytes after its u32 length prefix.
 * Throws AmqpError FRAME_ERROR on malformed input.
 */
export function decodeTable(b: Buffer, start: number, end: number): FieldTable {
  pos = start;
  return readEntries(b, end, 0, false);
}

/** As {@link decodeTable}, but with every value an {@link AmqpTyped}, nested ones included. */
export function decodeTableTyped(b: Buffer, start: number, end: number): FieldTable {
  pos = start;
  return readEntries(b, end, 0, true);
}

/** Decodes a whole encoded table, length prefix included (as {@link tableToBuffer} makes it). */
export function tableFromBuffer(buf: Buffer, typed = false): FieldTable {
  if (buf.length < 4) throw malformed('the table length is truncated');
  const n = readU32(buf, 0);
  if (n !== buf.length - 4) throw malformed(`the table length ${n} does not match its ${buf.length - 4} octets`);
  return typed ? decodeTableTyped(buf, 4, buf.length) : decodeTable(buf, 4, buf.length);
}

function malformed(what: string): AmqpError {
  return new AmqpError('FRAME_ERROR', `malformed field table: ${what}`);
}

function where(at: string | number): string {
  return typeof at === 'number' ? `array element ${at}` : `key '${at}'`;
}

function readEntries(b: Buffer, end: number, depth: number, typed: boolean): FieldTable {
  if (depth >= MAX_TABLE_DEPTH) throw malformed(`tables and arrays nest deeper than ${MAX_TABLE_DEPTH} levels`);
  const t: FieldTable = {};
  while (pos < end) {
    const n = b[pos++] as number;
    if (end - pos < n + 1) throw malformed(`the entry after ${Object.keys(t).length} entries overruns the table`);
    const key = readShortstr(b, pos, n);
    pos += n;
    const v = readValue(b, end, depth, typed, key);
    // A key `__proto__` would set the object's prototype instead of an entry.
    if (key === '__proto__') Object.defineProperty(t, key, { value: v, enumerable: true, writable: true, configurable: true });
    else t[key] = v;
  }
  return t;
}

function readArray(b: Buffer, end: number, depth: number, typed: boolean): FieldValue[] {
  if (depth >= MAX_TABLE_DEPTH) throw malformed(`tables and arrays nest deeper than ${MAX_TABLE_DEPTH} levels`);
  const a: FieldValue[] = [];
  while (pos < end) a.push(readValue(b, end, depth, typed, a.length));
  return a;
}

function need(end: number, n: number, at: string | number): void {
  if (end - pos < n) throw malformed(`the value of ${where(at)} overruns its table or array`);
}

function readValue(b: Buffer, end: number, depth: number, typed: boolean, at: string | number): FieldValue {
  const tag = b[pos++] as number;
  let v: FieldValue;
  let type: FieldType;
  switch (tag) {
    case S: {
      need(end, 4, at);
      const n = readU32(b, pos);
      pos += 4;
      need(end, n, at);
      v = readLongString(b, pos, n);
      pos += n;
      if (typeof v !== 'string') return v; // not UTF-8: already wrapped
      type = 'S';
      break;
    }
    case I:
      need(end, 4, at);
      v = b.readInt32BE(pos);
      pos += 4;
      type = 'I';
      break;
    case T:
      need(end, 1, at);
      v = b[pos++] !== 0;
      type = 't';
      break;
    case l_:
    case L:
      need(end, 8, at);
      v = readI64Exact(b, pos);
      pos += 8;
      type = 'l';
      break;
    case F: {
      need(end, 4, at);
      const n = readU32(b, pos);
      pos += 4;
      need(end, n, at);
      v = readEntries(b, pos + n, depth + 1, typed);
      type = 'F';
      break;
    }
    case A: {
      need(end, 4, at);
      const n = readU32(b, pos);
      pos += 4;
      need(end, n, at);
      v = readArray(b, pos + n, depth + 1, typed);
      type = 'A';
      break;
    }
    case b_:
      need(end, 1, at);
      v = b.readInt8(pos++);
      type = 'b';
      break;
    case B:
      need(end, 1, at);
      v = b[pos++] as number;
      type = 'B';
      break;
    case s_:
      need(end, 2, at);
      v = b.readInt16BE(pos);
      pos += 2;
      type = 's';
      break;
    case u:
      need(end, 2, at);
      v = b.readUInt16BE(pos);
      pos += 2;
      type = 'u';
      break;
    case i_:
      need(end, 4, at);
      v = readU32(b, pos);
      pos += 4;
      type = 'i';
      break;
    case f:
      need(end, 4, at);
      v = b.readFloatBE(pos);
      pos += 4;
      type = 'f';
      break;
    case d:
      need(end, 8, at);
      v = b.readDoubleBE(pos);
      pos += 8;
      type = 'd';
      break;
    case D:
      need(end, 5, at);
      v = new AmqpDecimal(b[pos] as number, readU32(b, pos + 1));
      pos += 5;
      type = 'D';
      break;
    case x: {
      need(end, 4, at);
      const n = readU32(b, pos);
      pos += 4;
      need(end, n, at);
      v = Buffer.from(b.subarray(pos, pos + n)); // a copy: a view would pin the whole socket chunk
      pos += n;
      type = 'x';
      break;
    }
    case TS: {
      need(end, 8, at);
      const secs = readU64Exact(b, pos);
      pos += 8;
      if (typed) return new AmqpTyped('T', secs);
      return typeof secs === 'number' && secs <= MAX_DATE_SECONDS ? new Date(secs * 1000) : new AmqpTyped('T', secs);
    }
    case V:
      v = null;
      type = 'V';
      break;
    default:
      throw malformed(`unknown field type ${tagName(tag)} for ${where(at)}`);
  }
  return typed ? new AmqpTyped(type, v as never) : v;
}

/** `'Z' (0x5a)`, or just the hex for a byte that is not printable. */
function tagName(tag: number): string {
  const hex = `0x${tag.toString(16).padStart(2, '0')}`;
  return tag >= 0x21 && tag < 0x7f ? `'${String.fromCharCode(tag)}' (${hex})` : hex;
}

/** A long string: a string when it is UTF-8, else its bytes (RabbitMQ's longstr is binary). */
function readLongString(b: Buffer, p: number, n: number): string | AmqpTyped<'S'> {
  if (n <= 64) {
    let ascii = true;
    for (let k = 0; k < n; k++) {
      if ((b[p + k] as number) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return readShortstr(b, p, n);
  }
  const bytes = b.subarray(p, p + n);
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return new AmqpTyped('S', Buffer.from(bytes));
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Writes a table (u32 length prefix and entries) at `p`; returns the offset after it. Needs
 * {@link tableMaxSize} bytes of room. Entries whose value is `undefined` are left out. Throws
 * RangeError or TypeError for what AMQP cannot hold (a key over 255 bytes, a bigint beyond
 * int64, a function, nesting beyond {@link MAX_TABLE_DEPTH} — a cycle).
 */
export function encodeTable(b: Buffer, p: number, t: FieldTable): number {
  return writeTable(b, p, t, 0);
}

/** A table encoded on its own, length prefix included. */
export function tableToBuffer(t: FieldTable): Buffer {
  const b = Buffer.allocUnsafe(tableMaxSize(t));
  return b.subarray(0, encodeTable(b, 0, t));
}

function tooDeep(): RangeError {
  return new RangeError(`field tables and arrays nest deeper than ${MAX_TABLE_DEPTH} levels (a cycle?)`);
}

function writeTable(b: Buffer, p: number, t: FieldTable, depth: number): number {
  if (depth >= MAX_TABLE_DEPTH) throw tooDeep();
  const at = p;
  p += 4;
  for (const key in t) {
    const v = t[key];
    if (v === undefined) continue;
    p = writeShortstr(b, p, key);
    p = writeValue(b, p, v, depth);
  }
  writeU32(b, at, p - at - 4);
  return p;
}

function writeArray(b: Buffer, p: number, a: readonly FieldValue[], depth: number): number {
  if (depth >= MAX_TABLE_DEPTH) throw tooDeep();
  const at = p;
  p += 4;
  for (const v of a) p = v === undefined ? ((b[p] = V), p + 1) : writeValue(b, p, v, depth);
  writeU32(b, at, p - at - 4);
  return p;
}

function writeString(b: Buffer, p: number, s: string): number {
  const n = b.write(s, p + 4, 'utf8');
  writeU32(b, p, n);
  return p + 4 + n;
}

function writeBytes(b: Buffer, p: number, v: Uint8Array): number {
  writeU32(b, p, v.length);
  b.set(v, p + 4);
  return p + 4 + v.length;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TWO_63 = 2 ** 63;

function writeValue(b: Buffer, p: number, v: FieldValue, depth: number): number {
  switch (typeof v) {
    case 'string':
      b[p] = S;
      return writeString(b, p + 1, v);
    case 'boolean':
      b[p] = T;
      b[p + 1] = v ? 1 : 0;
      return p + 2;
    case 'number':
      // amqplib's choice, which RabbitMQ's arguments expect: the smallest signed integer type
      // that holds an integral number, a double for anything else.
      if (Number.isInteger(v) && v >= -TWO_63 && v < TWO_63) {
        if (v >= -0x80 && v < 0x80) {
          b[p] = b_;
          b[p + 1] = v;
          return p + 2;
        }
        if (v >= -0x8000 && v < 0x8000) {
          b[p] = s_;
          b[p + 1] = v >> 8;
          b[p + 2] = v;
          return p + 3;
        }
        if (v >= -0x8000_0000 && v < 0x8000_0000) {
          b[p] = I;
          return writeU32(b, p + 1, v);
        }
        b[p] = l_;
        b.writeBigInt64BE(BigInt(v), p + 1);
        return p + 9;
      }
      b[p] = d;
      b.writeDoubleBE(v, p + 1);
      return p + 9;
    case 'bigint':
      if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`bigint ${v} does not fit a signed 64-bit field value`);
      b[p] = l_;
      b.writeBigInt64BE(v, p + 1);
      return p + 9;
    case 'object':
      if (v === null) {
        b[p] = V;
        return p + 1;
      }
      if (Array.isArray(v)) {
        b[p] = A;
        return writeArray(b, p + 1, v, depth + 1);
      }
      if (v instanceof Uint8Array) {
        b[p] = x;
        return writeBytes(b, p + 1, v);
      }
      if (v instanceof Date) return writeTimestamp(b, p, dateSeconds(v));
      if (v instanceof AmqpDecimal) {
        b[p] = D;
        b[p + 1] = v.scale;
        return writeU32(b, p + 2, v.value);
      }
      if (v instanceof AmqpTyped) return writeTyped(b, p, v, depth);
      b[p] = F;
      return writeTable(b, p + 1, v as FieldTable, depth + 1);
    default:
      throw new TypeError(`a ${typeof v} cannot be a field value`);
  }
}

function dateSeconds(v: Date): number {
  const ms = v.getTime();
  if (Number.isNaN(ms)) throw new RangeError('an invalid Date cannot be a timestamp');
  if (ms < 0) throw new RangeError(`timestamp ${v.toISOString()} is before 1970: AMQP timestamps are unsigned`);
  return Math.floor(ms / 1000);
}

function writeTimestamp(b: Buffer, p: number, secs: number | bigint): number {
  b[p] = TS;
  b.writeBigUInt64BE(BigInt(secs), p + 1);
  return p + 9;
}

/** A value of a pinned type, with the range checks of Buffer's own writers. */
function writeTyped(b: Buffer, p: number, t: AmqpTyped, depth: number): number {
  const v = t.value;
  b[p] = t.type.charCodeAt(0);
  const q = p + 1;
  switch (t.type) {
    case 't':
      b[q] = v ? 1 : 0;
      return q + 1;
    case 'b':
      return b.writeInt8(v as number, q);
    case 'B':
      return b.writeUInt8(v as number, q);
    case 's':
      return b.writeInt16BE(v as number, q);
    case 'u':
      return b.writeUInt16BE(v as number, q);
    case 'I':
      return b.writeInt32BE(v as number, q);
    case 'i':
      return b.writeUInt32BE(v as number, q);
    case 'l':
      return b.writeBigInt64BE(BigInt(v as number | bigint), q);
    case 'f':
      return b.writeFloatBE(v as number, q);
    case 'd':
      return b.writeDoubleBE(v as number, q);
    case 'D': {
      const dec = v as AmqpDecimal;
      b[q] = dec.scale;
      return writeU32(b, q + 1, dec.value);
    }
    case 'S':
      return typeof v === 'string' ? writeString(b, q, v) : writeBytes(b, q, v as Uint8Array);
    case 'x':
      return writeBytes(b, q, v as Uint8Array);
    case 'A':
      return writeArray(b, q, v as FieldValue[], depth + 1);
    case 'T':
      return writeTimestamp(b, p, v as number | bigint);
    case 'F':
      return writeTable(b, q, v as FieldTable, depth + 1);
    case 'V':
      return q;
    default:
      throw new TypeError(`unknown field type '${String(t.type)}'`);
  }
}

/** An upper bound of the bytes {@link encodeTable} writes for `t` (3 per UTF-16 unit of text). */
export function tableMaxSize(t: FieldTable): number {
  return tableSize(t, 0);
}

function tableSize(t: FieldTable, depth: number): number {
  if (depth >= MAX_TABLE_DEPTH) throw tooDeep();
  let n = 4;
  for (const key in t) {
    const v = t[key];
    if (v !== undefined) n += 1 + 3 * key.length + valueSize(v, depth);
  }
  return n;
}

function arraySize(a: readonly FieldValue[], depth: number): number {
  if (depth >= MAX_TABLE_DEPTH) throw tooDeep();
  let n = 4;
  for (const v of a) n += v === undefined ? 1 : valueSize(v, depth);
  return n;
}

function valueSize(v: FieldValue, depth: number): number {
  switch (typeof v) {
    case 'string':
      return 5 + 3 * v.length;
    case 'boolean':
      return 2;
    case 'number':
    case 'bigint':
      return 9;
    case 'object':
      if (v === null) return 1;
      if (Array.isArray(v)) return 1 + arraySize(v, depth + 1);
      if (v instanceof Uint8Array) return 5 + v.length;
      if (v instanceof Date) return 9;
      if (v instanceof AmqpDecimal) return 6;
      if (v instanceof AmqpTyped) return typedSize(v, depth);
      return 1 + tableSize(v as FieldTable, depth + 1);
    default:
      throw new TypeError(`a ${typeof v} cannot be a field value`);
  }
}

function typedSize(t: AmqpTyped, depth: number): number {
  const v = t.value;
  switch (t.type) {
    case 'S':
      return typeof v === 'string' ? 5 + 3 * v.length : 5 + (v as Uint8Array).length;
    case 'x':
      return 5 + (v as Uint8Array).length;
    case 'A':
      return 1 + arraySize(v as FieldValue[], depth + 1);
    case 'F':
      return 1 + tableSize(v as FieldTable, depth + 1);
    default:
      return 9; // every fixed-size type fits the tag and 8 bytes
  }
}
