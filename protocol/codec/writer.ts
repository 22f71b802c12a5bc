import { FRAME_HEADER_SIZE, FrameType, HEARTBEAT_FRAME } from './frame.js';
import { BatchWriter, BY_REFERENCE, type WritableLike } from './batch-writer.js';
import { ArgsEncoder, type ArgValue } from './msgpack.js';
import { copyInto, writeU16 as u16, writeU32 as u32, type Bytes } from './bytes.js';

export type { WritableLike } from './batch-writer.js';

/**
 * Frame encoder for one connection (SPEC §2, §3), on the shared {@link BatchWriter}: frames
 * are encoded straight into its batch buffer and written once per event-loop tick; bodies of
 * 2 KiB and more are passed by reference, never copied.
 */
export class FrameWriter extends BatchWriter {
  private readonly encoder = new ArgsEncoder();
  /**
   * Arguments `contentFrameSize` just measured (the encoder still holds them), so the `content`
   * call that follows with the same array does not measure them again.
   */
  private sizedArgs: readonly ArgValue[] | null = null;
  private sizedArgsSize = 0;
  /**
   * The peer's negotiated `frameMax` (SPEC §2.1 binds the sender too): `contentRaw` writes
   * nothing and returns false for a frame above it. Infinity until negotiated.
   */
  maxFrameBytes = Infinity;

  constructor(socket: WritableLike, highWaterMark = 1024 * 1024) {
    super(socket, highWaterMark);
  }

  /** A plain method frame. */
  method(channel: number, methodId: number, args: readonly ArgValue[]): void {
    const argsSize = this.measure(args);
    const total = FRAME_HEADER_SIZE + 2 + argsSize;
    const off = this.reserve(total);
    const b = this.buf;
    this.header(b, off, total, channel);
    u16(b, off + FRAME_HEADER_SIZE, methodId);
    this.encoder.write(b, off + FRAME_HEADER_SIZE + 2);
    this.end = off + total;
    this.queued(total);
  }

  /**
   * A content method whose message is already in wire form: `content` is
   * `[u32 propsSize][props][body]` exactly as received (the broker's forwarding path).
   */
  contentRaw(channel: number, methodId: number, args: readonly ArgValue[], content: Bytes): boolean {
    const argsSize = this.measure(args);
    const head = FRAME_HEADER_SIZE + 6 + argsSize;
    const total = head + content.length;
    if (total > this.maxFrameBytes) return false;
    const byRef = content.length >= BY_REFERENCE;
    const off = this.reserve(byRef ? head : total);
    const b = this.buf;
    this.header(b, off, total, channel);
    u16(b, off + FRAME_HEADER_SIZE, methodId);
    u32(b, off + FRAME_HEADER_SIZE + 2, argsSize);
    this.encoder.write(b, off + head - argsSize);
    if (byRef) {
      this.end = off + head;
      this.byReference(content);
    } else {
      copyInto(content, b, off + head);
      this.end = off + total;
    }
    this.queued(total);
    return true;
  }

  /** A content method from its parts (the client's publishing path). */
  content(channel: number, methodId: number, args: readonly ArgValue[], props: Uint8Array | null, body: Bytes): void {
    const argsSize = this.sizedArgs === args ? this.sizedArgsSize : this.measure(args);
    this.sizedArgs = null;
    const propsSize = props === null ? 0 : props.length;
    const head = FRAME_HEADER_SIZE + 6 + argsSize + 4 + propsSize;
    const total = head + body.length;
    const byRef = body.length >= BY_REFERENCE;
    const off = this.reserve(byRef ? head : total);
    const b = this.buf;
    this.header(b, off, total, channel);
    u16(b, off + FRAME_HEADER_SIZE, methodId);
    u32(b, off + FRAME_HEADER_SIZE + 2, argsSize);
    let p = this.encoder.write(b, off + FRAME_HEADER_SIZE + 6);
    u32(b, p, propsSize);
    p += 4;
    if (props !== null) p += copyInto(props, b, p);
    if (byRef) {
      this.end = p;
      this.byReference(body);
    } else {
      copyInto(body, b, p);
      this.end = p + body.length;
    }
    this.queued(total);
  }

  /**
   * Size of a content frame, to check it against frameMax before writing it. A `content` call
   * right after with the same (unchanged) `args` array reuses this measurement.
   */
  contentFrameSize(args: readonly ArgValue[], propsSize: number, bodySize: number): number {
    const argsSize = this.measure(args);
    this.sizedArgs = args;
    this.sizedArgsSize = argsSize;
    return FRAME_HEADER_SIZE + 6 + argsSize + 4 + propsSize + bodySize;
  }

  private measure(args: readonly ArgValue[]): number {
    this.sizedArgs = null; // the encoder is about to hold other values
    return this.encoder.measure(args);
  }

  heartbeat(): void {
    this.raw(HEARTBEAT_FRAME);
  }

  private header(b: Uint8Array, off: number, total: number, channel: number): void {
    u32(b, off, total - 4);
    b[off + 4] = FrameType.METHOD;
    u16(b, off + 5, channel);
  }
}
