import { MinHeap } from '../util/min-heap.js';
import type { Clock, TimerHandle } from './clock.js';
import type { DelayedExchange } from './exchange/delayed.js';
import { MESSAGE_OVERHEAD_BYTES } from './message.js';

/** Where a due `mandatory` message that found no queue goes back to: its publisher's channel. */
export interface ReturnTarget {
  /** Sends basic.return; false when the channel has closed since the publish. */
  returnScheduled(exchange: string, routingKey: string, content: Buffer): boolean;
}

/** One message waiting in a delayed exchange for its due time. */
export class ScheduledMessage {
  constructor(
    /** Broker-wide publish sequence number: publish order among messages due at the same ms. */
    readonly id: number,
    /** When it is routed, ms since the epoch. */
    readonly due: number,
    readonly routingKey: string,
    readonly content: Buffer,
    readonly persistent: boolean,
    readonly priority: number,
    readonly expiration: number,
    /** Kept in the store: persistent, on a durable exchange of a broker with a store. */
    readonly stored: boolean,
    /** The publisher's channel if it asked for `mandatory` (never after a restart). */
    readonly returnTo: ReturnTarget | null,
  ) {}

  /** Memory it takes while held, as the broker's memory alarm counts it. */
  get memory(): number {
    return this.content.length + MESSAGE_OVERHEAD_BYTES;
  }
}

/** Due-time order, then publish order. */
function before(a: ScheduledMessage, b: ScheduledMessage): boolean {
  return a.due < b.due || (a.due === b.due && a.id < b.id);
}

/**
 * What a schedule needs from the store (implemented by the store; the broker knows no SQLite).
 * Stored messages are kept in the store indexed by (due, id); the schedule holds a window of the
 * next due ones in memory and reads the rest back in order.
 */
export interface DelayStore {
  /** Bytes of stored messages a delayed exchange keeps in memory before the rest stay on disk. */
  readonly delayedWindowBytes: number;
  /** Records a new stored message (its publisher's confirm waits for the commit). */
  scheduled(x: DelayedExchange, m: ScheduledMessage): void;
  /**
   * These stored messages were routed: delete them once everything recorded so far (their
   * copies in durable queues) has committed, so a crash in between routes them again rather
   * than never.
   */
  fired(x: DelayedExchange, messages: ScheduledMessage[]): void;
  /** Whether `m`'s insert is not committed yet (it cannot leave memory before it is). */
  unwrittenScheduled(x: DelayedExchange, m: ScheduledMessage): boolean;
  /**
   * Reads about `maxBytes` (at least one message) of the exchange's stored messages after
   * (`due`, `id`), in due order, off the event loop.
   */
  pageInScheduled(x: DelayedExchange, due: number, id: number, maxBytes: number, done: (err: Error | null, messages: ScheduledMessage[]) => void): void;
  /** `s` holds committed-soon messages that may leave memory: call `s.release()` after commits. */
  wantRelease(s: DelayedSchedule): void;
}

/** What a schedule tells the broker. */
export interface ScheduleHost {
  readonly clock: Clock;
  /** A message is due: route it through the exchange's underlying type now. */
  fireScheduled(x: DelayedExchange, m: ScheduledMessage): void;
  /** Memory held by scheduled messages changed (for the memory alarm). */
  scheduledMemoryChanged(bytes: number): void;
}

/** Messages routed per timer turn at most, so a burst due at once never holds the loop long. */
const FIRE_BATCH = 2000;
/** Page-ins read at least this much, and at most that much. */
const MIN_PAGE_BYTES = 64 * 1024;
const MAX_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * The scheduled messages of one delayed exchange, in (due, publish) order, with one timer on the
 * broker's clock for the next due one (no polling):
 *
 *   heap (in memory: every message up to the horizon, and transient ones) · on disk · pending
 *
 * Without a store, or while everything fits, all are in the heap and the horizon is open. Once
 * stored messages pass the exchange's window, the latest ones leave memory: the horizon is the
 * (due, id) up to which every stored message is in memory, what lies beyond is counted, not
 * held, and is paged back in order by the sync workers as the window drains. A stored message
 * that arrives beyond the horizon waits in `pending` only until its insert commits. Transient
 * messages cannot leave memory (nothing else has them): they stay in the heap wherever they
 * fall, and one beyond the horizon fires only once what is on disk before it has been read.
 */
