import { Deque } from '../util/deque.js';
import { MESSAGE_OVERHEAD_BYTES, type Message } from './message.js';
import type { ReadyList } from './priority-list.js';

/** Which stored messages of a queue a page-in reads: after < id <= upTo, priority in range. */
export interface PageRange {
  readonly after: number;
  readonly upTo: number;
  readonly minPriority: number;
  readonly maxPriority: number;
}

/**
 * How much memory the ready messages of pageable (durable) queues may take (config
 * `queue_memory_budget`, `total_queue_memory_budget`). Past it, persistent messages live only in
 * the store and are paged back in ahead of consumers.
 */
export class MemoryBudget {
  /** Bytes (content + per-message overhead) of ready messages held in memory by all lanes. */
  used = 0;

  constructor(
    readonly perQueue: number,
    readonly total: number,
  ) {}
}

/** What a pageable queue needs from the store (implemented by the store; the broker knows no SQLite). */
export interface Pager {
  readonly budget: MemoryBudget;
  /**
   * Reads about `maxBytes` (at least one message) of the queue's stored messages in `range`, in
   * id order, off the event loop, and calls `done` on the loop with them.
   */
  pageIn(owner: LaneOwner, range: PageRange, maxBytes: number, done: (err: Error | null, messages: Message[]) => void): void;
  /** Whether `m`'s insert is not committed yet (it cannot leave memory before it is). */
  unwritten(owner: LaneOwner, m: Message): boolean;
  /** Deletes the stored messages in `range` (a purge of what is only on disk). */
  dropPaged(owner: LaneOwner, range: PageRange): void;
  /** `lane` holds messages that could go to disk once they are committed; call `lane.evict()` after commits. */
  wantEviction(lane: Lane): void;
}

/** What a lane tells its queue. */
export interface LaneOwner {
  readonly name: string;
  readonly deleted: boolean;
  /** A message entered the head (deliverable now): index its expiry. */
  atHead(m: Message): void;
  /** Memory held by ready messages changed by `bytes` (content + overhead), for the memory alarm. */
  memoryChanged(bytes: number): void;
  /** A page-in landed: deliver. */
  pagedIn(): void;
  /** Paged messages the store no longer has (counts drifted) or cannot read. */
  pageFailed(err: Error | null, lostMessages: number, lostBytes: number): void;
}

/** Memory a message takes while ready, for the budget. */
function size(m: Message): number {
  return m.content.length + MESSAGE_OVERHEAD_BYTES;
}

/** Page-ins read at least this much, so a tiny budget still reads in useful batches… */
const MIN_PAGE_BYTES = 64 * 1024;
/** …and at most this much, so one read never holds the worker long. */
const MAX_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * The ready messages of one durable queue (or one priority level of it), in delivery order:
 *
 *   head (in memory) · paged (only on disk, with pinned transient messages among them) · recent
 *
 * `head` is what consumers take from. A persistent message that arrives while the lane is over
 * its budget, or behind paged ones, waits in `recent` until its checkpoint commits, then leaves
 * memory: it becomes part of `paged`, which is a range of ids in the store, counted, not held.
 * Read-ahead pages the oldest back into `head` while head is under half its budget, so a
 * consumer that keeps up never waits on the disk. Transient messages cannot leave memory: one
 * that reaches the front of `recent` while messages are paged is pinned, and rejoins the head in
 * id order when the page-in passes it.
 */
export class Lane {
  private readonly head = new Deque<Message>();
  private headBytes = 0;
  private readonly recent = new Deque<Message>();
  private recentBytes = 0;
  private readonly pinned = new Deque<Message>();
  private pinnedBytes = 0;
  /** Messages in the store only: the rows after < id <= upTo in this lane's priorities. */
  paged = 0;
  /** Their content bytes. */
  pagedBytes = 0;
  private after = 0;
  private upTo = 0;
  private reading = false;
  /** Bumped by a purge, so the reply of a page-in started before it is dropped. */
  private generation = 0;
  private evicting = false;
  error: Error | null = null;

