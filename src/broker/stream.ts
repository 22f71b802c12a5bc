import { ProtocolError, ReplyCode, type StreamInfo } from '../../protocol/index.js';
import type { TimerHandle } from './clock.js';
import type { Consumer } from './consumer.js';
import { Message } from './message.js';
import type { EffectivePolicy } from './policy.js';
import { Queue, type QueueHost, type QueueOptions } from './queue.js';
import type { StreamConsumerArgs, StreamSettings, StreamStart } from './stream-args.js';
import { planRecord, readRecords, recordSizeAt, writeRecord } from './stream-record.js';
import type { SegmentInfo, SegmentWrite, StreamStorage } from './stream-storage.js';
import { Deque } from '../util/deque.js';

/** What a stream needs of its broker beyond a queue's. */
export interface StreamHost extends QueueHost {
  readonly streamStorage: StreamStorage;
  /** A named consumer's offset moved (offset tracking): the store keeps it. */
  streamOffsetStored(stream: Stream, name: string, offset: number): void;
  /** The stream's segments could not be read or written. */
  streamFailed(stream: Stream, err: Error): void;
}

/** Bytes a write buffer holds before a new one is begun. */
const WRITE_BUFFER_BYTES = 256 * 1024;
/** Bytes one replay read asks of the storage. */
const READ_BYTES = 1024 * 1024;
/** A replaying consumer reads its next chunk once it holds fewer messages than this. */
const READ_AHEAD_MESSAGES = 2048;
/** Recent messages kept in memory, so consumers at the tail never read the disk. */
const TAIL_BYTES = 8 * 1024 * 1024;
/** A sparse index entry every this many bytes of a segment. */
const INDEX_EVERY_BYTES = 64 * 1024;

/** Where one consumer is in the log. */
class Cursor {
  /** Next offset to deliver; -1 until the start is resolved (the stream is still loading). */
  next = -1;
  /** Messages read from disk, consecutive from `next`. */
  readonly buffered = new Deque<Message>(64);
  reading = false;
  /** Where the next disk read continues: segment base and byte position; null = locate `next`. */
  readSegment = -1;
  readPosition = 0;
  /** Skip messages appended before this (a timestamp or interval start); 0 = none. */
  minTs = 0;
  /** Offset tracking: offsets delivered and not yet settled, oldest first (named consumers only). */
  readonly inFlight: Deque<number> | null;
  readonly settledEarly: Set<number> | null;
  constructor(
    readonly consumer: Consumer,
    readonly args: StreamConsumerArgs,
  ) {
    this.inFlight = args.name !== null ? new Deque<number>() : null;
    this.settledEarly = args.name !== null ? new Set<number>() : null;
  }
}

/** The most recent messages, by offset, and their append times. */
class Tail {
  first = 0;
  private readonly items = new Deque<Message>(1024);
  private readonly times = new Deque<number>(1024);
  bytes = 0;
  get length(): number {
    return this.items.length;
  }
  push(m: Message, ts: number): void {
    this.items.push(m);
    this.times.push(ts);
    this.bytes += m.content.length;
  }
  shift(): void {
    const m = this.items.shift();
    this.times.shift();
    if (m !== undefined) this.bytes -= m.content.length;
    this.first++;
  }
  at(offset: number): Message | undefined {
    return this.items.at(offset - this.first);
  }
  tsAt(offset: number): number {
    return this.times.at(offset - this.first) ?? 0;
  }
  clear(next: number): void {
    this.items.clear();
    this.times.clear();
    this.bytes = 0;
    this.first = next;
  }
}

/**
 * A stream (`x-queue-type: stream`, SPEC §3.4.5): an append-only log of segments that consuming
 * does not shrink. Each consumer has its own cursor and starts where `x-stream-offset` says;
 * every message carries its offset in its `x-stream-offset` header (written into the stored
 * bytes at append, so replays forward bytes untouched). Messages are delivered once their
 * segment write has committed, so an offset a consumer saw never changes meaning after a crash.
 * Retention (`x-max-length-bytes`, `x-max-age`) drops whole segments, never the one being
 * written.
 */
