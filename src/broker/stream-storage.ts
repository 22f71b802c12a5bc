/**
 * Where a stream's segments live. The store keeps them in files written and read by its sync
 * workers; without a store they are kept in memory ({@link MemoryStreamStorage}). Every call is
 * made on the event loop and answers later; a stream has at most one write in flight.
 */

/** What is known of one segment: `count` records from offset `base`, `bytes` long. */
export interface SegmentInfo {
  base: number;
  count: number;
  bytes: number;
  /** Append times (ms) of its first and last record. */
  firstTs: number;
  lastTs: number;
  /** Sparse index, triples of (offset, byte position, timestamp), first record included. */
  index: number[];
}

/** Bytes to append to one segment (a write may close one segment and begin the next). */
export interface SegmentWrite {
  base: number;
  /** The segment's size before these bytes: where they go (a retried write overwrites). */
  position: number;
  bytes: Buffer;
}

/** The stream side of a storage: identifies the stream (the store keeps its directory per stream). */
export interface StreamHandle {
  readonly name: string;
}

export interface StreamStorage {
  /** Publishes to streams wait for their write to commit (a store); false: safe at once. */
  readonly durable: boolean;
  /**
   * A message was appended to `stream` in memory and will be written by the next {@link write}:
   * called synchronously in the publish, so a publisher confirm waits for that write.
   */
  appended(stream: StreamHandle, bytes: number): void;
  /** Appends to segment files, in order; `done` once committed (per the fsync policy). */
  write(stream: StreamHandle, parts: SegmentWrite[], done: (err: Error | null) => void): void;
  /** Reads up to `maxBytes` of segment `base` from `position` (fewer at its end). */
  read(stream: StreamHandle, base: number, position: number, maxBytes: number, done: (err: Error | null, chunk: Buffer) => void): void;
  /** Retention dropped these segments (oldest first). */
  dropSegments(stream: StreamHandle, bases: number[]): void;
}

/** Segments in memory, for a broker without a store. */
export class MemoryStreamStorage implements StreamStorage {
  readonly durable = false;
  private readonly segments = new WeakMap<StreamHandle, Map<number, { buf: Buffer; used: number }>>();

  appended(): void {}

  write(stream: StreamHandle, parts: SegmentWrite[], done: (err: Error | null) => void): void {
    let byBase = this.segments.get(stream);
    if (byBase === undefined) this.segments.set(stream, (byBase = new Map()));
    for (const p of parts) {
      let seg = byBase.get(p.base);
      if (seg === undefined) byBase.set(p.base, (seg = { buf: Buffer.allocUnsafe(Math.max(64 * 1024, p.bytes.length)), used: 0 }));
      seg.used = p.position;
      if (seg.used + p.bytes.length > seg.buf.length) {
        const grown = Buffer.allocUnsafe(Math.max(seg.buf.length * 2, seg.used + p.bytes.length));
        seg.buf.copy(grown, 0, 0, seg.used);
        seg.buf = grown;
      }
      p.bytes.copy(seg.buf, seg.used);
      seg.used += p.bytes.length;
    }
    queueMicrotask(() => done(null));
  }

  read(stream: StreamHandle, base: number, position: number, maxBytes: number, done: (err: Error | null, chunk: Buffer) => void): void {
    const seg = this.segments.get(stream)?.get(base);
    const chunk = seg === undefined ? Buffer.alloc(0) : seg.buf.subarray(position, Math.min(seg.used, position + maxBytes));
    setImmediate(() => done(null, chunk));
  }

  dropSegments(stream: StreamHandle, bases: number[]): void {
    const byBase = this.segments.get(stream);
    if (byBase !== undefined) for (const b of bases) byBase.delete(b);
  }
}
