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
    );
    this.blobs.push(content);
    this.bytes += content.length;
    this.rows++;
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