export class Stream extends Queue {
  override readonly isStream = true;
  readonly settings: StreamSettings;
  private readonly streamHost: StreamHost;
  private readonly storage: StreamStorage;
  /** Oldest first; the last is the one being written. */
  readonly segments: SegmentInfo[] = [];
  /** The offset the next appended message takes. */
  nextOffset = 0;
  /** Messages below this offset are written (and deliverable). */
  committed = 0;
  /** Bytes of every segment. */
  bytes = 0;
  /** False while a restart reads what the segment files hold. */
  loaded = true;
  /** Offsets stored by named consumers (offset tracking): the next offset each will read. */
  readonly storedOffsets = new Map<string, number>();
  private readonly tail = new Tail();
  private readonly cursors = new Map<Consumer, Cursor>();
  /** Cancelled named consumers with deliveries still unacked: their acks still move the stored offset. */
  private readonly retired = new Map<Consumer, Cursor>();
  /** Appends not yet handed to the storage: filled buffers, then the one being filled. */
  private parts: SegmentWrite[] = [];
  private buf: Buffer | null = null;
  private bufStart = 0;
  private pos = 0;
  private bufSegment = -1;
  /** Where in its segment the bytes from `bufStart` go. */
  private partPosition = 0;
  private writing = false;
  private flushScheduled = false;
  private lastIndexedAt = 0;
  /** Publishes that came while loading, appended once the log is known. */
  private early: { exchange: string; routingKey: string; content: Buffer; persistent: boolean; priority: number }[] = [];
  private ageTimer: TimerHandle | null = null;
  private ageTimerAt = Infinity;
  /** The last segment write's error while it is being retried; null once a write succeeds. */
  failure: Error | null = null;

  constructor(name: string, options: QueueOptions, host: StreamHost, settings: StreamSettings) {
    super(name, options, null, host, null, false);
    this.settings = settings;
    this.streamHost = host;
    this.storage = host.streamStorage;
  }

  get firstOffset(): number {
    const s = this.segments[0];
    return s === undefined ? this.nextOffset : s.base;
  }

  /** Every message in the stream (RabbitMQ's `messages` of a stream). */
  override get messageCount(): number {
    return this.committed - Math.min(this.firstOffset, this.committed);
  }

  // ---- appending ----

  override enqueue(m: Message): void {
    this.append(m.exchange, m.routingKey, m.content, m.persistent, m.priority);
  }

  override refuses(): boolean {
    return false;
  }

  /** Appends one message (the broker's publish path); its confirm waits on `storage.durable`. */
  append(exchange: string, routingKey: string, content: Buffer, persistent: boolean, priority: number): void {
    this.publishedTotal++;
    if (!this.loaded) {
      this.early.push({ exchange, routingKey, content: Buffer.from(content), persistent, priority });
      this.storage.appended(this, content.length);
      return;
    }
    this.write(exchange, routingKey, content, persistent, priority);
    this.storage.appended(this, content.length);
  }

