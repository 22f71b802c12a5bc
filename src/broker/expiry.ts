import { Deque } from '../util/deque.js';
import { ReadyState, type Message } from './message.js';

/**
 * The ready messages of one queue that can expire, by expiry time, so a message whose TTL runs
 * out while it sits behind others is found and removed on time (SPEC §3.4.2). RabbitMQ only
 * expires at the head; that lets a queue of long-TTL messages hold short-TTL ones past their
 * time without bound, and it would make per-message delays useless for delayed retry.
 *
 * Messages enqueued with a queue TTL arrive in expiry order, so they go to a FIFO at O(1);
 * only those that arrive out of order (a shorter per-message TTL, a requeue, a priority queue)
 * go to a binary min-heap. Entries are not removed when a message is delivered: a popped entry
 * whose message is no longer ready is skipped, and `compact` drops such entries once they
 * outnumber live ones, so the index stays within a constant factor of the queue.
 */
export class ExpiryIndex {
  private readonly fifo = new Deque<Message>();
  private fifoTail = -Infinity;
  private heap: Message[] = [];

  get size(): number {
    return this.fifo.length + this.heap.length;
  }

  /** Indexes a ready message that has `expiresAt` set; a message is indexed at most once. */
  add(m: Message): void {
    if (m.indexed) return;
    m.indexed = true;
    if (m.expiresAt >= this.fifoTail) {
      this.fifo.push(m);
      this.fifoTail = m.expiresAt;
    } else {
      this.heapPush(m);
    }
  }

  /** Earliest expiry in the index (possibly of a message no longer ready); Infinity if empty. */
  nextAt(): number {
    const f = this.fifo.peek();
    const h = this.heap[0];
    const a = f === undefined ? Infinity : f.expiresAt;
    const b = h === undefined ? Infinity : h.expiresAt;
    return a < b ? a : b;
  }

  /**
   * Removes every entry that has expired by `now` (expiry strictly before it) and calls `expire`
   * for those whose message is still ready.
   */
  popExpired(now: number, expire: (m: Message) => void): void {
    for (;;) {
      const f = this.fifo.peek();
      const h = this.heap[0];
      let m: Message;
      if (f !== undefined && f.expiresAt < now && (h === undefined || f.expiresAt <= h.expiresAt)) {
        m = this.fifo.shift() as Message;
        if (this.fifo.length === 0) this.fifoTail = -Infinity;
      } else if (h !== undefined && h.expiresAt < now) {
        m = this.heapPop();
      } else {
        return;
      }
      m.indexed = false;
      if (m.readyState === ReadyState.Ready) expire(m);
    }
  }

  /** Drops entries of messages that left the ready list, when they dominate the index. */
  compactIfSparse(live: number): void {
    if (this.size <= 2 * live + 256) return;
    const fifo = this.fifo.drain();
    this.fifoTail = -Infinity;
    for (const m of fifo) {
      if (m.readyState === ReadyState.Ready) {
        this.fifo.push(m);
        this.fifoTail = m.expiresAt;
      } else {
        m.indexed = false;
      }
    }
    const heap = this.heap;
    this.heap = [];
    for (const m of heap) {
      if (m.readyState === ReadyState.Ready) this.heap.push(m);
      else m.indexed = false;
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  clear(): void {
    for (const m of this.fifo.drain()) m.indexed = false;
    for (const m of this.heap) m.indexed = false;
    this.heap = [];
    this.fifoTail = -Infinity;
  }

  private heapPush(m: Message): void {
    const h = this.heap;
    let i = h.push(m) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as Message;
      if (p.expiresAt <= m.expiresAt) break;
      h[i] = p;
      i = parent;
    }
    h[i] = m;
  }

  private heapPop(): Message {
    const h = this.heap;
    const top = h[0] as Message;
    const last = h.pop() as Message;
    if (h.length !== 0) {
      h[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const n = h.length;
    const m = h[i] as Message;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (h[r] as Message).expiresAt < (h[l] as Message).expiresAt ? r : l;
      const child = h[c] as Message;
      if (child.expiresAt >= m.expiresAt) break;
      h[i] = child;
      i = c;
    }
    h[i] = m;
  }
}