  constructor(
    private readonly owner: LaneOwner,
    private readonly pager: Pager,
    readonly minPriority: number,
    readonly maxPriority: number,
  ) {}

  /** Deliverable now. */
  get length(): number {
    return this.head.length + (this.paged === 0 ? this.recent.length : 0);
  }

  /** Ready in all: in memory and on disk. */
  get total(): number {
    return this.head.length + this.recent.length + this.pinned.length + this.paged;
  }

  /** Ready but not deliverable now (paged, pinned, or behind paged ones). */
  get held(): number {
    return this.total - this.length;
  }

  /** Whether a page-in is under way (status). */
  get loading(): boolean {
    return this.reading;
  }

  /** Adds a new message; true if it went to the head (deliverable now, in memory). */
  push(m: Message): boolean {
    const s = size(m);
    const budget = this.pager.budget;
    if (this.paged === 0 && this.recent.length === 0 && (!m.persistent || (this.headBytes + s <= budget.perQueue && budget.used + s <= budget.total))) {
      this.head.push(m);
      this.headBytes += s;
      budget.used += s;
      return true;
    }
    this.recent.push(m);
    this.recentBytes += s;
    budget.used += s;
    if (!this.evicting) {
      this.evicting = true;
      this.pager.wantEviction(this);
    }
    return false;
  }

  unshift(m: Message): void {
    const s = size(m);
    this.head.unshift(m);
    this.headBytes += s;
    this.pager.budget.used += s;
  }

  shift(): Message | undefined {
    if (this.head.length === 0) this.refill();
    const m = this.head.shift();
    if (m !== undefined) {
      const s = size(m);
      this.headBytes -= s;
      this.pager.budget.used -= s;
      if (this.paged !== 0) this.readAhead();
    }
    return m;
  }

  peek(): Message | undefined {
    if (this.head.length === 0) this.refill();
    return this.head.peek();
  }

  /** Every message in memory (head, pinned, recent); what is only on disk is deleted from the store. */
  drain(): Message[] {
    if (this.paged !== 0 && !this.owner.deleted) this.pager.dropPaged(this.owner, this.range());
    this.generation++;
    this.reading = false;
    this.paged = 0;
    this.pagedBytes = 0;
    const out = this.head.drain();
    for (const m of this.pinned.drain()) out.push(m);
    for (const m of this.recent.drain()) out.push(m);
    this.pager.budget.used -= this.headBytes + this.pinnedBytes + this.recentBytes;
    this.headBytes = this.pinnedBytes = this.recentBytes = 0;
    return out;
  }

  *[Symbol.iterator](): IterableIterator<Message> {
    yield* this.head;
    yield* this.pinned;
    yield* this.recent;
  }

  /** The messages at the head: in memory and deliverable in order (the others reach it later). */
  headMessages(): Iterable<Message> {
    return this.head;
  }

  /** Drops the head's messages that `keep` refuses (expired ones marked dead); returns how many. */
  compactHead(keep: (m: Message) => boolean): number {
    let dropped = 0;
    for (const m of this.head.drain()) {
      if (keep(m)) this.head.push(m);
      else {
        const s = size(m);
        this.headBytes -= s;
        this.pager.budget.used -= s;
        dropped++;
      }
    }
    return dropped;
  }

  /** After a restart: the lane's stored messages, none of them in memory yet. */
  restore(messages: number, bytes: number, upTo: number): void {
    this.paged += messages;
    this.pagedBytes += bytes;
    this.after = 0;
    if (upTo > this.upTo) this.upTo = upTo;
    this.readAhead();
  }