  private write(exchange: string, routingKey: string, content: Buffer, persistent: boolean, priority: number): void {
    const plan = planRecord(exchange, routingKey, content);
    const size = plan.size;
    let seg = this.segments[this.segments.length - 1];
    if (seg === undefined || (seg.bytes !== 0 && seg.bytes + size > this.settings.maxSegmentBytes)) seg = this.roll();
    if (this.buf === null || this.bufSegment !== seg.base || this.pos + size > this.buf.length) this.newBuffer(seg, size);
    const buf = this.buf as Buffer;
    const offset = this.nextOffset++;
    const ts = this.streamHost.clock.now();
    const at = this.pos;
    const contentStart = writeRecord(buf, at, plan, offset, ts, persistent, priority, exchange, routingKey, content);
    this.pos = at + size;
    const position = seg.bytes;
    if (seg.count === 0 || position - this.lastIndexedAt >= INDEX_EVERY_BYTES) {
      seg.index.push(offset, position, ts);
      this.lastIndexedAt = position;
    }
    if (seg.count === 0) seg.firstTs = ts;
    seg.lastTs = ts;
    seg.count++;
    seg.bytes += size;
    this.bytes += size;
    this.readyBytes = this.bytes;
    this.tail.push(new Message(offset, exchange, routingKey, buf.subarray(contentStart, at + size), persistent, priority), ts);
    this.trimTail();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private roll(): SegmentInfo {
    this.closeBuffer();
    const seg: SegmentInfo = { base: this.nextOffset, count: 0, bytes: 0, firstTs: 0, lastTs: 0, index: [] };
    this.segments.push(seg);
    this.lastIndexedAt = 0;
    // A closed segment may now be old or big enough to go.
    if (this.segments.length > 1) queueMicrotask(() => this.applyRetention());
    return seg;
  }

  private newBuffer(seg: SegmentInfo, need: number): void {
    this.closeBuffer();
    this.buf = Buffer.allocUnsafeSlow(Math.max(WRITE_BUFFER_BYTES, need));
    this.bufStart = 0;
    this.pos = 0;
    this.bufSegment = seg.base;
    this.partPosition = seg.bytes;
  }

  /** Moves what the current buffer holds into `parts`. */
  private closeBuffer(): void {
    if (this.buf !== null && this.pos > this.bufStart) {
      this.parts.push({ base: this.bufSegment, position: this.partPosition, bytes: this.buf.subarray(this.bufStart, this.pos) });
      this.partPosition += this.pos - this.bufStart;
    }
    this.bufStart = this.pos;
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.writing || this.deleted) return;
    this.closeBuffer();
    if (this.parts.length === 0) return;
    const parts = this.parts;
    this.parts = [];
    const upTo = this.nextOffset;
    this.writing = true;
    this.storage.write(this, parts, (err) => {
      this.writing = false;
      if (this.deleted) return;
      if (err !== null) {
        // Resent as it was: the storage truncates a failed write before it is retried.
        this.failure = err;
        this.parts = parts.concat(this.parts);
        this.streamHost.streamFailed(this, err);
        setTimeout(this.flush, 100).unref();
        return;
      }
      this.failure = null;
      this.committed = upTo;
      this.trimTail();
      this.applyRetention();
      this.dispatch();
      if (this.parts.length !== 0 || (this.buf !== null && this.pos > this.bufStart)) this.flush();
    });
  };

  private trimTail(): void {
    const t = this.tail;
    while (t.bytes > TAIL_BYTES && t.length > 1 && t.first < this.committed) t.shift();
  }

  // ---- retention ----

  /** Drops whole segments, oldest first, past `x-max-length-bytes` or `x-max-age`; never the last. */
  applyRetention(): void {
    const { maxLengthBytes, maxAgeMs } = this.settings;
    if (this.deleted || !this.loaded || (maxLengthBytes === null && maxAgeMs === null)) return;
    const now = this.streamHost.clock.now();
    const dropped: number[] = [];
    while (this.segments.length > 1) {
      const s = this.segments[0] as SegmentInfo;
      // A segment that still has unwritten records stays until they are written.
      if (s.base + s.count > this.committed) break;
      const tooBig = maxLengthBytes !== null && this.bytes > maxLengthBytes;
      const tooOld = maxAgeMs !== null && s.lastTs + maxAgeMs < now;
      if (!tooBig && !tooOld) break;
      this.segments.shift();
      this.bytes -= s.bytes;
      dropped.push(s.base);
    }
    this.readyBytes = this.bytes;
    if (dropped.length !== 0) {
      this.storage.dropSegments(this, dropped);
      const first = this.firstOffset;
      if (this.tail.first < first) {
        while (this.tail.length !== 0 && this.tail.first < first) this.tail.shift();
        if (this.tail.first < first) this.tail.clear(first);
      }
      for (const k of this.cursors.values()) {
        if (k.next !== -1 && k.next < first) this.moveCursor(k, first);
      }
    }
    if (maxAgeMs !== null) this.armAgeTimer(now);
  }