export class DelayedSchedule {
  private readonly heap = new MinHeap<ScheduledMessage>(before);
  /** Bytes of stored messages in the heap (the part the window bounds). */
  private storedBytes = 0;
  private readonly pending = new Map<number, ScheduledMessage>();
  /** Stored messages only on disk: beyond the horizon, not pending. */
  private onDisk = 0;
  private bounded = false;
  private horizonDue = 0;
  private horizonId = 0;
  private reading = false;
  private releasing = false;
  private deleted = false;
  private timer: TimerHandle | null = null;
  private timerAt = Infinity;
  /** Set when the store could not read messages back; they stay counted and unread. */
  error: Error | null = null;

  constructor(
    private readonly x: DelayedExchange,
    private readonly host: ScheduleHost,
    private readonly store: DelayStore | null,
  ) {}

  /** Messages waiting: in memory and on disk (the plugin's `messages_delayed`). */
  get count(): number {
    return this.heap.length + this.pending.size + this.onDisk;
  }

  /** Of those, only in the store. */
  get storedOnly(): number {
    return this.onDisk;
  }

  /** Adds a newly published message (the store has been told of a stored one by the caller). */
  add(m: ScheduledMessage): void {
    if (this.deleted) return;
    this.host.scheduledMemoryChanged(m.memory);
    if (m.stored && this.beyond(m)) {
      this.pending.set(m.id, m);
      this.wantRelease();
      return;
    }
    this.heap.push(m);
    if (m.stored) {
      this.storedBytes += m.memory;
      if (this.store !== null && this.storedBytes > this.store.delayedWindowBytes) this.shrink();
    }
    this.arm();
  }

  /** After a restart: `messages` stored ones, none in memory yet; the first page is read at once. */
  restore(messages: number): void {
    if (messages <= 0) return;
    this.onDisk += messages;
    this.bounded = true;
    this.horizonDue = Number.MIN_SAFE_INTEGER;
    this.horizonId = 0;
    this.readAhead();
  }

  /** The exchange was deleted: its messages go (the store drops the stored ones). */
  clear(): void {
    this.deleted = true;
    if (this.timer !== null) this.host.clock.clearTimer(this.timer);
    this.timer = null;
    let bytes = 0;
    for (const m of this.heap.drain()) bytes += m.memory;
    for (const m of this.pending.values()) bytes += m.memory;
    this.pending.clear();
    this.onDisk = 0;
    this.storedBytes = 0;
    if (bytes !== 0) this.host.scheduledMemoryChanged(-bytes);
  }

  /** Beyond the horizon: stored messages before it may still be on disk. */
  private beyond(m: ScheduledMessage): boolean {
    return this.bounded && (m.due > this.horizonDue || (m.due === this.horizonDue && m.id > this.horizonId));
  }

  /**
   * The window is full: keep about half of it (the earliest), move the horizon there, and let
   * the rest leave memory once committed. The cut is found by sampling, and the heap rebuilt in
   * one pass, so it costs O(n) and no sort of the whole window.
   */
  private shrink(): void {
    const all = this.heap.drain();
    const sample: ScheduledMessage[] = [];
    const step = Math.max(1, Math.floor(all.length / 512));
    for (let i = 0; i < all.length; i += step) if ((all[i] as ScheduledMessage).stored) sample.push(all[i] as ScheduledMessage);
    if (sample.length === 0) for (const m of all) if (m.stored) sample.push(m);
    sample.sort((a, b) => (before(a, b) ? -1 : 1));
    const cut = sample[Math.max(0, (sample.length >> 1) - 1)] as ScheduledMessage;
    this.bounded = true;
    this.horizonDue = cut.due;
    this.horizonId = cut.id;
    const keep: ScheduledMessage[] = [];
    this.storedBytes = 0;
    for (const m of all) {
      if (!m.stored || !this.beyond(m)) {
        keep.push(m);
        if (m.stored) this.storedBytes += m.memory;
      } else this.pending.set(m.id, m);
    }
    this.heap.reset(keep);
    this.wantRelease();
    this.release();
  }

  private wantRelease(): void {
    if (this.releasing || this.store === null) return;
    this.releasing = true;
    this.store.wantRelease(this);
  }

