import { INS, INS_STRIDE, Shared } from './wire.js';

/** A part or chunk is cut once it holds about this many content bytes… */
export const PART_BYTES = 4 * 1024 * 1024;
/** …or this many rows. */
export const PART_ROWS = 8192;

/** Message rows in the columnar form of `wire.ts` (INS layout). */
export interface Columns {
  /** INS_STRIDE numbers per row. */
  rows: Float64Array;
  strings: string[];
  content: Uint8Array;
}

/**
 * Builds message rows in columnar form, on either side of the worker boundary: the store
 * serialises checkpoint inserts with it, a worker the rows it restores. Exchange names and
 * routing keys repeat across rows, so each is sent once per part.
 */
export class RowColumns {
  rows = 0;
  bytes = 0;
  /**
   * The rows' numbers, written in place (a number[] converted at the end cost a copy per part
   * and its growth, per message on the checkpoint path). Sized for `expectedRows`, doubled past.
   */
  private nums: Float64Array;
  private readonly blobs: Uint8Array[] = [];
  private readonly strings: string[] = [];
  private readonly stringIndex = new Map<string, number>();
  /** Id of the last row added, and where its `shared` column is (copies of one message are adjacent). */
  private lastId = -1;
  private lastShared = -1;

  /** `expectedRows`: how many rows the part will likely hold (capped at {@link PART_ROWS}). */
  constructor(expectedRows = 256) {
    this.nums = new Float64Array(Math.max(1, Math.min(expectedRows, PART_ROWS)) * INS_STRIDE);
  }

  /** True once the part should be cut (bounded transfers for any backlog size). */
  get full(): boolean {
    return this.bytes >= PART_BYTES || this.rows >= PART_ROWS;
  }

  add(
    qid: number,
    id: number,
    priority: number,
    expiration: number,
    redelivered: number,
    deliveryCount: number,
    exchange: string,
    routingKey: string,
    content: Uint8Array,
    expiresAt: number,
  ): void {
    let shared: number = Shared.No;
    const at = this.rows * INS_STRIDE;
    if (id === this.lastId) {
      // Another queue's copy of the message just added: its bytes are already in this part.
      if (this.nums[this.lastShared] === Shared.No) this.nums[this.lastShared] = Shared.First;
      shared = Shared.Follower;
    }
    if (at + INS_STRIDE > this.nums.length) this.grow();
    const n = this.nums;
    this.lastId = id;
    this.lastShared = at + INS.shared;
    n[at + INS.qid] = qid;
    n[at + INS.id] = id;
    n[at + INS.priority] = priority;
    n[at + INS.expiration] = expiration;
    n[at + INS.redelivered] = redelivered;
    n[at + INS.deliveryCount] = deliveryCount;
    n[at + INS.exchange] = this.intern(exchange);
    n[at + INS.routingKey] = this.intern(routingKey);
    n[at + INS.contentLength] = content.length;
    n[at + INS.expiresAt] = expiresAt;
    n[at + INS.shared] = shared;
    this.rows++;
    if (shared === Shared.Follower) return;
    this.blobs.push(content);
    this.bytes += content.length;
  }

  private intern(s: string): number {
    let i = this.stringIndex.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.stringIndex.set(s, i);
    }
    return i;
  }

  build(): Columns {
    // A fresh ArrayBuffer (never Buffer's shared pool) so it can be transferred.
    const content = new Uint8Array(this.bytes);
    let off = 0;
    for (const b of this.blobs) {
      content.set(b, off);
      off += b.length;
    }
    // A view of the used rows: transferring its buffer keeps the view's length on the other side.
    return { rows: this.nums.subarray(0, this.rows * INS_STRIDE), strings: this.strings, content };
  }

  private grow(): void {
    const bigger = new Float64Array(this.nums.length * 2);
    bigger.set(this.nums);
    this.nums = bigger;
  }
}