  /**
   * Moves committed messages from the front of `recent` to disk while the lane is over its
   * budget; returns whether it still holds messages that may go later.
   */
  evict(): boolean {
    const budget = this.pager.budget;
    while (this.recent.length !== 0 && (this.headBytes + this.recentBytes + this.pinnedBytes > budget.perQueue || budget.used > budget.total)) {
      const m = this.recent.peek() as Message;
      const s = size(m);
      if (!m.persistent) {
        this.recent.shift();
        this.recentBytes -= s;
        // Behind paged messages it waits among them; otherwise it is simply next after the head.
        if (this.paged === 0) {
          this.head.push(m);
          this.headBytes += s;
          this.owner.atHead(m);
        } else {
          this.pinned.push(m);
          this.pinnedBytes += s;
        }
        continue;
      }
      if (this.pager.unwritten(this.owner, m)) break;
      this.recent.shift();
      this.recentBytes -= s;
      budget.used -= s;
      if (this.paged === 0 && this.pinned.length === 0) this.after = m.id - 1;
      this.upTo = m.id;
      this.paged++;
      this.pagedBytes += m.size;
      this.owner.memoryChanged(-s);
    }
    if (this.paged === 0) this.refill();
    else this.readAhead();
    this.evicting = this.recent.length !== 0;
    return this.evicting;
  }

  private range(): { after: number; upTo: number; minPriority: number; maxPriority: number } {
    return { after: this.after, upTo: this.upTo, minPriority: this.minPriority, maxPriority: this.maxPriority };
  }

  /** Starts a page-in when the head is low and there is budget (or nothing at all to deliver). */
  readAhead(): void {
    if (this.paged === 0 || this.reading || this.error !== null || this.owner.deleted) return;
    const budget = this.pager.budget;
    const half = budget.perQueue / 2;
    if (this.headBytes >= half || (budget.used >= budget.total && this.head.length !== 0)) return;
    this.reading = true;
    const generation = this.generation;
    // With nothing to deliver (a restart, or a consumer that outran the read-ahead) a small page
    // first, so the next delivery waits on a few rows, not on megabytes; the full one follows.
    const want = this.head.length === 0 ? MIN_PAGE_BYTES : Math.min(MAX_PAGE_BYTES, Math.max(MIN_PAGE_BYTES, budget.perQueue - this.headBytes));
    this.pager.pageIn(this.owner, this.range(), want, (err, messages) => this.landed(generation, err, messages));
  }

  private landed(generation: number, err: Error | null, messages: Message[]): void {
    if (generation !== this.generation || this.owner.deleted) return;
    this.reading = false;
    if (err !== null) {
      this.error = err;
      this.owner.pageFailed(err, 0, 0);
      return;
    }
    const budget = this.pager.budget;
    let added = 0;
    for (const m of messages) {
      for (let p = this.pinned.peek(); p !== undefined && p.id < m.id; p = this.pinned.peek()) this.unpin();
      const s = size(m);
      this.head.push(m);
      this.headBytes += s;
      budget.used += s;
      added += s;
      this.after = m.id;
      this.paged--;
      this.pagedBytes -= m.size;
      this.owner.atHead(m);
    }
    if (added !== 0) this.owner.memoryChanged(added);
    if (messages.length === 0 || this.paged <= 0 || this.after >= this.upTo) {
      // Read to the end of the range: whatever the counts still say is not in the store.
      if (this.paged > 0) this.owner.pageFailed(null, this.paged, this.pagedBytes);
      this.paged = 0;
      this.pagedBytes = 0;
      while (this.pinned.length !== 0) this.unpin();
      this.refill();
    }
    this.owner.pagedIn();
    this.readAhead();
  }

  private unpin(): void {
    const p = this.pinned.shift() as Message;
    const s = size(p);
    this.pinnedBytes -= s;
    this.head.push(p);
    this.headBytes += s;
    this.owner.atHead(p);
  }

  /** With nothing paged, `recent` is simply the rest of the queue: it joins the head while it fits. */
  private refill(): void {
    if (this.paged !== 0 || this.recent.length === 0) return;
    if (this.head.length !== 0 && this.headBytes + this.recentBytes > this.pager.budget.perQueue) return;
    for (let m = this.recent.shift(); m !== undefined; m = this.recent.shift()) {
      this.head.push(m);
      this.owner.atHead(m);
    }
    this.headBytes += this.recentBytes;
    this.recentBytes = 0;
  }
}

