import { INS, Shared } from './wire.js';

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
  private readonly nums: number[] = [];
  private readonly blobs: Uint8Array[] = [];
  private readonly strings: string[] = [];
  private readonly stringIndex = new Map<string, number>();
  /** Id of the last row added, and where its `shared` column is (copies of one message are adjacent). */
  private lastId = -1;
  private lastShared = -1;

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
    if (id === this.lastId) {
      // Another queue's copy of the message just added: its bytes are already in this part.
      this.nums[this.lastShared] = this.nums[this.lastShared] === Shared.No ? Shared.First : this.nums[this.lastShared] as number;
      shared = Shared.Follower;
    }
    this.lastId = id;
    this.lastShared = this.nums.length + INS.shared;
    this.nums.push(
      qid,
      id,
      priority,
      expiration,
      redelivered,
      deliveryCount,
      this.intern(exchange),
      this.intern(routingKey),
      content.length,
      expiresAt,
      shared,
    );
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
    return { rows: Float64Array.from(this.nums), strings: this.strings, content };
  }
}
