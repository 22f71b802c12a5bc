import type { Queue } from '../broker/queue.js';
import type { Stream } from '../broker/stream.js';
import type { SegmentInfo, SegmentWrite, StreamHandle, StreamStorage } from '../broker/stream-storage.js';
import { StoreError, fromErrorData } from './errors.js';
import { streamDir } from './stream-files.js';
import type { FromWorker, StoredSetting, ToWorker, TopologyOp } from './wire.js';

/** What the stream files need of the store they belong to. */
export interface StreamStoreHost {
  readonly dataDir: string;
  readonly workerCount: number;
  /** The queue id (directory) and writing worker of a stream the store knows; null otherwise. */
  place(stream: Queue): { qid: number; worker: number } | null;
  ready(worker: number): boolean;
  post(worker: number, m: ToWorker, transfer?: ArrayBuffer[]): void;
  /** Takes the store's next sequence number (confirms wait for it). */
  nextSeq(): number;
  /** Bytes recorded but not yet written changed. */
  pendingChanged(bytes: number): void;
  /** Something committed: release the confirms it covers. */
  settle(): void;
  recordTopology(op: TopologyOp): void;
}

/** One stream's write pipeline: the sequence numbers its unwritten appends took. */
interface Pipe {
  /** Lowest sequence number of appends not yet handed to a write; Infinity if none. */
  pendingFrom: number;
  pendingBytes: number;
  inflightFrom: number;
  inflightBytes: number;
}

interface Request {
  readonly worker: number;
  readonly done: (m: FromWorker & { req: number }) => void;
}

/** Stored offsets of named stream consumers: settings of this kind, keyed `<qid>/<name>`. */
const OFFSET_KIND = 'stream-offset';

/**
 * The store's side of streams ({@link StreamStorage}): appends take the store's sequence numbers
 * so publisher confirms wait for their segment write exactly as for a checkpoint; writes go to
 * the stream's own worker (its queue shard's), reads to the next one, so replays run beside the
 * writes. Consumer offsets ride in the topology file as settings, coalesced per checkpoint.
 */
export class StreamFiles implements StreamStorage {
  readonly durable = true;
  private readonly host: StreamStoreHost;
  private readonly pipes = new Map<StreamHandle, Pipe>();
  private readonly requests = new Map<number, Request>();
  private nextReq = 1;
  /** Offsets moved since the last checkpoint, per stream and consumer name. */
  private readonly dirtyOffsets = new Map<Queue, Map<string, number>>();
  /** Offsets read back on restore, by qid. */
  private readonly restoredOffsets = new Map<number, Map<string, number>>();

  constructor(host: StreamStoreHost) {
    this.host = host;
  }

  /** Lowest sequence number not yet written by any stream (Infinity: all written). */
  get unwrittenFrom(): number {
    if (this.pipes.size === 0) return Infinity;
    let first = Infinity;
    for (const p of this.pipes.values()) {
      if (p.pendingFrom < first) first = p.pendingFrom;
      if (p.inflightFrom < first) first = p.inflightFrom;
    }
    return first;
  }

  private pipe(stream: StreamHandle): Pipe {
    let p = this.pipes.get(stream);
    if (p === undefined) this.pipes.set(stream, (p = { pendingFrom: Infinity, pendingBytes: 0, inflightFrom: Infinity, inflightBytes: 0 }));
    return p;
  }

  appended(stream: StreamHandle, bytes: number): void {
    const p = this.pipe(stream);
    const seq = this.host.nextSeq();
    if (seq < p.pendingFrom) p.pendingFrom = seq;
    p.pendingBytes += bytes;
    this.host.pendingChanged(bytes);
  }

  write(stream: StreamHandle, parts: SegmentWrite[], done: (err: Error | null) => void): void {
    const place = this.host.place(stream as Stream);
    // A write carries every record appended so far (a retry, the failed ones too).
    const p = this.pipe(stream);
    p.inflightFrom = Math.min(p.inflightFrom, p.pendingFrom);
    p.inflightBytes += p.pendingBytes;
    p.pendingFrom = Infinity;
    p.pendingBytes = 0;
    if (place === null || !this.host.ready(place.worker)) {
      queueMicrotask(() => done(new StoreError('ERR_STORE_WORKER', `stream '${stream.name}': its sync worker is not running`)));
      return;
    }
    const dir = streamDir(this.host.dataDir, place.qid);
    // The parts are views into the stream's write buffers: copied once into a buffer of their
    // own, transferred (cloning a view would copy its whole 256 KiB buffer).
    let total = 0;
    for (const w of parts) total += w.bytes.length;
    const all = Buffer.allocUnsafeSlow(total);
    let at = 0;
    const out = parts.map((w) => {
      w.bytes.copy(all, at);
      const bytes = all.subarray(at, at + w.bytes.length);
      at += w.bytes.length;
      return { base: w.base, position: w.position, bytes };
    });
    this.send(place.worker, { t: 'stream-write', req: 0, dir, parts: out }, (m) => {
      if (m.t === 'stream-failed') {
        done(fromErrorData(m.error));
        return;
      }
      if (this.pipes.get(stream) === p) {
        this.host.pendingChanged(-p.inflightBytes);
        p.inflightFrom = Infinity;
        p.inflightBytes = 0;
        if (p.pendingFrom === Infinity) this.pipes.delete(stream);
      }
      done(null);
      this.host.settle();
    });
  }