  private armAgeTimer(now: number): void {
    const oldest = this.segments.length > 1 ? this.segments[0] : undefined;
    const at = oldest === undefined ? Infinity : oldest.lastTs + (this.settings.maxAgeMs as number) + 1;
    if (at === this.ageTimerAt) return;
    const clock = this.streamHost.clock;
    if (this.ageTimer !== null) clock.clearTimer(this.ageTimer);
    this.ageTimer = null;
    this.ageTimerAt = at;
    if (at !== Infinity) {
      this.ageTimer = clock.setTimer(() => {
        this.ageTimer = null;
        this.ageTimerAt = Infinity;
        this.applyRetention();
      }, at - now);
    }
  }

  // ---- consuming ----

  override addConsumer(c: Consumer): void {
    const args = c.streamArgs as StreamConsumerArgs;
    const k = new Cursor(c, args);
    this.cursors.set(c, k);
    if (this.loaded) this.attach(k);
    super.addConsumer(c);
  }

  override removeConsumer(c: Consumer): void {
    const k = this.cursors.get(c);
    this.cursors.delete(c);
    if (k !== undefined && k.inFlight !== null && k.inFlight.length !== 0) this.retired.set(c, k);
    super.removeConsumer(c);
  }

  /** Resolves where a consumer starts (SPEC §3.4.5 `x-stream-offset`). */
  private attach(k: Cursor): void {
    let start: StreamStart | null = k.args.start;
    if (start === null) {
      const stored = k.args.name === null ? undefined : this.storedOffsets.get(k.args.name);
      start = stored === undefined ? { kind: 'next' } : { kind: 'offset', offset: stored };
    }
    const first = this.firstOffset;
    switch (start.kind) {
      case 'first':
        k.next = first;
        break;
      case 'last':
        k.next = Math.max(first, this.committed - 1);
        break;
      case 'next':
        k.next = this.nextOffset;
        break;
      case 'offset':
        k.next = Math.min(Math.max(start.offset, first), this.nextOffset);
        break;
      case 'timestamp':
      case 'interval': {
        const at = start.kind === 'timestamp' ? start.at : this.streamHost.clock.now() - start.ms;
        k.next = this.offsetAt(at);
        k.minTs = at;
        break;
      }
    }
  }

  /** The first offset of the sparse-index stretch holding the first message appended at or after `at`. */
  private offsetAt(at: number): number {
    for (const s of this.segments) {
      if (s.count === 0 || s.lastTs < at) continue;
      let offset = s.base;
      for (let i = 0; i < s.index.length; i += 3) {
        if ((s.index[i + 2] as number) >= at) break;
        offset = s.index[i] as number;
      }
      return offset;
    }
    return this.nextOffset;
  }

  private moveCursor(k: Cursor, to: number): void {
    k.next = to;
    k.buffered.clear();
    k.readSegment = -1;
  }

  /** Each consumer takes the messages after its own position while it has room. */
  override dispatch(): void {
    if (this.deleted || !this.loaded) return;
    for (const k of this.cursors.values()) this.feed(k);
  }

  private feed(k: Cursor): void {
    const c = k.consumer;
    if (c.cancelled || k.next === -1) return;
    const tail = this.tail;
    while (k.next < this.committed && c.ready) {
      let m: Message | undefined;
      let ts = 0;
      const b = k.buffered.peek();
      if (b !== undefined && b.id === k.next) {
        m = k.buffered.shift();
        if (!k.reading && k.buffered.length < READ_AHEAD_MESSAGES && k.readSegment !== -1) this.read(k);
      } else if (k.next >= tail.first && tail.length !== 0) {
        if (b !== undefined) k.buffered.clear();
        k.readSegment = -1;
        m = tail.at(k.next);
        if (k.minTs !== 0) ts = tail.tsAt(k.next);
      } else {
        if (b !== undefined) k.buffered.clear();
        this.read(k);
        return;
      }
      if (m === undefined) return;
      k.next++;
      if (k.minTs !== 0) {
        if (ts !== 0 && ts < k.minTs) continue;
        k.minTs = 0;
      }
      if (k.inFlight !== null) k.inFlight.push(m.id);
      this.deliveredTotal++;
      c.channel.deliver(c, m);
    }
  }

