import { FRAME_HEADER_SIZE, FrameType } from './frame.js';
import { ProtocolError, ReplyCode } from './codes.js';

/** Receives whole frames from a {@link FrameDecoder}. */
export interface FrameSink {
  /**
   * `payload` is a view into the received bytes (not a copy) when the frame arrived in one
   * chunk; it stays valid for as long as the receiver keeps it.
   */
  onFrame(type: number, channel: number, payload: Buffer): void;
  /**
   * Optional, and called instead of `onFrame` when present: the same payload as `buf[start,
   * end)`, without the view `onFrame` gets. For hot paths, which only read the frame or take
   * their own views of it (a view costs an allocation per frame).
   */
  onFrameAt?(type: number, channel: number, buf: Buffer, start: number, end: number): void;
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
  private readonly headerStash = Buffer.alloc(FRAME_HEADER_SIZE);
  private headerHave = 0;
  /** The frame being assembled from several chunks, and how much of it we have. */
  private partial: Buffer | null = null;
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
  push(chunk: Buffer): void {
    if (this.broken) return;
    let off = 0;
    const len = chunk.length;

    if (this.headerHave > 0) {
      const take = Math.min(FRAME_HEADER_SIZE - this.headerHave, len);
      chunk.copy(this.headerStash, this.headerHave, 0, take);
      this.headerHave += take;
      off = take;
      if (this.headerHave < FRAME_HEADER_SIZE) return;
      this.headerHave = 0;
      const total = this.checkedTotal(this.headerStash, 0);
      this.partial = Buffer.allocUnsafe(total);
      this.headerStash.copy(this.partial, 0);
      this.partialHave = FRAME_HEADER_SIZE;
    }

    if (this.partial !== null) {
      const frame = this.partial;
      const take = Math.min(frame.length - this.partialHave, len - off);
      chunk.copy(frame, this.partialHave, off, off + take);
      this.partialHave += take;
      off += take;
      if (this.partialHave < frame.length) return;
      this.partial = null;
      this.emit(frame, 0, frame.length);
    }

    while (off < len) {
      const remaining = len - off;
      if (remaining < FRAME_HEADER_SIZE) {
        chunk.copy(this.headerStash, 0, off, len);
        this.headerHave = remaining;
        return;
      }
      const total = this.checkedTotal(chunk, off);
      if (remaining < total) {
        // Copy only now, when the frame really straddles chunks.
        this.partial = Buffer.allocUnsafe(total);
        chunk.copy(this.partial, 0, off, len);
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

  private checkedTotal(buf: Buffer, off: number): number {
    const size = buf.readUInt32BE(off);
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

  private emit(buf: Buffer, start: number, end: number): void {
    const type = buf[start + 4] as number;
    const channel = ((buf[start + 5] as number) << 8) | (buf[start + 6] as number);
    if (this.at) (this.sink as Required<FrameSink>).onFrameAt(type, channel, buf, start + FRAME_HEADER_SIZE, end);
    else this.sink.onFrame(type, channel, buf.subarray(start + FRAME_HEADER_SIZE, end));
  }

  private fail(code: number, message: string): never {
    this.broken = true;
    this.partial = null;
    this.headerHave = 0;
    throw new ProtocolError(code, message);
  }
}
