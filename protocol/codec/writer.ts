import { FRAME_HEADER_SIZE, FrameType, HEARTBEAT_FRAME } from './frame.js';
import { ArgsEncoder, type ArgValue } from './msgpack.js';

/** What a {@link FrameWriter} writes to: a `net.Socket` or anything shaped like one. */
export interface WritableLike {
  write(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
  once(event: 'drain', listener: () => void): unknown;
}

const CHUNK_SIZE = 64 * 1024;
/**
 * Pieces at least this big are written by reference instead of being copied into the batch
 * (the kernel copies them anyway; at 2 KiB the saved memcpy already outweighs an extra iovec).
 */
const BY_REFERENCE = 2 * 1024;
/** Flush early once this much is pending, so a burst never piles up unbounded in user space. */
const EARLY_FLUSH = 256 * 1024;

/**
 * Big-endian stores for offsets `reserve()` has already made room for: the Buffer methods
 * re-validate value and bounds on every call, and these run several times per frame.
 */
function u16(b: Buffer, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

function u32(b: Buffer, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

const dirty = new Set<FrameWriter>();
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  for (const w of dirty) w.flush();
  dirty.clear();
}

/**
 * Frame encoder and write batcher for one connection. Frames are encoded straight into a
 * 64 KiB batch buffer; everything written during one turn of the event loop goes to the
 * socket in one corked burst from a single shared `setImmediate` (one write per connection per
 * tick, not one per message). Large bodies are passed by reference, never copied.
 *
 * Backpressure: `writable` turns false when the socket's buffer passes `highWaterMark` and
 * back on `'drain'`, when `onDrain` is called.
 */
export class FrameWriter {
  private readonly socket: WritableLike;
  private readonly encoder = new ArgsEncoder();
  private buf = Buffer.allocUnsafe(CHUNK_SIZE);
  /** Start of the bytes not yet handed to the socket, and the end of what is written. */
  private start = 0;
  private end = 0;
  private pieces: Buffer[] = [];
  private pendingBytes = 0;
  private waitingDrain = false;
  readonly highWaterMark: number;
  /** Called when the socket drains after `writable` went false. */
  onDrain: (() => void) | null = null;
  /** Time of the last flush that wrote something, for heartbeats. */
  lastWriteAt = Date.now();
  /**
   * Arguments `contentFrameSize` just measured (the encoder still holds them), so the `content`
   * call that follows with the same array does not measure them again.
   */
  private sizedArgs: readonly ArgValue[] | null = null;
  private sizedArgsSize = 0;

  constructor(socket: WritableLike, highWaterMark = 1024 * 1024) {
    this.socket = socket;
    this.highWaterMark = highWaterMark;
  }

  /** False while the socket holds more than `highWaterMark` bytes unwritten. */
  get writable(): boolean {
    return !this.waitingDrain;
  }

  /** Bytes queued here and in the socket. */
  get bufferedBytes(): number {
    return this.pendingBytes + this.socket.writableLength;
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
  contentRaw(channel: number, methodId: number, args: readonly ArgValue[], content: Buffer): void {
    const argsSize = this.measure(args);
    const head = FRAME_HEADER_SIZE + 6 + argsSize;
    const total = head + content.length;
    const byRef = content.length >= BY_REFERENCE;
    const off = this.reserve(byRef ? head : total);
    const b = this.buf;
    this.header(b, off, total, channel);
    u16(b, off + FRAME_HEADER_SIZE, methodId);
    u32(b, off + FRAME_HEADER_SIZE + 2, argsSize);
    this.encoder.write(b, off + head - argsSize);
    if (byRef) {
      this.end = off + head;
      this.cut();
      this.pieces.push(content);
    } else {
      content.copy(b, off + head);
      this.end = off + total;
    }
    this.queued(total);
  }

  /** A content method from its parts (the client's publishing path). */
  content(channel: number, methodId: number, args: readonly ArgValue[], props: Buffer | null, body: Buffer): void {
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
    if (props !== null) p += props.copy(b, p);
    if (byRef) {
      this.end = p;
      this.cut();
      this.pieces.push(body);
    } else {
      body.copy(b, p);
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

  /** Bytes that are not a frame (the protocol header). */
  raw(bytes: Buffer): void {
    const off = this.reserve(bytes.length);
    bytes.copy(this.buf, off);
    this.end = off + bytes.length;
    this.queued(bytes.length);
  }

  /** Writes everything pending now. Returns false if the socket asked us to wait. */
  flush(): boolean {
    this.cut();
    const pieces = this.pieces;
    if (pieces.length === 0) return !this.waitingDrain;
    this.pieces = [];
    this.pendingBytes = 0;
    const socket = this.socket;
    if (socket.destroyed) return false;
    let ok = true;
    if (pieces.length === 1) ok = socket.write(pieces[0] as Buffer);
    else {
      socket.cork();
      for (const p of pieces) ok = socket.write(p);
      socket.uncork();
    }
    this.lastWriteAt = Date.now();
    if ((!ok || socket.writableLength > this.highWaterMark) && !this.waitingDrain) {
      this.waitingDrain = true;
      socket.once('drain', this.drained);
    }
    return ok;
  }

  private readonly drained = (): void => {
    this.waitingDrain = false;
    this.onDrain?.();
  };

  private header(b: Buffer, off: number, total: number, channel: number): void {
    u32(b, off, total - 4);
    b[off + 4] = FrameType.METHOD;
    u16(b, off + 5, channel);
  }

  /** Makes room for `n` contiguous bytes at `this.end`; returns the offset to write at. */
  private reserve(n: number): number {
    if (this.buf.length - this.end < n) {
      this.cut();
      this.buf = Buffer.allocUnsafe(Math.max(CHUNK_SIZE, n));
      this.start = 0;
      this.end = 0;
    }
    return this.end;
  }

  /** Moves the bytes written since the last cut into the piece list. */
  private cut(): void {
    if (this.end > this.start) {
      this.pieces.push(this.buf.subarray(this.start, this.end));
      this.start = this.end;
    }
  }

  private queued(n: number): void {
    this.pendingBytes += n;
    if (this.pendingBytes >= EARLY_FLUSH) {
      this.flush();
      return;
    }
    if (!dirty.has(this)) {
      dirty.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }
}
