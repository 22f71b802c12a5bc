import { C1, Packr, Unpackr } from 'msgpackr';
import { ProtocolError, ReplyCode } from './codes.js';
import { readShortString, shortByteLength, writeShortString } from './strings.js';
import { copyInto, dataView, isBytes, readU16, readU32, utf8Length, utf8Read, utf8Write, writeU16, writeU32, type Bytes } from './bytes.js';

/**
 * Method arguments are msgpack arrays (SPEC §3). Nearly every argument is a string, integer or
 * boolean, so arrays of such primitives are encoded and decoded here directly, into and out of
 * the frame buffer; maps and anything else go through one shared plain-msgpack Packr.
 */
export type Primitive = string | number | boolean | null | undefined;
export type ArgValue = Primitive | Record<string, unknown> | readonly unknown[];

const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
/** For method arguments: maps come back as `Map`s, so a key that is not a string is seen, not stringified. */
const argsUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number' });

export function packValue(value: unknown): Bytes {
  return packr.pack(value) as Bytes;
}

export function unpackValue(buf: Uint8Array): unknown {
  return unpackr.unpack(buf);
}

/**
 * Encodes a msgpack array into a buffer in two steps: `measure()` returns the exact size, and
 * `write()` writes it. Non-primitive elements are packed once during `measure()`.
 */
export class ArgsEncoder {
  // Preallocated (packed, not holey) and only ever overwritten: measure() runs for every frame.
  private packed: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(32).fill(undefined);
  private lens: number[] = new Array<number>(32).fill(0);
  private values: readonly ArgValue[] = [];

  measure(values: readonly ArgValue[]): number {
    this.values = values;
    const n = values.length;
    let size = n < 16 ? 1 : 3;
    // No `length =` resets: that is a runtime call per frame; the slots are overwritten below.
    for (let i = 0; i < n; i++) {
      const v = values[i];
      this.packed[i] = undefined;
      switch (typeof v) {
        case 'string': {
          const l = v.length < 48 ? shortByteLength(v) : utf8Length(v);
          this.lens[i] = l;
          size += (l < 32 ? 1 : l < 256 ? 2 : l < 65536 ? 3 : 5) + l;
          break;
        }
        case 'number':
          size += numberSize(v);
          break;
        case 'boolean':
        case 'undefined':
          size += 1;
          break;
        default:
          if (v === null) {
            size += 1;
          } else {
            const p = packr.pack(v);
            this.packed[i] = p;
            size += p.length;
          }
      }
    }
    return size;
  }

  /** Writes the values last passed to `measure()`; returns the offset after them. */
  write(buf: Uint8Array, off: number): number {
    const values = this.values;
    const n = values.length;
    if (n < 16) {
      buf[off++] = 0x90 | n;
    } else {
      buf[off++] = 0xdc;
      writeU16(buf, off, n);
      off += 2;
    }
    for (let i = 0; i < n; i++) {
      const v = values[i];
      switch (typeof v) {
        case 'string': {
          const l = this.lens[i] as number;
          if (l < 32) buf[off++] = 0xa0 | l;
          else if (l < 256) {
            buf[off++] = 0xd9;
            buf[off++] = l;
          } else if (l < 65536) {
            buf[off++] = 0xda;
            writeU16(buf, off, l);
            off += 2;
          } else {
            buf[off++] = 0xdb;
            writeU32(buf, off, l);
            off += 4;
          }
          off += l < 48 ? writeShortString(buf, off, v) : utf8Write(buf, off, v);
          break;
        }
        case 'number':
          off = writeNumber(buf, off, v);
          break;
        case 'boolean':
          buf[off++] = v ? 0xc3 : 0xc2;
          break;
        case 'undefined':
          buf[off++] = 0xc0;
          break;
        default:
          if (v === null) buf[off++] = 0xc0;
          else {
            off += copyInto(this.packed[i] as Uint8Array, buf, off);
          }
      }
    }
    this.values = NO_VALUES;
    return off;
  }
}

const NO_VALUES: readonly ArgValue[] = [];