/**
 * The ready messages of a durable queue when the store pages: one {@link Lane}, or one per
 * priority level for an `x-max-priority` queue (the highest level with a deliverable message
 * goes first, as {@link PriorityList}).
 */
export class PagedList implements ReadyList {
  private readonly lanes: (Lane | undefined)[];
  /** Lanes created so far, highest priority first. */
  private readonly order: Lane[] = [];
  private readonly max: number;
  /** A plain queue's one lane: shift and peek go straight to it (once per delivery). */
  private readonly only: Lane | null;

  constructor(
    private readonly owner: LaneOwner,
    private readonly pager: Pager,
    maxPriority: number | null,
  ) {
    this.max = maxPriority ?? 0;
    this.lanes = new Array<Lane | undefined>(this.max + 1);
    this.only = maxPriority === null ? this.lane(0) : null;
  }

  /** The lane of priority `p` (a message above the maximum counts as the maximum, as RabbitMQ). */
  lane(p: number): Lane {
    const level = p > this.max ? this.max : p;
    let l = this.lanes[level];
    if (l === undefined) {
      // A plain queue has one lane for every priority.
      const min = this.max === 0 ? 0 : level;
      l = this.lanes[level] = new Lane(this.owner, this.pager, min, level === this.max ? 255 : level);
      this.order.push(l);
      this.order.sort((a, b) => b.minPriority - a.minPriority);
    }
    return l;
  }

  /**
   * Deliverable now: from the highest priority with any ready message. While that one's next
   * messages are being paged in, nothing is (strict priority, and strict order within one).
   */
  get length(): number {
    if (this.only !== null) return this.only.length;
    const l = this.first();
    return l === undefined ? 0 : l.length;
  }

  /** Ready messages not deliverable now: on disk, or behind ones that are. */
  get held(): number {
    let n = 0;
    for (const l of this.order) n += l.total;
    return n - this.length;
  }

  get pagedMessages(): number {
    let n = 0;
    for (const l of this.order) n += l.paged;
    return n;
  }

  get pagedBytes(): number {
    let n = 0;
    for (const l of this.order) n += l.pagedBytes;
    return n;
  }

  get loading(): boolean {
    return this.order.some((l) => l.loading);
  }

  get error(): Error | null {
    for (const l of this.order) if (l.error !== null) return l.error;
    return null;
  }

  /** Adds a new message; true if it is deliverable now (in memory at the head). */
  pushNew(m: Message): boolean {
    return this.lane(m.priority).push(m);
  }

  push(m: Message): void {
    this.lane(m.priority).push(m);
  }

  unshift(m: Message): void {
    this.lane(m.priority).unshift(m);
  }

  /** The highest-priority lane with ready messages (in memory or not). */
  private first(): Lane | undefined {
    for (const l of this.order) if (l.total !== 0) return l;
    return undefined;
  }

  shift(): Message | undefined {
    return this.only !== null ? this.only.shift() : this.first()?.shift();
  }

  peek(): Message | undefined {
    return this.only !== null ? this.only.peek() : this.first()?.peek();
  }

  drain(): Message[] {
    const out: Message[] = [];
    for (const l of this.order) for (const m of l.drain()) out.push(m);
    return out;
  }

  *[Symbol.iterator](): IterableIterator<Message> {
    for (const l of this.order) yield* l;
  }

  /** Every lane's head messages (see {@link Lane.headMessages}). */
  *headMessages(): IterableIterator<Message> {
    for (const l of this.order) yield* l.headMessages();
  }

  compactHeads(keep: (m: Message) => boolean): number {
    let n = 0;
    for (const l of this.order) n += l.compactHead(keep);
    return n;
  }

  /** After a restart: stored messages of priority `p`, none in memory yet. */
  restore(priority: number, messages: number, bytes: number, upTo: number): void {
    this.lane(priority).restore(messages, bytes, upTo);
  }
}