  read(stream: StreamHandle, base: number, position: number, maxBytes: number, done: (err: Error | null, chunk: Buffer) => void): void {
    const place = this.host.place(stream as Stream);
    const n = this.host.workerCount;
    const worker = place === null ? -1 : (place.worker + 1) % n;
    if (place === null || !this.host.ready(worker)) {
      queueMicrotask(() => done(new StoreError('ERR_STORE_WORKER', `stream '${stream.name}': no sync worker to read with`), Buffer.alloc(0)));
      return;
    }
    const dir = streamDir(this.host.dataDir, place.qid);
    this.send(worker, { t: 'stream-read', req: 0, dir, base, position, maxBytes }, (m) => {
      if (m.t === 'stream-chunk') done(null, Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
      else if (m.t === 'stream-failed') done(fromErrorData(m.error), Buffer.alloc(0));
    });
  }

  dropSegments(stream: StreamHandle, bases: number[]): void {
    const place = this.host.place(stream as Stream);
    if (place === null) return;
    this.host.post(place.worker, { t: 'stream-drop', dir: streamDir(this.host.dataDir, place.qid), bases });
  }

  /** The stream was deleted: its files go, after any write its worker still has. */
  deleted(stream: Stream, place: { qid: number; worker: number }): void {
    const p = this.pipes.get(stream);
    if (p !== undefined) {
      this.host.pendingChanged(-(p.pendingBytes + p.inflightBytes));
      this.pipes.delete(stream);
    }
    this.dirtyOffsets.delete(stream);
    for (const name of stream.storedOffsets.keys()) this.host.recordTopology({ op: 'setting-delete', kind: OFFSET_KIND, key: `${place.qid}/${name}` });
    this.host.post(place.worker, { t: 'stream-delete', dir: streamDir(this.host.dataDir, place.qid) });
    this.host.settle();
  }

  // ---- offset tracking ----

  offsetStored(stream: Queue, name: string, offset: number): void {
    let m = this.dirtyOffsets.get(stream);
    if (m === undefined) this.dirtyOffsets.set(stream, (m = new Map()));
    m.set(name, offset);
  }

  /** Records the offsets moved since the last call (before a checkpoint, or a confirm's wait). */
  flushOffsets(): void {
    if (this.dirtyOffsets.size === 0) return;
    for (const [stream, names] of this.dirtyOffsets) {
      const place = this.host.place(stream);
      if (place === null) continue;
      for (const [name, offset] of names) this.host.recordTopology({ op: 'setting', kind: OFFSET_KIND, key: `${place.qid}/${name}`, value: String(offset) });
    }
    this.dirtyOffsets.clear();
  }

  // ---- restore ----

  /** Keeps the stored offsets of the settings read on restore. */
  keepOffsets(settings: readonly StoredSetting[]): void {
    for (const s of settings) {
      if (s.kind !== OFFSET_KIND) continue;
      const slash = s.key.indexOf('/');
      const qid = Number(s.key.slice(0, slash));
      let m = this.restoredOffsets.get(qid);
      if (m === undefined) this.restoredOffsets.set(qid, (m = new Map()));
      m.set(s.key.slice(slash + 1), Number(s.value));
    }
  }

  /**
   * A restored stream reads its segment files back (record headers only) on its worker while
   * the daemon already serves: publishes and consumers wait in the stream until it answers.
   */
  restore(stream: Stream, place: { qid: number; worker: number }, failed: (err: Error) => void): void {
    stream.startLoading();
    const offsets = this.restoredOffsets.get(place.qid) ?? new Map<string, number>();
    this.restoredOffsets.delete(place.qid);
    this.send(place.worker, { t: 'stream-scan', req: 0, dir: streamDir(this.host.dataDir, place.qid) }, (m) => {
      if (m.t === 'stream-scanned') stream.restored(m.segments as SegmentInfo[], offsets);
      else if (m.t === 'stream-failed') failed(fromErrorData(m.error));
    });
  }

  // ---- worker replies ----

  private send(worker: number, m: Extract<ToWorker, { req: number }>, done: Request['done']): void {
    const req = this.nextReq++;
    m.req = req;
    this.requests.set(req, { worker, done });
    const first = m.t === 'stream-write' ? m.parts[0] : undefined;
    this.host.post(worker, m, first === undefined ? undefined : [first.bytes.buffer as ArrayBuffer]);
  }

  /** True when `m` was a reply to a stream request. */
  onReply(m: FromWorker): boolean {
    if (m.t !== 'stream-written' && m.t !== 'stream-chunk' && m.t !== 'stream-scanned' && m.t !== 'stream-failed') return false;
    const r = this.requests.get(m.req);
    if (r === undefined) return true;
    this.requests.delete(m.req);
    r.done(m);
    return true;
  }

  /** A worker died: whatever it had in flight fails (writes are retried by their stream). */
  workerLost(worker: number, err: StoreError): void {
    for (const [req, r] of this.requests) {
      if (r.worker !== worker) continue;
      this.requests.delete(req);
      r.done({ t: 'stream-failed', req, error: { code: err.code, message: err.message } });
    }
  }
}