// Integers past 2^53 go out as float64 like every other non-safe number: uint64/int64 could
// not hold 1e300, and the reader turns 64-bit integers back into plain numbers anyway.
function numberSize(v: number): number {
  if (Number.isSafeInteger(v)) {
    if (v >= 0) return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v < 4294967296 ? 5 : 9;
    return v >= -32 ? 1 : v >= -128 ? 2 : v >= -32768 ? 3 : v >= -2147483648 ? 5 : 9;
  }
  return 9;
}

function writeNumber(buf: Uint8Array, off: number, v: number): number {
  if (Number.isSafeInteger(v)) {
    if (v >= 0) {
      if (v < 128) {
        buf[off] = v;
        return off + 1;
      }
      if (v < 256) {
        buf[off] = 0xcc;
        buf[off + 1] = v;
        return off + 2;
      }
      if (v < 65536) {
        buf[off] = 0xcd;
        writeU16(buf, off + 1, v);
        return off + 3;
      }
      if (v < 4294967296) {
        buf[off] = 0xce;
        writeU32(buf, off + 1, v);
        return off + 5;
      }
      buf[off] = 0xcf;
      dataView(buf).setBigUint64(off + 1, BigInt(v));
      return off + 9;
    }
    if (v >= -32) {
      buf[off] = v & 0xff;
      return off + 1;
    }
    if (v >= -128) {
      buf[off] = 0xd0;
      buf[off + 1] = v & 0xff;
      return off + 2;
    }
    if (v >= -32768) {
      buf[off] = 0xd1;
      writeU16(buf, off + 1, v & 0xffff);
      return off + 3;
    }
    if (v >= -2147483648) {
      buf[off] = 0xd2;
      writeU32(buf, off + 1, v >>> 0);
      return off + 5;
    }
    buf[off] = 0xd3;
    dataView(buf).setBigInt64(off + 1, BigInt(v));
    return off + 9;
  }
  buf[off] = 0xcb;
  dataView(buf).setFloat64(off + 1, v);
  return off + 9;
}

function syntax(message: string): never {
  throw new ProtocolError(ReplyCode.SYNTAX_ERROR, message);
}

/**
 * Decodes the msgpack array in `buf[start, end)`. Arrays of primitives are read directly; an
 * array holding maps or nested arrays is handed to msgpackr whole. Any malformation, including
 * trailing bytes, throws {@link ProtocolError} SYNTAX_ERROR.
 */
export function unpackArgs(buf: Uint8Array, start: number, end: number): unknown[] {
  if (start >= end) syntax('method arguments are missing');
  let off = start;
  const head = buf[off++] as number;
  let n: number;
  if ((head & 0xf0) === 0x90) n = head & 0x0f;
  else if (head === 0xdc && off + 2 <= end) {
    n = readU16(buf, off);
    off += 2;
  } else if (head === 0xdd && off + 4 <= end) {
    n = readU32(buf, off);
    off += 4;
  } else return syntax('method arguments are not a msgpack array');
  if (n > end - off) syntax('method arguments are truncated');
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    if (off >= end) syntax('method arguments are truncated');
    const b = buf[off++] as number;
    if (b < 0x80) out[i] = b;
    else if ((b & 0xe0) === 0xa0) {
      const l = b & 0x1f;
      if (off + l > end) syntax('method arguments are truncated');
      out[i] = readShortString(buf, off, l);
      off += l;
    } else if (b >= 0xe0) out[i] = b - 0x100;
    else {
      switch (b) {
        case 0xc0:
          out[i] = null;
          break;
        case 0xc2:
          out[i] = false;
          break;
        case 0xc3:
          out[i] = true;
          break;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
        case 0xca:
        case 0xcb: {
          const w = numberWidth(b);
          if (off + w > end) syntax('method arguments are truncated');
          out[i] = readNumber(buf, b, off);
          off += w;
          break;
        }
        case 0xd9:
        case 0xda:
        case 0xdb: {
          const w = b === 0xd9 ? 1 : b === 0xda ? 2 : 4;
          if (off + w > end) syntax('method arguments are truncated');
          const l = w === 1 ? (buf[off] as number) : w === 2 ? readU16(buf, off) : readU32(buf, off);
          off += w;
          if (off + l > end) syntax('method arguments are truncated');
          out[i] = utf8Read(buf, off, off + l);
          off += l;
          break;
        }
        default:
          return unpackWhole(buf, start, end);
      }
    }
  }
  if (off !== end) syntax('method arguments have trailing bytes');
  return out;
}

