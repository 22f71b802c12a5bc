import { FRAME_HEADER_SIZE, FrameType, packValue } from '../../protocol/index.js';

/**
 * Hand-built wire bytes, encoded independently of the FrameWriter/ArgsEncoder under test
 * (arguments go through msgpackr), so tests can send exactly what they mean, including bytes
 * no correct peer would send.
 */

/** A whole frame: size, type, channel, payload (SPEC §2). `size` overrides the size field. */
export function frame(type: number, channel: number, payload: Buffer, size = payload.length + 3): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_SIZE + payload.length);
  b.writeUInt32BE(size, 0);
  b[4] = type;
  b.writeUInt16BE(channel, 5);
  payload.copy(b, FRAME_HEADER_SIZE);
  return b;
}

/** A plain method payload: id then the msgpack array of `args` (SPEC §3). */
export function methodPayload(id: number, args: readonly unknown[]): Buffer {
  return Buffer.concat([u16(id), packValue(args)]);
}

/** A method payload whose argument bytes are given verbatim (for malformed msgpack). */
export function rawMethodPayload(id: number, argBytes: Buffer | readonly number[]): Buffer {
  return Buffer.concat([u16(id), Buffer.from(argBytes)]);
}

/** A content method payload: id, u32 argsSize, args, u32 propsSize, props, body (SPEC §3). */
export function contentPayload(id: number, args: readonly unknown[], props: Record<string, unknown> | null, body: Buffer): Buffer {
  const a = packValue(args);
  const p = props === null ? Buffer.alloc(0) : packValue(props);
  return Buffer.concat([u16(id), u32(a.length), a, u32(p.length), p, body]);
}

export function methodFrame(channel: number, id: number, args: readonly unknown[]): Buffer {
  return frame(FrameType.METHOD, channel, methodPayload(id, args));
}

export function contentFrame(
  channel: number,
  id: number,
  args: readonly unknown[],
  body: Buffer | string,
  props: Record<string, unknown> | null = null,
): Buffer {
  return frame(FrameType.METHOD, channel, contentPayload(id, args, props, Buffer.from(body)));
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}
