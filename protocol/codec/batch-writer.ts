import { allocUnsafe, copyInto, type Bytes } from './bytes.js';

/** What a {@link BatchWriter} writes to: a `net.Socket` or anything shaped like one. */
export interface WritableLike {
  write(chunk: Bytes): boolean;
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
export const BY_REFERENCE = 2 * 1024;
/** Flush early once this much is pending, so a burst never piles up unbounded in user space. */
const EARLY_FLUSH = 256 * 1024;

/** The next turn of the event loop: `setImmediate` in Node.js; browsers have only timers. */
const nextTurn: (f: () => void) => unknown =
  (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate ?? ((f: () => void) => setTimeout(f, 0));

const dirty = new Set<BatchWriter>();
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  for (const w of dirty) w.flush();
  dirty.clear();
}

/**
 * Write batcher for one connection, the base of each protocol's frame writer. Frames are
 * encoded straight into a 64 KiB batch buffer (`reserve`, then write at the offset it returns);
 * everything written during one turn of the event loop goes to the socket in one corked burst
 * from a single shared `setImmediate` (one write per connection per tick, not one per message).
 * Large pieces are passed by reference (`byReference`), never copied.
 *
 * Backpressure: `writable` turns false when the socket's buffer passes `highWaterMark` and
 * back on `'drain'`, when `onDrain` is called.
 */
export class BatchWriter {
  private readonly socket: WritableLike;
  protected buf: Bytes = allocUnsafe(CHUNK_SIZE);
  /** Start of the bytes not yet handed to the socket, and the end of what is written. */
  private start = 0;
  protected end = 0;
  private pieces: Bytes[] = [];
  private pendingBytes = 0;
  private waitingDrain = false;
  readonly highWaterMark: number;
  /** Called when the socket drains after `writable` went false. */
  onDrain: (() => void) | null = null;
  /** Time of the last flush that wrote something, for heartbeats. */
  lastWriteAt = Date.now();
  /** Bytes handed to the socket so far, for listings (a stream other than a socket counts none). */
  bytesWritten = 0;

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

  /** Bytes that are not a frame (the protocol header). */
  raw(bytes: Uint8Array): void {
    const off = this.reserve(bytes.length);
    copyInto(bytes, this.buf, off);
    this.end = off + bytes.length;
    this.queued(bytes.length);
  }

  /** Writes everything pending now. Returns false if the socket asked us to wait. */
  flush(): boolean {
    this.cut();
    const pieces = this.pieces;
    if (pieces.length === 0) return !this.waitingDrain;
    this.pieces = [];
    const socket = this.socket;
    if (socket.destroyed) {
      this.pendingBytes = 0;
      return false;
    }
    this.bytesWritten += this.pendingBytes;
    this.pendingBytes = 0;
    let ok = true;
    if (pieces.length === 1) ok = socket.write(pieces[0] as Bytes);
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

  /** Makes room for `n` contiguous bytes at `this.end`; returns the offset to write at. */
  protected reserve(n: number): number {
    // Nothing is pending and the socket has taken every byte (the usual case between ticks):
    // the batch buffer is free again, so the next batch starts at its beginning. Without this
    // each connection walks through its whole 64 KiB before starting another, and 5,000 quiet
    // connections each keep 64 KiB of touched memory (320 MB) instead of a few hundred bytes.
    if (this.end !== 0 && this.start === this.end && this.pieces.length === 0 && this.socket.writableLength === 0) {
      this.start = 0;
      this.end = 0;
    }
    if (this.buf.length - this.end < n) {
      this.cut();
      this.buf = allocUnsafe(Math.max(CHUNK_SIZE, n));
      this.start = 0;
      this.end = 0;
    }
    return this.end;
  }

  /** Queues `piece` after what is written so far, without copying it. */
  protected byReference(piece: Bytes): void {
    this.cut();
    this.pieces.push(piece);
  }

  /** Moves the bytes written since the last cut into the piece list. */
  private cut(): void {
    if (this.end > this.start) {
      this.pieces.push(this.buf.subarray(this.start, this.end) as Bytes);
      this.start = this.end;
    }
  }

  /** Accounts `n` more bytes written and schedules the flush. */
  protected queued(n: number): void {
    this.pendingBytes += n;
    if (this.pendingBytes >= EARLY_FLUSH) {
      this.flush();
      return;
    }
    if (!dirty.has(this)) {
      dirty.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        nextTurn(flushAll);
      }
    }
  }
}
