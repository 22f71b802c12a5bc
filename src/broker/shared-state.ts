import type { Clock } from './clock.js';
import type { DelayStore } from './delayed-schedule.js';
import { ContentArena } from './message.js';
import type { Pager } from './paging.js';
import type { Persistence } from './persistence.js';
import type { Queue } from './queue.js';
import type { Stream } from './stream.js';
import { MemoryStreamStorage, type StreamStorage } from './stream-storage.js';

/** Told when a queue's paged messages cannot be read back, or fewer were stored than counted. */
export type PageFailureListener = (queue: Queue, err: Error | null, lostMessages: number) => void;

/** Told when a stream's segments cannot be read or written. */
export type StreamFailureListener = (stream: Stream, err: Error) => void;

/**
 * Why publishers are blocked (SPEC §3.1.4): broker memory, the durable store falling behind, or
 * free disk space under `disk_free_limit`.
 */
export type AlarmReason = 'memory' | 'store' | 'disk';

/**
 * What every virtual host of one daemon shares: the store, the clock, memory and its alarms
 * (publishers of every vhost block together, as in RabbitMQ), message ids (the store keys
 * shared bodies by them), the arena parked messages are copied into, and where streams keep
 * their segments (the store names a stream's files by its queue id, unique across vhosts).
 */
export class SharedBrokerState {
  readonly persistence: Persistence;
  readonly clock: Clock;
  readonly pager: Pager | null;
  readonly streams: StreamStorage;
  /** Keeps every vhost's durable delayed exchanges' persistent messages (the store); null = in memory. */
  readonly delayStore: DelayStore | null;
  /** Compact copies of messages parked in queues without consumers. */
  readonly parked = new ContentArena();
  nextMessageId = 1;
  /**
   * True on a cluster leader: what replication does not carry yet (stream segments, durable
   * delayed exchanges' schedules) is refused at declare, so no confirm promises more than a
   * failover keeps. Set after restore, so what a store already holds comes back.
   */
  replicated = false;
  private queuedBytesTotal = 0;
  private readonly highWatermark: number;
  private readonly lowWatermark: number;
  private isBlocked = false;
  private readonly alarms = new Set<AlarmReason>();
  private readonly blockListeners = new Set<(blocked: boolean) => void>();
  private readonly pageFailureListeners = new Set<PageFailureListener>();
  private readonly streamFailureListeners = new Set<StreamFailureListener>();

  constructor(
    persistence: Persistence,
    clock: Clock,
    pager: Pager | null,
    memoryHighWatermark: number,
    delayStore: DelayStore | null = null,
    streams: StreamStorage = new MemoryStreamStorage(),
  ) {
    this.persistence = persistence;
    this.clock = clock;
    this.pager = pager;
    this.delayStore = delayStore;
    this.streams = streams;
    this.highWatermark = memoryHighWatermark;
    this.lowWatermark = Math.floor(memoryHighWatermark * 0.8);
  }

  account(delta: number): void {
    this.queuedBytesTotal += delta;
    if (this.highWatermark === 0) return;
    const memory = this.alarms.has('memory');
    if (!memory && this.queuedBytesTotal > this.highWatermark) this.setAlarm('memory', true);
    else if (memory && this.queuedBytesTotal < this.lowWatermark) this.setAlarm('memory', false);
  }

  setAlarm(reason: AlarmReason, raised: boolean): void {
    if (raised) this.alarms.add(reason);
    else this.alarms.delete(reason);
    const blocked = this.alarms.size !== 0;
    if (blocked === this.isBlocked) return;
    this.isBlocked = blocked;
    for (const l of this.blockListeners) l(blocked);
  }

  get alarmReasons(): AlarmReason[] {
    return [...this.alarms];
  }

  get blocked(): boolean {
    return this.isBlocked;
  }

  get queuedBytes(): number {
    return this.queuedBytesTotal;
  }

  onBlockedChange(listener: (blocked: boolean) => void): () => void {
    this.blockListeners.add(listener);
    return () => this.blockListeners.delete(listener);
  }

  pageFailed(queue: Queue, err: Error | null, lostMessages: number): void {
    for (const l of this.pageFailureListeners) l(queue, err, lostMessages);
  }

  watchPageFailures(listener: PageFailureListener): () => void {
    this.pageFailureListeners.add(listener);
    return () => this.pageFailureListeners.delete(listener);
  }

  streamFailed(stream: Stream, err: Error): void {
    for (const l of this.streamFailureListeners) l(stream, err);
  }

  watchStreamFailures(listener: StreamFailureListener): () => void {
    this.streamFailureListeners.add(listener);
    return () => this.streamFailureListeners.delete(listener);
  }

  advanceMessageId(atLeast: number): void {
    if (atLeast > this.nextMessageId) this.nextMessageId = atLeast;
  }
}