function unpackWhole(buf: Uint8Array, start: number, end: number): unknown[] {
  let value: unknown;
  try {
    value = argsUnpackr.unpack(buf.subarray(start, end));
  } catch (err) {
    throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `malformed msgpack in method arguments: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!Array.isArray(value)) syntax('method arguments are not a msgpack array');
  return value.map((v) => plainArg(v));
}

/**
 * One decoded argument as plain data: `Map`s become objects, and a map key that is not a
 * string (SPEC §3: maps have string keys) or anything but plain MessagePack is SYNTAX_ERROR.
 */
function plainArg(value: unknown): unknown {
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) {
      if (typeof k !== 'string') syntax(`malformed msgpack in method arguments: map keys must be strings, got ${describeKey(k)}`);
      // A key named __proto__ is data here, not the object's prototype.
      Object.defineProperty(out, k, { value: plainArg(v), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => plainArg(v));
  checkPlain(value, 'method arguments');
  return value;
}

function describeKey(k: unknown): string {
  if (typeof k === 'number') return Number.isInteger(k) ? `the integer ${k}` : `the number ${k}`;
  if (k === null) return 'nil';
  if (isBytes(k)) return 'bin';
  if (k instanceof Map) return 'a map';
  return Array.isArray(k) ? 'an array' : typeof k;
}

/**
 * msgpackr decodes more than plain MessagePack: the never-used byte 0xc1 comes back as a marker
 * object and extension types as Date, Set, RegExp, undefined and so on. SPEC says plain
 * MessagePack, and a broker that accepted a Set as a map would act on data the peer never
 * meant to send, so anything but nil, booleans, numbers, strings, bin, arrays and plain maps
 * is SYNTAX_ERROR.
 */
function checkPlain(value: unknown, where: string): void {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return;
    case 'object':
      if (value === null || isBytes(value)) return;
      if (value === C1) syntax(`malformed msgpack in ${where}: byte 0xc1 is never used`);
      if (Array.isArray(value)) {
        for (const v of value) checkPlain(v, where);
        return;
      }
      if (Object.getPrototypeOf(value) === Object.prototype) {
        for (const k in value) checkPlain((value as Record<string, unknown>)[k], where);
        return;
      }
  }
  syntax(`malformed msgpack in ${where}: extension types are not allowed`);
}

function numberWidth(b: number): number {
  switch (b) {
    case 0xcc:
    case 0xd0:
      return 1;
    case 0xcd:
    case 0xd1:
      return 2;
    case 0xce:
    case 0xd2:
    case 0xca:
      return 4;
    default:
      return 8;
  }
}

function readNumber(buf: Uint8Array, b: number, off: number): number {
  switch (b) {
    case 0xcc:
      return buf[off] as number;
    case 0xcd:
      return readU16(buf, off);
    case 0xce:
      return readU32(buf, off);
    case 0xd0:
      return ((buf[off] as number) << 24) >> 24;
    case 0xd1:
      return (readU16(buf, off) << 16) >> 16;
    case 0xd2:
      return readU32(buf, off) | 0;
    case 0xcf:
      return Number(dataView(buf).getBigUint64(off));
    case 0xd3:
      return Number(dataView(buf).getBigInt64(off));
    case 0xca:
      return dataView(buf).getFloat32(off);
    default:
      return dataView(buf).getFloat64(off);
  }
}

/** Decodes a property map (SPEC §3.3); throws SYNTAX_ERROR unless it is a msgpack map. */
export function unpackProperties(buf: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = unpackr.unpack(buf);
  } catch (err) {
    throw new ProtocolError(ReplyCode.SYNTAX_ERROR, `malformed msgpack in message properties: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || isBytes(value)) {
    syntax('message properties are not a msgpack map');
  }
  checkPlain(value, 'message properties');
  return value as Record<string, unknown>;
}
