/**
 * Bytes for a codec that runs in Node.js and in browsers. The codec works on `Uint8Array`
 * and never imports a Node built-in; where Node's `Buffer` is present (it is a `Uint8Array`
 * subclass) it is used for what it does faster than plain JS (pooled allocation, long UTF-8
 * strings), so Node keeps its speed and every byte array the codec makes there is a Buffer.
 */

/**
 * A byte array the codec hands out: `Buffer` where the program's types know Node's Buffer
 * (a Node.js project), `Uint8Array` where they do not (a browser project). At run time the
 * same holds: in Node.js the codec's arrays are Buffers, in a browser plain Uint8Arrays.
 */
export type Bytes = typeof globalThis extends { Buffer: { isBuffer(obj: unknown): obj is infer B } } ? B : Uint8Array;

/** The part of Node's Buffer constructor the codec uses. */
interface NodeBufferApi {
  allocUnsafe(size: number): Uint8Array;
  alloc(size: number): Uint8Array;
  from(data: ArrayBuffer, byteOffset?: number, length?: number): Uint8Array;
  from(data: string, encoding: 'utf8'): Uint8Array;
  byteLength(s: string, encoding: 'utf8'): number;
  prototype: {
    write(this: Uint8Array, s: string, offset: number, encoding: 'utf8'): number;
    toString(this: Uint8Array, encoding: 'utf8' | 'latin1', start: number, end: number): string;
  };
}

const NodeBuffer = (globalThis as { Buffer?: NodeBufferApi }).Buffer;
const NodeBufferClass = NodeBuffer as unknown as (typeof Uint8Array) | undefined;
const nodeWrite = NodeBuffer?.prototype.write;
const nodeToString = NodeBuffer?.prototype.toString;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

/** `n` bytes whose contents are undefined (Node's pooled allocation where there is one). */
export const allocUnsafe: (n: number) => Bytes =
  NodeBuffer !== undefined ? (NodeBuffer.allocUnsafe.bind(NodeBuffer) as (n: number) => Bytes) : (n) => new Uint8Array(n) as Bytes;

/** `n` zero bytes. */
export const alloc: (n: number) => Bytes =
  NodeBuffer !== undefined ? (NodeBuffer.alloc.bind(NodeBuffer) as (n: number) => Bytes) : (n) => new Uint8Array(n) as Bytes;

/** A byte array from a list of byte values. */
export function bytesOf(values: readonly number[]): Bytes {
  const b = alloc(values.length);
  for (let i = 0; i < values.length; i++) b[i] = values[i] as number;
  return b;
}

/** A view of `data` as codec bytes, without copying (a Buffer in Node.js). */
export function viewOf(data: ArrayBuffer | Uint8Array): Bytes {
  if (data instanceof Uint8Array) {
    if (NodeBuffer === undefined || isNodeBuffer(data)) return data as Bytes;
    return NodeBuffer.from(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength) as Bytes;
  }
  return (NodeBuffer !== undefined ? NodeBuffer.from(data) : new Uint8Array(data)) as Bytes;
}

function isNodeBuffer(b: Uint8Array): boolean {
  return NodeBufferClass !== undefined && b instanceof NodeBufferClass;
}

/** True for a Buffer or any other Uint8Array. */
export function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/** UTF-8 encoding of `s`. */
export function utf8Bytes(s: string): Bytes {
  return (NodeBuffer !== undefined ? NodeBuffer.from(s, 'utf8') : encoder.encode(s)) as Bytes;
}

/** UTF-8 byte length of `s`. */
export function utf8Length(s: string): number {
  if (NodeBuffer !== undefined) return NodeBuffer.byteLength(s, 'utf8');
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3; // a lone surrogate encodes as U+FFFD, 3 bytes, as TextEncoder does
  }
  return n;
}

/** Writes `s` as UTF-8 at `off` (the caller made room: {@link utf8Length}); returns bytes written. */
export function utf8Write(buf: Uint8Array, off: number, s: string): number {
  if (nodeWrite !== undefined && isNodeBuffer(buf)) return nodeWrite.call(buf, s, off, 'utf8');
  return encoder.encodeInto(s, buf.subarray(off)).written;
}

/** `buf[start, end)` decoded as UTF-8. */
export function utf8Read(buf: Uint8Array, start: number, end: number): string {
  if (nodeToString !== undefined && isNodeBuffer(buf)) return nodeToString.call(buf, 'utf8', start, end);
  return decoder.decode(buf.subarray(start, end));
}

/** `buf[start, end)` as Latin-1 (for bytes known to be ASCII, where it equals UTF-8). */
export function latin1Read(buf: Uint8Array, start: number, end: number): string {
  if (end - start > 64 && nodeToString !== undefined && isNodeBuffer(buf)) {
    return nodeToString.call(buf, 'latin1', start, end);
  }
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i] as number);
  return s;
}

/** Copies `src` into `dst` at `off`; returns the bytes copied. */
export function copyInto(src: Uint8Array, dst: Uint8Array, off: number): number {
  const n = src.length;
  // Below a few dozen bytes a loop beats the native call's fixed cost.
  if (n < 32) for (let i = 0; i < n; i++) dst[off + i] = src[i] as number;
  else dst.set(src, off);
  return n;
}

/** Copies `src[start, end)` into `dst` at `off`. */
export function copyRange(src: Uint8Array, start: number, end: number, dst: Uint8Array, off: number): void {
  dst.set(start === 0 && end === src.length ? src : src.subarray(start, end), off);
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function readU16(b: Uint8Array, off: number): number {
  return ((b[off] as number) << 8) | (b[off + 1] as number);
}

export function readU32(b: Uint8Array, off: number): number {
  return (b[off] as number) * 0x1000000 + (((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number));
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/** A DataView over `b`, for the rare wide and floating-point fields. */
export function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
