import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Message } from '../broker/message.js';
import type { Queue } from '../broker/queue.js';
import { RowColumns } from './row-columns.js';
import { Delta, Shard, type ShardHost } from './shard.js';
import type { MessagesPart, PageRange } from './wire.js';

/** What the store knows of one durable queue: where its messages live. */
export interface QueueRef {
  readonly queue: Queue;
  /** Incarnation id: a queue deleted and declared again gets a new one, so stale rows never match. */
  readonly qid: number;
  readonly shard: number;
  dropped: boolean;
}

/** Bookkeeping bytes per recorded change, beyond a new message's content. */
const CHANGE_BYTES = 64;

/**
 * A message shard's changes since its last snapshot. A message published and acked within one
 * interval only ever touches `inserts`, so it is never written.
 */
export class MessageDelta extends Delta {
  /**
   * Message objects are per queue (copies for fan-out), so the object is the row's key. Copies
   * of one message are recorded one after another, so they sit side by side here and in the
   * part, which stores their bytes once.
   */
  readonly inserts = new Map<Message, QueueRef>();
  readonly updates = new Map<Message, QueueRef>();
  /** qid, id, priority, content length. */
  readonly deletes: number[] = [];
  /** Range deletes (purges of paged messages): qid, after, upTo, minPriority, maxPriority. */
  readonly ranges: number[] = [];
  readonly drops: number[] = [];

  insert(seq: number, ref: QueueRef, m: Message): number {
    this.touch(seq);
    this.inserts.set(m, ref);
    this.count++;
    const bytes = m.content.length + CHANGE_BYTES;
    this.bytes += bytes;
    return bytes;
  }

  /** Records a delivery; the insert, if still buffered, will carry the new state by itself. */
  update(seq: number, ref: QueueRef, m: Message): number {
    if (this.inserts.has(m) || this.updates.has(m)) return 0;
    this.touch(seq);
    this.updates.set(m, ref);
    this.count++;
    this.bytes += CHANGE_BYTES;
    return CHANGE_BYTES;
  }

  /** Records a removal; returns the change in pending bytes. */
  remove(seq: number, ref: QueueRef, m: Message): number {
    if (this.inserts.delete(m)) {
      this.count--;
      const bytes = m.content.length + CHANGE_BYTES;
      this.bytes -= bytes;
      return -bytes;
    }
    let change = 0;
    if (this.updates.delete(m)) {
      this.count--;
      change -= CHANGE_BYTES;
    }
    this.touch(seq);
    this.deletes.push(ref.qid, m.id, m.priority, m.content.length);
    this.count++;
    change += CHANGE_BYTES;
    this.bytes += change;
    return change;
  }

  /** Forgets the buffered changes of a deleted queue; returns the change in pending bytes. */
  discard(ref: QueueRef): number {
    let change = 0;
    for (const [m, r] of this.inserts) {
      if (r !== ref) continue;
      this.inserts.delete(m);
      this.count--;
      change -= m.content.length + CHANGE_BYTES;
    }
    for (const [m, r] of this.updates) {
      if (r !== ref) continue;
      this.updates.delete(m);
      this.count--;
      change -= CHANGE_BYTES;
    }
    this.bytes += change;
    return change;
  }

  /** Deletes the stored messages of a queue in `range` (a purge of messages only on disk). */
  dropRange(seq: number, ref: QueueRef, range: PageRange): number {
    this.touch(seq);
    this.ranges.push(ref.qid, range.after, range.upTo, range.minPriority, range.maxPriority);
    this.count++;
    this.bytes += CHANGE_BYTES;
    return CHANGE_BYTES;
  }

  /**
   * Deletes a deleted queue's stored rows. Recorded only once the topology file has committed
   * the queue's deletion: until then a crash brings the queue back with its rows, never
   * without them.
   */
  drop(seq: number, ref: QueueRef): number {
    this.touch(seq);
    this.drops.push(ref.qid);
    this.count++;
    this.bytes += CHANGE_BYTES;
    return CHANGE_BYTES;
  }

  /**
   * Serialises the delta into bounded parts. Message state (redelivered, delivery count) is read
   * now, so a retry writes the latest state; the bytes never change.
   */
  *parts(shard: number, batch: number): Generator<{ part: MessagesPart; transfer: ArrayBuffer[] }> {
    let left = this.inserts.size;
    let cols = new RowColumns(left);
    let first = true;
    for (const [m, ref] of this.inserts) {
      left--;
      if (ref.dropped) continue;
      cols.add(ref.qid, m.id, m.priority, m.expiration, m.redelivered ? 1 : 0, m.deliveryCount, m.exchange, m.routingKey, m.content, m.expiresAt);
      if (cols.full) {
        yield seal(cols, shard, batch, first, false, EMPTY, EMPTY, EMPTY, []);
        first = false;
        cols = new RowColumns(left);
      }
    }
    const upd: number[] = [];
    for (const [m, ref] of this.updates) {
      if (!ref.dropped) upd.push(ref.qid, m.id, m.redelivered ? 1 : 0, m.deliveryCount);
    }
    yield seal(cols, shard, batch, first, true, upd, this.deletes, this.ranges, this.drops);
  }
}

const EMPTY: readonly number[] = [];

function seal(
  cols: RowColumns,
  shard: number,
  batch: number,
  first: boolean,
  last: boolean,
  upd: readonly number[],
  del: readonly number[],
  range: readonly number[],
  drop: number[],
): { part: MessagesPart; transfer: ArrayBuffer[] } {
  const { rows, strings, content } = cols.build();
  const u = Float64Array.from(upd);
  const d = Float64Array.from(del);
  const ranges = Float64Array.from(range);
  const part: MessagesPart = { t: 'msgs', shard, batch, first, last, rows, strings, content, upd: u, del: d, ranges, drop };
  return { part, transfer: [rows.buffer, content.buffer, u.buffer, d.buffer, ranges.buffer] as ArrayBuffer[] };
}

/** A queue file's pipeline: durable queues hashed to this shard record their messages here. */
export class MessageShard extends Shard<MessageDelta> {
  private readonly post: (worker: number, part: MessagesPart, transfer: ArrayBuffer[]) => void;

  constructor(
    id: number,
    worker: number,
    file: string,
    host: ShardHost,
    post: (worker: number, part: MessagesPart, transfer: ArrayBuffer[]) => void,
  ) {
    super(id, worker, file, host);
    this.post = post;
  }

  protected newDelta(): MessageDelta {
    return new MessageDelta();
  }

  async send(delta: MessageDelta, batch: number): Promise<void> {
    for (const { part, transfer } of delta.parts(this.id, batch)) {
      // Superseded by a retry (the worker was lost while parts were going out).
      if (this.inflight?.batch !== batch) return;
      this.post(this.worker, part, transfer);
      // A large backlog is cut into parts; let the event loop serve clients between them.
      if (!part.last) await yieldToLoop();
    }
  }
}
