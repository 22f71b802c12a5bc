/**
 * Changes recorded since a shard's last snapshot. Every change carries the store-wide sequence
 * number it was recorded under; a delta remembers its first one, so "everything up to seq S is
 * committed" can be decided without scanning (the watermark of STYLE anti-pattern 3).
 */
export abstract class Delta {
  /** Effective changes (a publish cancelled by its ack counts for nothing). */
  count = 0;
  /** Bytes this delta holds for the pending-bytes bound. */
  bytes = 0;
  /** Sequence number and wall time of the first change, valid while `count > 0`. */
  firstSeq = 0;
  firstAt = 0;

  /** Call before recording a change under `seq`. */
  protected touch(seq: number): void {
    if (this.count === 0) {
      this.firstSeq = seq;
      this.firstAt = Date.now();
    }
  }
}

/** What a shard reports to the store as its deltas grow and shrink. */
export interface ShardHost {
  pendingChanged(bytes: number): void;
}

interface InFlight<D extends Delta> {
  readonly delta: D;
  /** Attempt number: replies to an earlier attempt of the same snapshot are ignored. */
  batch: number;
}

let batchSeq = 0;

/**
 * One file's write pipeline: a buffer of changes, and at most one snapshot in flight to its
 * worker. A snapshot is a swap, not a copy, so a change recorded while a checkpoint is being
 * taken lands in the next buffer — never dropped, never written twice. A failed snapshot stays
 * in flight and is resent as a whole (the writes are idempotent) before anything newer.
 */
export abstract class Shard<D extends Delta> {
  /** Shard number, or TOPOLOGY_SHARD. */
  readonly id: number;
  /** Index of the worker owning the file. */
  readonly worker: number;
  readonly file: string;
  delta: D;
  inflight: InFlight<D> | null = null;
  /** Consecutive failed attempts of the snapshot in flight. */
  failures = 0;
  retryTimer: NodeJS.Timeout | null = null;
  protected readonly host: ShardHost;

  constructor(id: number, worker: number, file: string, host: ShardHost) {
    this.id = id;
    this.worker = worker;
    this.file = file;
    this.host = host;
    this.delta = this.newDelta();
  }

  protected abstract newDelta(): D;

  /** Sends one attempt of a snapshot to the worker; may yield between parts. */
  abstract send(delta: D, batch: number): Promise<void>;

  get idle(): boolean {
    return this.inflight === null;
  }

  /** The first sequence number not yet committed, or Infinity when everything is. */
  get unwrittenFrom(): number {
    if (this.inflight !== null) return this.inflight.delta.firstSeq;
    return this.delta.count === 0 ? Infinity : this.delta.firstSeq;
  }

  /** When the oldest unwritten change was recorded, or 0. */
  get unwrittenSince(): number {
    if (this.inflight !== null) return this.inflight.delta.firstAt;
    return this.delta.count === 0 ? 0 : this.delta.firstAt;
  }

  /** Starts a checkpoint of everything buffered; returns false if there is nothing to do. */
  start(): boolean {
    if (this.inflight !== null) return false;
    const delta = this.delta;
    if (delta.count === 0) {
      // Only cancelled changes: nothing to write, and nothing left pending.
      if (delta.bytes !== 0) this.host.pendingChanged(-delta.bytes);
      delta.bytes = 0;
      return false;
    }
    this.delta = this.newDelta();
    this.inflight = { delta, batch: ++batchSeq };
    return true;
  }

  /** Starts another attempt of the snapshot in flight; returns its batch number. */
  retry(): number {
    const f = this.inflight as InFlight<D>;
    f.batch = ++batchSeq;
    return f.batch;
  }

  /** The worker committed `batch`; returns the delta it held, or null for a stale reply. */
  committed(batch: number): D | null {
    const f = this.inflight;
    if (f === null || f.batch !== batch) return null;
    this.inflight = null;
    this.failures = 0;
    this.host.pendingChanged(-f.delta.bytes);
    return f.delta;
  }

  /** The worker could not commit `batch`; returns false for a stale reply. */
  failed(batch: number): boolean {
    const f = this.inflight;
    if (f === null || f.batch !== batch) return false;
    this.failures++;
    return true;
  }
}
