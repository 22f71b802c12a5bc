import { FRAME_HEADER_SIZE, FrameType } from './frame.js';
import { ProtocolError, ReplyCode } from './codes.js';
import { alloc, allocUnsafe, copyRange, readU32, type Bytes } from './bytes.js';

/** Receives whole frames from a {@link FrameDecoder}. */
export interface FrameSink {
  /**
   * `payload` is a view into the received bytes (not a copy) when the frame arrived in one
   * chunk; it stays valid for as long as the receiver keeps it.
   */
  onFrame(type: number, channel: number, payload: Bytes): void;
  /**
   * Optional, and called instead of `onFrame` when present: the same payload as `buf[start,
   * end)`, without the view `onFrame` gets. For hot paths, which only read the frame or take
   * their own views of it (a view costs an allocation per frame).
   */
  onFrameAt?(type: number, channel: number, buf: Bytes, start: number, end: number): void;
}

/**
 * Incremental frame decoder (SPEC §2): a push state machine. Frames that arrive whole inside a
 * chunk are handed out as views of that chunk; only a frame that straddles chunks is copied,
 * into a buffer of exactly its size, allocated after its size has been checked against
 * `maxFrameBytes` so a hostile size field cannot make us allocate.
 */
export class FrameDecoder {
  maxFrameBytes: number;
  private readonly sink: FrameSink;
  /** Header bytes of a frame whose 7-byte header is itself split across chunks. */
  private readonly headerStash = alloc(FRAME_HEADER_SIZE);
  private headerHave = 0;
  /** The frame being assembled from several chunks, and how much of it we have. */
  private partial: Bytes | null = null;
  private partialHave = 0;
  private broken = false;

  private readonly at: boolean;

  constructor(sink: FrameSink, maxFrameBytes: number) {
    this.sink = sink;
    this.maxFrameBytes = maxFrameBytes;
    this.at = typeof sink.onFrameAt === 'function';
  }

  /**
   * Feeds bytes. Throws {@link ProtocolError} on a malformed frame; after that the decoder
   * refuses further input, since the stream position is lost.
   */
  push(chunk: Bytes): void {
    if (this.broken) return;
    let off = 0;
    const len = chunk.length;

    if (this.headerHave > 0) {
      const take = Math.min(FRAME_HEADER_SIZE - this.headerHave, len);
      copyRange(chunk, 0, take, this.headerStash, this.headerHave);
      this.headerHave += take;
      off = take;
      if (this.headerHave < FRAME_HEADER_SIZE) return;
      this.headerHave = 0;
      const total = this.checkedTotal(this.headerStash, 0);
      this.partial = allocUnsafe(total);
      this.partial.set(this.headerStash, 0);
      this.partialHave = FRAME_HEADER_SIZE;
    }

    if (this.partial !== null) {
      const frame = this.partial;
      const take = Math.min(frame.length - this.partialHave, len - off);
      copyRange(chunk, off, off + take, frame, this.partialHave);
      this.partialHave += take;
      off += take;
      if (this.partialHave < frame.length) return;
      this.partial = null;
      this.emit(frame, 0, frame.length);
    }

    while (off < len) {
      const remaining = len - off;
      if (remaining < FRAME_HEADER_SIZE) {
        copyRange(chunk, off, len, this.headerStash, 0);
        this.headerHave = remaining;
        return;
      }
      const total = this.checkedTotal(chunk, off);
      if (remaining < total) {
        // Copy only now, when the frame really straddles chunks.
        this.partial = allocUnsafe(total);
        copyRange(chunk, off, len, this.partial, 0);
        this.partialHave = remaining;
        return;
      }
      this.emit(chunk, off, off + total);
      off += total;
    }
  }

  /** True once a malformed frame was seen: the stream cannot be read further. */
  get failed(): boolean {
    return this.broken;
  }

  /** True while the decoder holds part of a frame. */
  get midFrame(): boolean {
    return this.headerHave > 0 || this.partial !== null;
  }

  private checkedTotal(buf: Uint8Array, off: number): number {
    const size = readU32(buf, off);
    if (size < 3) return this.fail(ReplyCode.FRAME_ERROR, `frame size ${size} is smaller than a frame header`);
    const total = size + 4;
    if (total > this.maxFrameBytes) {
      return this.fail(ReplyCode.FRAME_TOO_LARGE, `frame of ${total} bytes exceeds frameMax ${this.maxFrameBytes}`);
    }
    const type = buf[off + 4];
    if (type !== FrameType.METHOD && type !== FrameType.HEARTBEAT) {
      return this.fail(ReplyCode.FRAME_ERROR, `unknown frame type ${type}`);
    }
    return total;
  }

  private emit(buf: Bytes, start: number, end: number): void {
    const type = buf[start + 4] as number;
    const channel = ((buf[start + 5] as number) << 8) | (buf[start + 6] as number);
    if (this.at) (this.sink as Required<FrameSink>).onFrameAt(type, channel, buf, start + FRAME_HEADER_SIZE, end);
    else this.sink.onFrame(type, channel, buf.subarray(start + FRAME_HEADER_SIZE, end) as Bytes);
  }

  private fail(code: number, message: string): never {
    this.broken = true;
    this.partial = null;
    this.headerHave = 0;
    throw new ProtocolError(code, message);
  }
}