  /**
   * After a commit: committed messages beyond the horizon leave memory; returns whether some
   * are still waiting for their commit.
   */
  release(): boolean {
    const store = this.store;
    if (store === null || this.deleted) return (this.releasing = false);
    let freed = 0;
    // Pending messages are (mostly) in the order they were recorded, and commits follow that
    // order: stopping at the first unwritten one keeps a commit's cost to what it released.
    for (const [id, m] of this.pending) {
      if (store.unwrittenScheduled(this.x, m)) break;
      this.pending.delete(id);
      this.onDisk++;
      freed += m.memory;
    }
    if (freed !== 0) this.host.scheduledMemoryChanged(-freed);
    this.releasing = this.pending.size !== 0;
    return this.releasing;
  }

  /** Reads the next stored messages when the window has room and there is something on disk. */
  private readAhead(): void {
    if (this.onDisk === 0 || this.reading || this.error !== null || this.deleted || this.store === null) return;
    const window = this.store.delayedWindowBytes;
    if (this.storedBytes >= window / 2) return;
    this.reading = true;
    const want = Math.min(MAX_PAGE_BYTES, Math.max(MIN_PAGE_BYTES, window - this.storedBytes));
    this.store.pageInScheduled(this.x, this.horizonDue, this.horizonId, want, (err, messages) => this.landed(err, messages));
  }

  private landed(err: Error | null, messages: ScheduledMessage[]): void {
    if (this.deleted) return;
    this.reading = false;
    if (err !== null) {
      this.error = err;
      return;
    }
    let added = 0;
    for (const row of messages) {
      // A row read while its message was still pending (committed, or read before its commit).
      const held = this.pending.get(row.id);
      let m = row;
      if (held !== undefined) {
        this.pending.delete(row.id);
        m = held;
      } else {
        this.onDisk--;
        added += m.memory;
      }
      this.heap.push(m);
      this.storedBytes += m.memory;
      this.horizonDue = m.due;
      this.horizonId = m.id;
    }
    if (added !== 0) this.host.scheduledMemoryChanged(added);
    if (messages.length === 0 || this.onDisk <= 0) {
      // Read to the end: what the counts still say is not in the store, and pending messages
      // (all beyond the horizon) simply join the heap.
      this.onDisk = 0;
      this.unbound();
    }
    this.fire();
  }

  /** Nothing is on disk beyond the horizon any more: every message is in the heap again. */
  private unbound(): void {
    this.bounded = false;
    for (const m of this.pending.values()) {
      this.heap.push(m);
      this.storedBytes += m.memory;
    }
    this.pending.clear();
  }

  /** One timer, for the earliest message in the heap. */
  private arm(): void {
    const next = this.heap.peek();
    if (next === undefined || this.deleted) return;
    const at = next.due;
    if (at >= this.timerAt) return;
    const clock = this.host.clock;
    if (this.timer !== null) clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = clock.setTimer(this.onTimer, at - clock.now());
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.fire();
  };

  /** Routes every due message in order, a batch per turn. */
  private fire(): void {
    if (this.deleted) return;
    const now = this.host.clock.now();
    const fired: ScheduledMessage[] = [];
    let n = 0;
    let more = false;
    for (let m = this.heap.peek(); m !== undefined && m.due <= now; m = this.heap.peek()) {
      if (this.beyond(m)) {
        // Stored messages due before it may be on disk (or pending): read them first.
        if (this.onDisk === 0 && !this.reading) {
          this.unbound();
          continue;
        }
        break;
      }
      if (n++ === FIRE_BATCH) {
        more = true;
        break;
      }
      this.heap.pop();
      if (m.stored) {
        this.storedBytes -= m.memory;
        fired.push(m);
      }
      this.host.scheduledMemoryChanged(-m.memory);
      this.host.fireScheduled(this.x, m);
      if (this.deleted) return;
    }
    if (fired.length !== 0) this.store?.fired(this.x, fired);
    this.readAhead();
    if (more) {
      if (this.timer !== null) this.host.clock.clearTimer(this.timer);
      this.timerAt = now;
      this.timer = this.host.clock.setTimer(this.onTimer, 0);
    } else this.arm();
  }
}