  /** Reads the next chunk of the log for `k` from the storage. */
  private read(k: Cursor): void {
    if (k.reading) return;
    // Read from where the messages held end, or locate `next` in the index.
    let from = k.next + k.buffered.length;
    if (k.readSegment === -1) {
      from = k.next;
      const loc = this.locate(from);
      if (loc === null) return;
      k.readSegment = loc.base;
      k.readPosition = loc.position;
    }
    if (from >= this.committed) return;
    k.reading = true;
    const segment = k.readSegment;
    const position = k.readPosition;
    this.readChunk(k, segment, position, READ_BYTES);
  }

  private readChunk(k: Cursor, segment: number, position: number, maxBytes: number): void {
    this.storage.read(this, segment, position, maxBytes, (err, chunk) => {
      k.reading = false;
      if (this.cursors.get(k.consumer) !== k || this.deleted) return;
      if (err !== null) {
        // Its segment went (retention) while the read was on its way: start over from `next`.
        if (!this.segments.some((s) => s.base === segment)) {
          this.moveCursor(k, Math.max(k.next, this.firstOffset));
          this.feed(k);
          return;
        }
        this.streamHost.streamFailed(this, err);
        k.consumer.channel.consumerQueueDeleted(k.consumer);
        this.removeConsumer(k.consumer);
        return;
      }
      // Moved since (retention, a switch to the tail): this read is stale.
      if (k.readSegment !== segment || k.readPosition !== position) {
        this.dispatch();
        return;
      }
      const want = k.next + k.buffered.length;
      const committed = this.committed;
      const minTs = k.minTs;
      let last = -1;
      const end = readRecords(chunk, 0, (m, ts) => {
        if (m.id >= committed) return false;
        last = m.id;
        if (m.id < want) return true;
        if (minTs !== 0 && ts < minTs) {
          // Skipped before delivery: the cursor moves past it.
          if (k.buffered.length === 0) k.next = m.id + 1;
          return true;
        }
        k.buffered.push(m);
        return true;
      });
      if (end === 0 && chunk.length !== 0 && last === -1) {
        const size = recordSizeAt(chunk, 0);
        if (size > maxBytes) {
          k.reading = true;
          this.readChunk(k, segment, position, size);
          return;
        }
      }
      if (k.buffered.length !== 0 && minTs !== 0) k.minTs = 0;
      k.readPosition = position + end;
      const seg = this.segments.find((s) => s.base === segment);
      if (seg === undefined) k.readSegment = -1;
      else if (last !== -1 && last + 1 >= seg.base + seg.count) {
        const i = this.segments.indexOf(seg);
        const nextSeg = this.segments[i + 1];
        if (nextSeg === undefined) k.readSegment = -1;
        else {
          k.readSegment = nextSeg.base;
          k.readPosition = 0;
        }
      }
      this.feed(k);
    });
  }

