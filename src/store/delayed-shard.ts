import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ScheduledMessage } from '../broker/delayed-schedule.js';
import type { DelayedExchange } from '../broker/exchange/delayed.js';
import { PART_BYTES, PART_ROWS } from './row-columns.js';
import { Delta, Shard, type ShardHost } from './shard.js';
import { SCHED_STRIDE, type DelayedPart } from './wire.js';

/** What the store knows of one durable delayed exchange: its incarnation in `delayed.db`. */
export interface DelayedRef {
  readonly exchange: DelayedExchange;
  /** A delayed exchange deleted and declared again gets a new one, so stale rows never match. */
  readonly sid: number;
  dropped: boolean;
}

/** Bookkeeping bytes per recorded change, beyond a new message's content. */
const CHANGE_BYTES = 64;

/** `delayed.db`'s changes since its last snapshot. */
export class DelayedDelta extends Delta {
  readonly inserts = new Map<ScheduledMessage, DelayedRef>();
  /** sid, due, id. */
  readonly deletes: number[] = [];
  readonly drops: number[] = [];

  insert(seq: number, ref: DelayedRef, m: ScheduledMessage): number {
    this.touch(seq);
    this.inserts.set(m, ref);
    this.count++;
    const bytes = m.content.length + CHANGE_BYTES;
    this.bytes += bytes;
    return bytes;
  }

  remove(seq: number, ref: DelayedRef, m: ScheduledMessage): number {
    this.touch(seq);
    this.deletes.push(ref.sid, m.due, m.id);
    this.count++;
    this.bytes += CHANGE_BYTES;
    return CHANGE_BYTES;
  }

  /** Forgets the buffered inserts of a deleted exchange and deletes its stored rows. */
  drop(seq: number, ref: DelayedRef): number {
    let change = 0;
    for (const [m, r] of this.inserts) {
      if (r !== ref) continue;
      this.inserts.delete(m);
      this.count--;
      change -= m.content.length + CHANGE_BYTES;
    }
    this.touch(seq);
    this.drops.push(ref.sid);
    this.count++;
    change += CHANGE_BYTES;
    this.bytes += change;
    return change;
  }

  /** Serialises the delta into bounded parts; deletes and drops go in the last. */
  *parts(batch: number): Generator<{ part: DelayedPart; transfer: ArrayBuffer[] }> {
    let nums: number[] = [];
    let blobs: Buffer[] = [];
    let strings: string[] = [];
    let index = new Map<string, number>();
    let bytes = 0;
    let first = true;
    const seal = (last: boolean): { part: DelayedPart; transfer: ArrayBuffer[] } => {
      const content = new Uint8Array(bytes);
      let off = 0;
      for (const b of blobs) {
        content.set(b, off);
        off += b.length;
      }
      const rows = Float64Array.from(nums);
      const del = Float64Array.from(last ? this.deletes : []);
      const part: DelayedPart = { t: 'dmsgs', batch, first, last, rows, strings, content, del, drop: last ? this.drops : [] };
      first = false;
      nums = [];
      blobs = [];
      strings = [];
      index = new Map();
      bytes = 0;
      return { part, transfer: [rows.buffer, content.buffer, del.buffer] as ArrayBuffer[] };
    };
    for (const [m, ref] of this.inserts) {
      if (ref.dropped) continue;
      let k = index.get(m.routingKey);
      if (k === undefined) {
        k = strings.length;
        strings.push(m.routingKey);
        index.set(m.routingKey, k);
      }
      // The SCH layout of wire.ts.
      nums.push(ref.sid, m.due, m.id, m.priority, m.expiration, k, m.content.length);
      blobs.push(m.content);
      bytes += m.content.length;
      if (bytes >= PART_BYTES || nums.length >= PART_ROWS * SCHED_STRIDE) yield seal(false);
    }
    yield seal(true);
  }
}

/** `delayed.db`'s pipeline. */
export class DelayedShard extends Shard<DelayedDelta> {
  private readonly post: (worker: number, part: DelayedPart, transfer: ArrayBuffer[]) => void;

  constructor(id: number, worker: number, file: string, host: ShardHost, post: (worker: number, part: DelayedPart, transfer: ArrayBuffer[]) => void) {
    super(id, worker, file, host);
    this.post = post;
  }

  protected newDelta(): DelayedDelta {
    return new DelayedDelta();
  }

  async send(delta: DelayedDelta, batch: number): Promise<void> {
    for (const { part, transfer } of delta.parts(batch)) {
      if (this.inflight?.batch !== batch) return;
      this.post(this.worker, part, transfer);
      if (!part.last) await yieldToLoop();
    }
  }
}