  /** The segment and byte position to read from to reach `offset` (via the sparse index). */
  private locate(offset: number): { base: number; position: number } | null {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i] as SegmentInfo;
      if (offset < s.base) continue;
      let position = 0;
      for (let j = 0; j < s.index.length; j += 3) {
        if ((s.index[j] as number) > offset) break;
        position = s.index[j + 1] as number;
      }
      return { base: s.base, position };
    }
    return null;
  }

  // ---- settling and offset tracking ----

  /** An ack: a named consumer's stored offset moves past every message it has settled. */
  override settled(message: Message, consumer?: Consumer | null): void {
    if (consumer === undefined || consumer === null) return;
    const k = this.cursors.get(consumer) ?? this.retired.get(consumer);
    if (k === undefined || k.inFlight === null) return;
    const inFlight = k.inFlight;
    const early = k.settledEarly as Set<number>;
    if (inFlight.peek() !== message.id) {
      early.add(message.id);
      return;
    }
    inFlight.shift();
    while (early.size !== 0 && early.has(inFlight.peek() as number)) early.delete(inFlight.shift() as number);
    const next = inFlight.peek() ?? k.next;
    this.storeOffset(k.args.name as string, next);
    if (inFlight.length === 0) this.retired.delete(consumer);
  }

  /** A reject or nack without requeue settles a stream message as an ack does. */
  override rejected(message: Message, consumer?: Consumer | null): void {
    this.settled(message, consumer);
  }

  /** Stores `offset` as the next one consumer `name` reads. */
  storeOffset(name: string, offset: number): void {
    if (this.storedOffsets.get(name) === offset) return;
    this.storedOffsets.set(name, offset);
    this.streamHost.streamOffsetStored(this, name, offset);
  }

  /** Unacked stream messages of a closed channel are not put back: the log still has them. */
  override requeue(): void {
    for (const c of this.retired.keys()) if (c.channel.closed) this.retired.delete(c);
  }

  override take(): Message | undefined {
    throw new ProtocolError(ReplyCode.NOT_IMPLEMENTED, `basic.get not supported by stream queues queue '${this.name}' in vhost '${this.vhost}'`);
  }

  /** The broker's delete: the segments go with the stream. */
  override purge(): number {
    const n = this.messageCount;
    this.tail.clear(this.nextOffset);
    for (const k of this.cursors.values()) k.buffered.clear();
    return n;
  }

  override *readyMessages(): IterableIterator<Message> {}

  override markDeleted(): void {
    super.markDeleted();
    if (this.ageTimer !== null) this.streamHost.clock.clearTimer(this.ageTimer);
    this.ageTimer = null;
  }

  /** Policies do not change a stream's settings (they are fixed at declare, as its arguments). */
  override applyPolicy(effective: EffectivePolicy | null): void {
    this.appliedPolicy = effective;
  }

  // ---- restore ----

  /** A restart: the log is being read back; publishes and consumers wait for {@link restored}. */
  startLoading(): void {
    this.loaded = false;
  }

  /** What the segment files hold (oldest first), and the stored consumer offsets. */
  restored(segments: SegmentInfo[], offsets: ReadonlyMap<string, number>): void {
    this.segments.length = 0;
    this.bytes = 0;
    for (const s of segments) {
      this.segments.push(s);
      this.bytes += s.bytes;
    }
    const last = this.segments[this.segments.length - 1];
    this.nextOffset = this.committed = last === undefined ? 0 : last.base + last.count;
    if (last !== undefined) {
      const idx = last.index;
      this.lastIndexedAt = idx.length >= 3 ? (idx[idx.length - 2] as number) : 0;
    }
    this.readyBytes = this.bytes;
    this.tail.clear(this.nextOffset);
    for (const [name, offset] of offsets) if (!this.storedOffsets.has(name)) this.storedOffsets.set(name, offset);
    this.loaded = true;
    const early = this.early;
    this.early = [];
    for (const e of early) this.write(e.exchange, e.routingKey, e.content, e.persistent, e.priority);
    for (const k of this.cursors.values()) if (k.next === -1) this.attach(k);
    this.applyRetention();
    this.dispatch();
  }

  /** For listings: the offsets held, segments, bytes and stored consumer offsets. */
  get info(): StreamInfo {
    return {
      firstOffset: this.firstOffset,
      lastOffset: this.committed - 1,
      segments: this.segments.length,
      bytes: this.bytes,
      loaded: this.loaded,
      consumerOffsets: Object.fromEntries(this.storedOffsets),
    };
  }
}
