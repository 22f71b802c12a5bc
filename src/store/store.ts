import type { StoreStatus } from '../../protocol/index.js';
import Database from 'better-sqlite3';
import { accessSync, constants, mkdirSync, readdirSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { Broker } from '../broker/broker.js';
import { ScheduledMessage, type DelayStore, type DelayedSchedule } from '../broker/delayed-schedule.js';
import { DelayedExchange } from '../broker/exchange/delayed.js';
import { DelayedDelta, DelayedShard, type DelayedRef } from './delayed-shard.js';
import { VirtualHosts } from '../broker/vhosts.js';
import { Deque } from '../util/deque.js';
import type { Exchange } from '../broker/exchange/exchange.js';
import { Message } from '../broker/message.js';
import { MemoryBudget, type Lane, type LaneOwner, type PageRange, type Pager } from '../broker/paging.js';
import type { Persistence } from '../broker/persistence.js';
import type { Queue } from '../broker/queue.js';
import type { Logger } from '../log/logger.js';
import { encodeArgs } from './args-json.js';
import { StoreError, fromErrorData } from './errors.js';
import { DirLock } from './lock.js';
import { MessageDelta, MessageShard, type QueueRef } from './message-shard.js';
import { DEFAULT_STORE_OPTIONS, checkStoreOptions, failWritesFromEnv, resolveBudgets, type StoreOptions } from './options.js';
import type { ReplicationSink } from './replication.js';
import { namingQueues, restoreStore, type RestoreSource, type RestoreSummary } from './restore.js';
import { shardOfFile, storeFilePath } from './schema.js';
import type { Shard, Delta } from './shard.js';
import { TopologyDelta, TopologyShard } from './topology-shard.js';
import { DELAYED_SHARD, SCH, SCHED_STRIDE, DEL_STRIDE, INS, INS_STRIDE, TOPOLOGY_SHARD, type DelayedCount, type ScheduledRows, type ToWorker, type FromWorker, type PageRequest, type RowsChunk, type ShardSummary, type StoredSetting, type TopologyOp, type WorkerSetup } from './wire.js';
import { WorkerPool } from './worker-pool.js';
import { StreamFiles } from './stream-store.js';
import type { Stream } from '../broker/stream.js';

/** Checkpoint lag and health, as `admin.status` carries it (the type lives with the admin protocol). */
export type StoreStats = StoreStatus;

/** Consecutive failures after which a retried checkpoint waits this long at most. */
const MAX_RETRY_DELAY_MS = 5000;
const FIRST_RETRY_DELAY_MS = 50;
/** While closing, a checkpoint that fails this many times in a row is given up. */
const CLOSE_ATTEMPTS = 3;
/** A shard with this many buffered bytes checkpoints without waiting for the interval. */
const EARLY_CHECKPOINT_BYTES = 8 * 1024 * 1024;

interface Waiter {
  readonly seq: number;
  readonly done: (err: Error | null) => void;
}

/** A page-in sent to (or waiting for) a sync worker. */
interface PageIn {
  readonly ref: QueueRef;
  readonly request: PageRequest;
  readonly worker: number;
  sent: boolean;
  readonly done: (err: Error | null, messages: Message[]) => void;
}

/** A file snapshot asked of a sync worker. */
interface SnapshotAsk {
  readonly done: (err: Error | null) => void;
}

/**
 * The durable store: records the broker's durable changes on the event loop (cheap, in memory)
 * and checkpoints them to SQLite through a bounded pool of sync workers, off the loop.
 *
 * Every recorded change takes the next sequence number. Each file (the topology, and one queue
 * file per shard) has its own pipeline with at most one snapshot in flight; a confirm waits
 * for the sequence number current when its message was recorded, and is released once every
 * pipeline has committed past it (group commit). Restore, close and the pending-bytes bound
 * live here too.
 */
export class Store implements Persistence, Pager, DelayStore {
  readonly dataDir: string;
  readonly options: StoreOptions;
  private readonly log: Logger;
  /** Set by {@link open}. */
  private lock: DirLock | null = null;
  private pool!: WorkerPool;
  readonly topology: TopologyShard;
  /** Indexed by shard number; holes where no file exists. */
  private readonly messageShards: (MessageShard | undefined)[] = [];
  private readonly allShards: Shard<Delta>[] = [];
  /** Shards that hash new queues: 0 .. syncWorkers-1. Older files beyond keep their queues. */
  private readonly hashShards: number;
  private readonly refs = new Map<Queue, QueueRef>();
  /** `delayed.db`'s pipeline; set by {@link open}. */
  private delayedShard: DelayedShard | null = null;
  private readonly delayedRefs = new Map<DelayedExchange, DelayedRef>();
  private nextSid = 1;
  private readonly delayedPageIns = new Map<number, { worker: number; request: ToWorker; sent: boolean; done: (err: Error | null, m: ScheduledMessage[]) => void; name: string }>();
  /** Resolved when no delayed page-in is in flight (restore waits for every first page). */
  private delayedPageInsIdle: (() => void) | null = null;
  private delayedPageFailure: Error | null = null;
  /** Schedules holding messages that may leave memory once committed. */
  private readonly releasing = new Set<DelayedSchedule>();
  private seq = 0;
  private nextQid = 1;
  private readonly waiters = new Deque<Waiter>();
  readonly budget: MemoryBudget;
  /** Lanes holding messages that may leave memory once committed. */
  private readonly evicting = new Set<Lane>();
  private readonly pageIns = new Map<number, PageIn>();
  private nextPageIn = 1;
  private pageInsDone = 0;
  private pagedInMessages = 0;
  /** Restore waits for every queue's first page-in: resolved once those up to `upTo` have landed. */
  private pageInsIdle: { upTo: number; resolve: () => void } | null = null;
  private restoreSummary: RestoreSummary | null = null;
  private pendingBytes = 0;
  private alarm = false;
  private broker: Broker | null = null;
  /** Broker callbacks are ignored while it is being rebuilt from the store. */
  private recording = false;
  private interval: NodeJS.Timeout | null = null;
  private confirmTimer: NodeJS.Timeout | null = null;
  private kickScheduled = false;
  private closing = false;
  private closed = false;
  private checkpoints = 0;
  private failedCheckpoints = 0;
  private lastCheckpointAt: number | null = null;
  private lastError: string | null = null;
  private readonly written = { messages: 0, updates: 0, removals: 0 };
  /** Restore's handler for worker replies (topology, counts); null outside restore. */
  private restoreHandler: ((worker: number, m: FromWorker) => void) | null = null;
  /** Run-time settings (users, …) as read on restore; {@link changeSetting} keeps it current. */
  settings: StoredSetting[] = [];
  /** Streams' segment files (stream-store.ts); the broker is given it as its stream storage. */
  readonly streams: StreamFiles;
  /** What the workers found when they opened their files. */
  private opened: { shards: ShardSummary[]; topologyCreated: boolean; delayedCreated: boolean } = { shards: [], topologyCreated: false, delayedCreated: false };
  /** A cluster leader's replication (null alone): sees every change set and holds confirms. */
  private replication: ReplicationSink | null = null;
  private readonly snapshots = new Map<number, SnapshotAsk>();
  private nextSnapshot = 1;

  private constructor(options: StoreOptions, log: Logger) {
    this.options = options;
    this.dataDir = resolvePath(options.dataDir);
    this.log = log;
    this.hashShards = options.syncWorkers;
    this.budget = new MemoryBudget(options.queueMemoryBudget, options.totalQueueMemoryBudget);
    this.topology = new TopologyShard(TOPOLOGY_SHARD, 0, storeFilePath(this.dataDir, 'topology', 0), this, (w, b) => {
      this.replication?.posted(b);
      this.pool.post(w, b);
    });
    this.allShards.push(this.topology);
    this.streams = new StreamFiles({
      dataDir: this.dataDir,
      workerCount: options.syncWorkers,
      place: (q) => this.placeOf(q),
      ready: (w) => !this.closed && this.pool.ready(w),
      post: (w, m, transfer) => this.pool.post(w, m, transfer),
      nextSeq: () => ++this.seq,
      pendingChanged: (bytes) => this.pendingChanged(bytes),
      settle: () => this.settle(),
      recordTopology: (op) => this.recordTopology(op),
    });
  }

  /** A stream's directory (its queue id) and the worker that writes it. */
  private placeOf(q: Queue): { qid: number; worker: number } | null {
    const ref = this.refs.get(q);
    if (ref === undefined) return null;
    return { qid: ref.qid, worker: (this.messageShards[ref.shard] as MessageShard).worker };
  }

  /**
   * Checks the options and builds the store without touching the disk, so the daemon can give
   * the broker its store and bind its listeners before anything is created in the data
   * directory. `memoryHighWatermark` sets the paging budgets left at 0. Call {@link open} next.
   */
  static create(options: Partial<StoreOptions>, log: Logger, memoryHighWatermark = 0): Store {
    const o: StoreOptions = { ...DEFAULT_STORE_OPTIONS, ...options };
    if (o.failWrites === undefined) o.failWrites = failWritesFromEnv(process.env);
    checkStoreOptions(o);
    Object.assign(o, resolveBudgets(o, memoryHighWatermark));
    return new Store(o, log.child({ component: 'store' }));
  }

  /** {@link create} and {@link open} in one. */
  static async open(options: Partial<StoreOptions>, log: Logger, memoryHighWatermark = 0): Promise<Store> {
    const store = Store.create(options, log, memoryHighWatermark);
    await store.open();
    return store;
  }

  /**
   * Opens the data directory: creates it if needed, takes its lock, and starts the sync
   * workers, which open (and create or migrate) their files. Refuses with a {@link StoreError}
   * rather than start over a store it cannot read.
   */
  async open(): Promise<void> {
    const o = this.options;
    const dir = this.dataDir;
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
    } catch (err) {
      throw new StoreError('ERR_STORE_DIR', `cannot use data directory '${dir}': ${(err as Error).message}`, { cause: err });
    }
    const lock = DirLock.acquire(dir);
    try {
      const ids = new Set<number>();
      for (let i = 0; i < o.syncWorkers; i++) ids.add(i);
      for (const name of readdirSync(dir)) {
        const id = shardOfFile(name);
        if (id !== null) ids.add(id);
      }
      const shardIds = [...ids].sort((a, b) => a - b);
      const n = o.syncWorkers;
      const setups: WorkerSetup[] = [];
      for (let w = 0; w < n; w++) {
        setups.push({
          dataDir: dir,
          topology: w === 0,
          delayed: w === n - 1,
          shards: shardIds.filter((id) => id % n === w),
          synchronous: o.synchronous,
          failWrites: o.failWrites ?? null,
        });
      }
      for (const id of shardIds) {
        const s = new MessageShard(id, id % n, storeFilePath(dir, 'queues', id), this, (w, part, transfer) => {
          this.replication?.posted(part);
          this.pool.post(w, part, transfer);
        });
        this.messageShards[id] = s;
        this.allShards.push(s);
      }
      const delayed = new DelayedShard(DELAYED_SHARD, n - 1, storeFilePath(dir, 'delayed', 0), this, (w, part, transfer) => this.pool.post(w, part, transfer));
      this.delayedShard = delayed;
      this.allShards.push(delayed);
      this.pool = new WorkerPool(setups, this.poolEvents());
      this.opened = await this.pool.start();
      this.lock = lock;
    } catch (err) {
      lock.release();
      throw namingQueues(err, dir, storedQueues(dir));
    }
  }

  /**
   * Rebuilds the broker from the store — topology, then every queue's messages in order — and
   * starts checkpointing. Call once, before the listener accepts connections.
   */
  /** Restores into one broker (the vhost `/`) or every vhost of a daemon, made as the rows name them. */
  async restore(target: Broker | VirtualHosts): Promise<RestoreSummary> {
    const broker = target instanceof VirtualHosts ? target.defaultVhost : target;
    if (broker.persistence !== this) throw new Error('the broker must be built with this store as its persistence');
    this.broker = broker;
    const vhosts = target instanceof VirtualHosts ? target : new VirtualHosts(target);
    const summary = await restoreStore(this.restoreSource(), vhosts, this.log);
    await this.restoreDelayed(vhosts);
    this.restoreSummary = summary;
    return summary;
  }

  /**
   * Gives every durable delayed exchange its stored messages back — counted, not read: each
   * schedule pages in its next due ones at once, and routes those that fell due while the
   * daemon was down as soon as they land, in due order.
   */
  private async restoreDelayed(vhosts: VirtualHosts): Promise<void> {
    const sids = new Map<number, DelayedExchange>();
    for (const s of this.settings) {
      if (s.kind !== DELAYED_SETTING) continue;
      const { vhost, name } = splitDelayedKey(s.key);
      const x = vhosts.get(vhost)?.exchanges.get(name);
      const sid = (JSON.parse(s.value) as { sid: number }).sid;
      if (x instanceof DelayedExchange && x.durable) {
        sids.set(sid, x);
        this.delayedRefs.set(x, { exchange: x, sid, dropped: false });
      }
      if (sid >= this.nextSid) this.nextSid = sid + 1;
    }
    // A durable delayed exchange without its incarnation (cannot happen: both are written in one
    // transaction) gets one now, so what it is given from now on is stored.
    const fresh: DelayedExchange[] = [];
    for (const b of vhosts.all()) {
      for (const x of b.exchanges.values()) if (x instanceof DelayedExchange && x.durable && !this.delayedRefs.has(x)) fresh.push(x);
    }
    if (this.opened.delayedCreated && !this.opened.topologyCreated && sids.size !== 0) {
      throw new StoreError(
        'ERR_STORE_MISSING',
        `delayed exchange '${[...sids.values()][0]?.name}' keeps its messages in '${storeFilePath(this.dataDir, 'delayed', 0)}', which is missing; refusing to start without them`,
      );
    }
    const { counts, orphans, maxSid } = await new Promise<{ counts: DelayedCount[]; orphans: number; maxSid: number }>((resolve, reject) => {
      this.restoreHandler = (_w, m) => {
        if (m.t === 'delayed-counts') resolve(m);
        else if (m.t === 'read-failed') reject(fromErrorData(m.error));
      };
      this.pool.post(this.options.syncWorkers - 1, { t: 'read-delayed-counts', live: [...sids.keys()] });
    }).finally(() => (this.restoreHandler = null));
    if (maxSid >= this.nextSid) this.nextSid = maxSid + 1;
    for (const c of counts) {
      const x = sids.get(c.sid);
      if (x === undefined) continue;
      vhosts.defaultVhost.advanceMessageId(c.maxId + 1);
      x.schedule.restore(c.messages);
      this.log.info({ vhost: x.vhost, exchange: x.name, messages: c.messages }, 'delayed messages restored; paging in');
    }
    // As for queues: the first page of each is read before clients come, so what fell due during
    // the downtime is routed first and a damaged file stops the start.
    if (this.delayedPageIns.size !== 0) await new Promise<void>((resolve) => (this.delayedPageInsIdle = resolve));
    if (this.delayedPageFailure !== null) throw this.delayedPageFailure;
    for (const x of fresh) {
      const ref: DelayedRef = { exchange: x, sid: this.nextSid++, dropped: false };
      this.delayedRefs.set(x, ref);
      this.recordTopology({ op: 'setting', kind: DELAYED_SETTING, key: delayedKey(x), value: JSON.stringify({ sid: ref.sid }) });
    }
    if (orphans !== 0) this.log.info({ orphans }, 'deleted scheduled messages of delayed exchanges no longer declared');
  }

  /** The narrow view of this store that restore works through ({@link RestoreSource}). */
  private restoreSource(): RestoreSource {
    return {
      dataDir: this.dataDir,
      opened: this.opened,
      workerCount: this.pool.size,
      hasQueueFile: (shard) => this.messageShards[shard] !== undefined,
      post: (worker, m) => this.pool.post(worker, m),
      onReply: (handler) => {
        this.restoreHandler = handler;
      },
      adopt: (queue, qid, shard) => {
        this.refs.set(queue, { queue, qid, shard, dropped: false });
        if (queue.isStream) {
          this.streams.restore(queue as Stream, this.placeOf(queue) as { qid: number; worker: number }, (err) => {
            this.log.error({ queue: queue.name, err: err.message }, 'stream segments could not be read');
            this.broker?.streamFailed(queue as Stream, err);
          });
        }
      },
      qidsFrom: (next) => {
        this.nextQid = next;
      },
      keepSettings: (settings) => {
        this.settings = settings;
        this.streams.keepOffsets(settings);
      },
      startRecording: () => this.startRecording(),
      pageInsSettled: () => this.pageInsSettled(),
    };
  }

  // ---- replication (a cluster leader's hook; see src/cluster) ----

  /** Hands every committed change set to `sink` from now on, and holds confirms on it. Set before {@link restore}. */
  setReplication(sink: ReplicationSink | null): void {
    this.replication = sink;
  }

  /** The sink lets more confirms go (followers acknowledged, or it refuses them all from now on). */
  replicationAdvanced(): void {
    this.settle();
  }

  /** The replicated files' shard numbers: TOPOLOGY_SHARD, then each queue file's (not delayed.db's). */
  shardIds(): number[] {
    return this.allShards.filter((s) => s !== this.delayedShard).map((s) => s.id);
  }

  /**
   * Copies one file, as committed, to `path` (SQLite's VACUUM INTO, run by the file's own
   * worker between its transactions). `done` runs on the loop at the moment the copy is taken:
   * every commit of that file reported before it is in the copy, every one after is not.
   */
  snapshot(shard: number, path: string, done: (err: Error | null) => void): void {
    const s = this.allShards.find((x) => x.id === shard);
    if (s === undefined || this.closed || !this.pool.ready(s.worker)) {
      done(new StoreError('ERR_STORE_CLOSED', `cannot snapshot shard ${shard} now`));
      return;
    }
    const req = this.nextSnapshot++;
    this.snapshots.set(req, { done });
    this.pool.post(s.worker, { t: 'snapshot', req, shard, path });
  }

  /** Once the topology is back: from now on the broker's changes are recorded. */
  private startRecording(): void {
    this.recording = true;
    this.interval = setInterval(() => this.checkpoint(), this.options.checkpointIntervalMs);
    this.interval.unref();
  }

  /**
   * Resolves once the page-ins under way now have landed (each queue's first page, at restore),
   * not the read-ahead they start: that goes on while clients are served.
   */
  private pageInsSettled(): Promise<void> {
    if (this.pageIns.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.pageInsIdle = { upTo: this.nextPageIn - 1, resolve }));
  }

  // ---- Pager: called by durable queues on the event loop ----

  pageIn(owner: LaneOwner, range: PageRange, maxBytes: number, done: (err: Error | null, messages: Message[]) => void): void {
    const ref = this.refs.get(owner as Queue);
    if (ref === undefined) {
      done(null, []);
      return;
    }
    const req = this.nextPageIn++;
    const request: PageRequest = { t: 'page', req, shard: ref.shard, qid: ref.qid, ...range, maxBytes };
    // Another worker reads (its own read-only connection), so page-ins run beside the owner's writes.
    const writer = (this.messageShards[ref.shard] as MessageShard).worker;
    const p: PageIn = { ref, request, worker: (writer + 1) % this.options.syncWorkers, sent: false, done };
    this.pageIns.set(req, p);
    this.sendPageIn(p);
  }

  private sendPageIn(p: PageIn): void {
    if (p.sent || this.closed || !this.pool.ready(p.worker)) return;
    p.sent = true;
    this.pool.post(p.worker, p.request);
  }

  private onPaged(m: Extract<FromWorker, { t: 'paged' } | { t: 'page-failed' }>): void {
    const p = this.pageIns.get(m.req);
    if (p === undefined) return;
    this.pageIns.delete(m.req);
    this.pageInsDone++;
    try {
      if (m.t === 'page-failed') {
        const file = storeFilePath(this.dataDir, 'queues', p.ref.shard);
        const err = new StoreError(m.error.code, `cannot page in messages of queue '${p.ref.queue.name}' from '${file}': ${m.error.message}`);
        p.done(err, []);
      } else {
        const messages = pagedMessages(m);
        this.pagedInMessages += messages.length;
        p.done(null, messages);
      }
    } finally {
      const idle = this.pageInsIdle;
      // Requests are numbered in order and the map keeps that order: its first is the oldest.
      if (idle !== null && !((this.pageIns.keys().next().value ?? Infinity) <= idle.upTo)) {
        this.pageInsIdle = null;
        idle.resolve();
      }
    }
  }

  unwritten(owner: LaneOwner, m: Message): boolean {
    const ref = this.refs.get(owner as Queue);
    if (ref === undefined) return false;
    const shard = this.messageShards[ref.shard] as MessageShard;
    return shard.delta.inserts.has(m) || (shard.inflight !== null && shard.inflight.delta.inserts.has(m));
  }

  dropPaged(owner: LaneOwner, range: PageRange): void {
    const ref = this.refs.get(owner as Queue);
    if (ref === undefined || !this.recording) return;
    this.pendingChanged((this.messageShards[ref.shard] as MessageShard).delta.dropRange(++this.seq, ref, range));
  }

  wantEviction(lane: Lane): void {
    this.evicting.add(lane);
  }

  /** After a commit: committed messages of lanes over budget leave memory. */
  private evict(): void {
    for (const lane of this.evicting) if (!lane.evict()) this.evicting.delete(lane);
  }


  private poolEvents(): ConstructorParameters<typeof WorkerPool>[1] {
    return {
      message: (w, m) => this.onWorkerMessage(w, m),
      lost: (w, err) => {
        this.log.error({ worker: w, err: err.message }, 'sync worker lost; restarting it');
        for (const s of this.allShards) if (s.worker === w && s.inflight !== null) this.onFailed(s, s.inflight.batch, err);
        for (const p of this.pageIns.values()) if (p.worker === w) p.sent = false;
        this.streams.workerLost(w, err);
        for (const p of this.delayedPageIns.values()) if (p.worker === w) p.sent = false;
        for (const [req, ask] of this.snapshots) {
          this.snapshots.delete(req);
          ask.done(err);
        }
        this.restoreHandler?.(w, { t: 'read-failed', error: { code: err.code, message: err.message } });
      },
      restored: (w) => {
        for (const s of this.allShards) if (s.worker === w && s.inflight !== null && s.retryTimer === null) this.resend(s);
        // Page-ins the lost worker never answered (reads: safe to repeat).
        for (const p of this.pageIns.values()) if (p.worker === w) this.sendPageIn(p);
        for (const p of this.delayedPageIns.values()) if (p.worker === w) this.sendDelayedPageIn(p);
        this.kick();
      },
    };
  }

  private onWorkerMessage(w: number, m: FromWorker): void {
    if (this.streams.onReply(m)) return;
    switch (m.t) {
      case 'committed':
        this.onCommitted(this.shard(m.shard), m.batch);
        return;
      case 'failed':
        this.onFailed(this.shard(m.shard), m.batch, fromErrorData(m.error));
        return;
      case 'paged':
      case 'page-failed':
        this.onPaged(m);
        return;
      case 'dpaged':
      case 'dpage-failed':
        this.onDelayedPaged(m);
        return;
      case 'snapshotted': {
        const ask = this.snapshots.get(m.req);
        this.snapshots.delete(m.req);
        ask?.done(m.error === null ? null : fromErrorData(m.error));
        return;
      }
      default:
        this.restoreHandler?.(w, m);
    }
  }

  private shard(id: number): Shard<Delta> {
    if (id === DELAYED_SHARD) return this.delayedShard as DelayedShard;
    return id === TOPOLOGY_SHARD ? this.topology : (this.messageShards[id] as MessageShard);
  }

  // ---- Persistence: called by the broker on the event loop ----

  exchangeDeclared(x: Exchange): void {
    this.recordTopology({ op: 'exchange', vhost: x.vhost, name: x.name, type: x.type, autoDelete: x.autoDelete, internal: x.internal, arguments: encodeArgs(x.arguments) });
    if (x instanceof DelayedExchange && this.recording) {
      // Its incarnation is kept beside it in the topology's settings, in the same transaction.
      const ref: DelayedRef = { exchange: x, sid: this.nextSid++, dropped: false };
      this.delayedRefs.set(x, ref);
      this.recordTopology({ op: 'setting', kind: DELAYED_SETTING, key: delayedKey(x), value: JSON.stringify({ sid: ref.sid }) });
    }
  }

  exchangeDeleted(x: Exchange): void {
    this.recordTopology({ op: 'exchange-delete', vhost: x.vhost, name: x.name });
    const ref = x instanceof DelayedExchange ? this.delayedRefs.get(x) : undefined;
    if (ref === undefined || !this.recording) return;
    this.delayedRefs.delete(x as DelayedExchange);
    ref.dropped = true;
    this.recordTopology({ op: 'setting-delete', kind: DELAYED_SETTING, key: delayedKey(x) });
    // A crash before the topology commits brings the exchange back empty: it was being deleted.
    this.pendingChanged((this.delayedShard as DelayedShard).delta.drop(++this.seq, ref));
  }

  // ---- DelayStore: called by delayed exchanges' schedules on the event loop ----

  get delayedWindowBytes(): number {
    return this.budget.perQueue;
  }

  scheduled(x: DelayedExchange, m: ScheduledMessage): void {
    const ref = this.delayedRefs.get(x);
    const shard = this.delayedShard;
    if (ref === undefined || shard === null || !this.recording) return;
    this.pendingChanged(shard.delta.insert(++this.seq, ref, m));
    if (shard.delta.bytes >= EARLY_CHECKPOINT_BYTES && shard.idle) this.kick();
  }

  fired(x: DelayedExchange, messages: ScheduledMessage[]): void {
    const ref = this.delayedRefs.get(x);
    if (ref === undefined || !this.recording) return;
    // Their copies in durable queues were recorded just now: the rows go once those commit.
    this.afterCommit((err) => {
      const shard = this.delayedShard;
      if (err !== null || ref.dropped || shard === null || this.closed) return;
      let bytes = 0;
      for (const m of messages) bytes += shard.delta.remove(++this.seq, ref, m);
      this.pendingChanged(bytes);
    });
  }

  unwrittenScheduled(_x: DelayedExchange, m: ScheduledMessage): boolean {
    const shard = this.delayedShard as DelayedShard;
    return shard.delta.inserts.has(m) || (shard.inflight !== null && shard.inflight.delta.inserts.has(m));
  }

  wantRelease(s: DelayedSchedule): void {
    this.releasing.add(s);
  }

  pageInScheduled(x: DelayedExchange, due: number, id: number, maxBytes: number, done: (err: Error | null, m: ScheduledMessage[]) => void): void {
    const ref = this.delayedRefs.get(x);
    if (ref === undefined) {
      done(null, []);
      return;
    }
    const req = this.nextPageIn++;
    const p = { worker: this.options.syncWorkers - 1, request: { t: 'dpage', req, sid: ref.sid, due, id, maxBytes } as ToWorker, sent: false, done, name: x.name };
    this.delayedPageIns.set(req, p);
    this.sendDelayedPageIn(p);
  }

  private sendDelayedPageIn(p: { worker: number; request: ToWorker; sent: boolean }): void {
    if (p.sent || this.closed || !this.pool.ready(p.worker)) return;
    p.sent = true;
    this.pool.post(p.worker, p.request);
  }

  private onDelayedPaged(m: Extract<FromWorker, { t: 'dpaged' } | { t: 'dpage-failed' }>): void {
    const p = this.delayedPageIns.get(m.req);
    if (p === undefined) return;
    this.delayedPageIns.delete(m.req);
    try {
      if (m.t === 'dpage-failed') {
        const file = storeFilePath(this.dataDir, 'delayed', 0);
        const err = new StoreError(m.error.code, `cannot page in scheduled messages of delayed exchange '${p.name}' from '${file}': ${m.error.message}`);
        this.log.error({ exchange: p.name, code: err.code, err: err.message }, 'cannot page in scheduled messages');
        this.delayedPageFailure ??= err;
        p.done(err, []);
        return;
      }
      p.done(null, scheduledMessages(m));
    } finally {
      if (this.delayedPageIns.size === 0 && this.delayedPageInsIdle !== null) {
        const idle = this.delayedPageInsIdle;
        this.delayedPageInsIdle = null;
        idle();
      }
    }
  }

  queueDeclared(q: Queue): void {
    if (!this.recording) return;
    const ref: QueueRef = { queue: q, qid: this.nextQid++, shard: hashName(q.name) % this.hashShards, dropped: false };
    this.refs.set(q, ref);
    this.recordTopology({ op: 'queue', vhost: q.vhost, name: q.name, qid: ref.qid, shard: ref.shard, autoDelete: q.autoDelete, arguments: encodeArgs(q.arguments) });
  }

  queueDeleted(q: Queue): void {
    const ref = this.refs.get(q);
    if (!this.recording || ref === undefined) return;
    if (q.isStream) this.streams.deleted(q as Stream, this.placeOf(q) as { qid: number; worker: number });
    this.refs.delete(q);
    ref.dropped = true;
    this.pendingChanged((this.messageShards[ref.shard] as MessageShard).delta.discard(ref));
    this.topology.record(++this.seq, { op: 'queue-delete', vhost: q.vhost, name: q.name, qid: ref.qid }, ref);
  }

  bindingAdded(x: Exchange, q: Queue, routingKey: string, args: Record<string, unknown>): void {
    this.recordTopology({ op: 'bind', vhost: x.vhost, exchange: x.name, queue: q.name, routingKey, arguments: encodeArgs(args) });
  }

  bindingRemoved(x: Exchange, q: Queue, routingKey: string): void {
    if (!this.recording) return;
    const keep: string[] = [];
    for (const b of x.bindings()) if (b.queue === q.name && b.routingKey === routingKey) keep.push(encodeArgs(b.arguments));
    this.recordTopology({ op: 'unbind', vhost: x.vhost, exchange: x.name, queue: q.name, routingKey, keep: JSON.stringify(keep) });
  }

  exchangeBindingAdded(source: Exchange, destination: Exchange, routingKey: string, args: Record<string, unknown>): void {
    this.recordTopology({ op: 'xbind', vhost: source.vhost, source: source.name, destination: destination.name, routingKey, arguments: encodeArgs(args) });
  }

  exchangeBindingRemoved(source: Exchange, destination: Exchange, routingKey: string): void {
    if (!this.recording) return;
    const keep: string[] = [];
    for (const b of source.exchangeBindings()) {
      if (b.destination === destination.name && b.routingKey === routingKey) keep.push(encodeArgs(b.arguments));
    }
    this.recordTopology({ op: 'xunbind', vhost: source.vhost, source: source.name, destination: destination.name, routingKey, keep: JSON.stringify(keep) });
  }

  /**
   * Creates, replaces (`value` JSON) or deletes (null) one run-time setting, and resolves once
   * a checkpoint holding the change has committed: an operator's "user added" survives a crash.
   */
  changeSetting(kind: string, key: string, value: string | null): Promise<void> {
    this.settings = this.settings.filter((r) => r.kind !== kind || r.key !== key);
    if (value !== null) this.settings.push({ kind, key, value });
    this.recordTopology(value === null ? { op: 'setting-delete', kind, key } : { op: 'setting', kind, key, value });
    return new Promise((resolve, reject) => {
      this.afterCommit((err) => (err === null ? resolve() : reject(err)));
      this.kick();
    });
  }

  private recordTopology(op: TopologyOp): void {
    if (!this.recording) return;
    this.topology.record(++this.seq, op);
  }

  messageEnqueued(q: Queue, m: Message): void {
    const ref = this.refs.get(q);
    if (ref === undefined || !this.recording) return;
    const shard = this.messageShards[ref.shard] as MessageShard;
    this.pendingChanged(shard.delta.insert(++this.seq, ref, m));
    if (shard.delta.bytes >= EARLY_CHECKPOINT_BYTES && shard.idle) this.kick();
  }

  messageRemoved(q: Queue, m: Message): void {
    const ref = this.refs.get(q);
    if (ref === undefined || !this.recording) return;
    this.pendingChanged((this.messageShards[ref.shard] as MessageShard).delta.remove(++this.seq, ref, m));
  }

  messageDelivered(q: Queue, m: Message): void {
    const ref = this.refs.get(q);
    if (ref === undefined || !this.recording) return;
    this.pendingChanged((this.messageShards[ref.shard] as MessageShard).delta.update(++this.seq, ref, m));
  }

  /** @internal {@link Persistence}: kept with the next checkpoint (or before the next confirm's wait). */
  streamOffsetStored(stream: Queue, name: string, offset: number): void {
    if (this.recording) this.streams.offsetStored(stream, name, offset);
  }

  afterCommit(done: (err: Error | null) => void): void {
    // A confirm that follows an ack also covers the consumer offset that ack stored.
    this.streams.flushOffsets();
    if (this.closed) {
      done(new StoreError('ERR_STORE_CLOSED', 'the store is closed'));
      return;
    }
    // Behind a waiter nothing newer is committed yet (settle releases them in order): no need
    // to look at every shard once per publish.
    if (this.waiters.length === 0 && this.confirmableSeq() >= this.seq) {
      done(null);
      return;
    }
    this.waiters.push({ seq: this.seq, done });
    if (this.options.maxConfirmDelayMs === 0) this.kick();
    else if (this.confirmTimer === null) {
      this.confirmTimer = setTimeout(() => {
        this.confirmTimer = null;
        this.checkpoint();
      }, this.options.maxConfirmDelayMs);
    }
  }

  /** @internal {@link ShardHost}: the bytes held by unwritten deltas changed. */
  pendingChanged(bytes: number): void {
    if (bytes === 0) return;
    this.pendingBytes += bytes;
    const max = this.options.maxPendingBytes;
    if (!this.alarm && this.pendingBytes > max) this.setAlarm(true);
    else if (this.alarm && this.pendingBytes < max * 0.8) this.setAlarm(false);
  }

  private setAlarm(raised: boolean): void {
    this.alarm = raised;
    if (raised) {
      this.log.warn({ pendingBytes: this.pendingBytes, maxPendingBytes: this.options.maxPendingBytes }, 'store is behind: blocking publishers');
      this.kick();
    } else {
      this.log.info({ pendingBytes: this.pendingBytes }, 'store caught up: unblocking publishers');
    }
    this.broker?.setAlarm('store', raised);
  }

  // ---- checkpoints ----

  /** Everything up to this sequence number is committed. */
  private durableSeq(): number {
    let first = this.streams.unwrittenFrom;
    for (const s of this.allShards) {
      const u = s.unwrittenFrom;
      if (u < first) first = u;
    }
    return first === Infinity ? this.seq : first - 1;
  }

  /** Confirms up to here may go: committed here, and replicated as far as the cluster asks. */
  private confirmableSeq(): number {
    const durable = this.durableSeq();
    return this.replication === null ? durable : Math.min(durable, this.replication.confirmable());
  }

  /** Runs a checkpoint soon (next loop turn), letting the current turn's changes join it. */
  private kick(): void {
    if (this.kickScheduled || this.closed) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.checkpoint();
    });
  }

  /** Starts a checkpoint on every idle shard with buffered changes. */
  checkpoint(): void {
    if (this.closed) return;
    this.streams.flushOffsets();
    if (this.confirmTimer !== null) {
      clearTimeout(this.confirmTimer);
      this.confirmTimer = null;
    }
    for (const s of this.allShards) {
      if (s.retryTimer !== null || !this.pool.ready(s.worker)) continue;
      if (s.start()) this.dispatch(s);
    }
    this.settle();
  }

  private dispatch(s: Shard<Delta>): void {
    const f = s.inflight;
    if (f === null) return;
    const batch = f.batch;
    s.send(f.delta, batch).catch((err: unknown) =>
      this.onFailed(s, batch, new StoreError('ERR_STORE_WRITE', `checkpoint of '${s.file}' could not be sent: ${(err as Error).message}`)),
    );
  }

  private resend(s: Shard<Delta>): void {
    if (s.inflight === null || this.closed || !this.pool.ready(s.worker)) return;
    s.retry();
    this.dispatch(s);
  }

  private onCommitted(s: Shard<Delta>, batch: number): void {
    const failures = s.failures;
    const durableBefore = this.replication === null ? 0 : this.durableSeq();
    const delta = s.committed(batch);
    if (delta === null) return;
    // delayed.db is not replicated (yet): followers know only topology and queue files.
    if (s !== this.delayedShard) this.replication?.committed(s.id, batch, durableBefore);
    if (delta instanceof MessageDelta) {
      this.written.messages += delta.inserts.size;
      this.written.updates += delta.updates.size;
      this.written.removals += delta.deletes.length / DEL_STRIDE;
      this.evict();
    } else if (delta instanceof DelayedDelta) {
      for (const sch of this.releasing) if (!sch.release()) this.releasing.delete(sch);
    } else if (delta instanceof TopologyDelta) {
      for (const ref of delta.deletedQueues) {
        this.pendingChanged((this.messageShards[ref.shard] as MessageShard).delta.drop(++this.seq, ref));
      }
    }
    this.checkpoints++;
    this.lastCheckpointAt = Date.now();
    if (failures !== 0) {
      this.log.info({ file: s.file, failures }, 'checkpoint succeeded after retries');
      this.lastError = null;
    }
    this.settle();
    // Group commit: what arrived while this one was in flight goes next, without waiting.
    if (this.waiters.length !== 0 || this.closing || s.delta.bytes >= EARLY_CHECKPOINT_BYTES) this.kick();
  }

  private onFailed(s: Shard<Delta>, batch: number, err: StoreError): void {
    if (!s.failed(batch)) return;
    this.failedCheckpoints++;
    this.lastError = err.message;
    // One error per failure streak; the retries of that streak are debug noise.
    if (s.failures === 1) this.log.error({ file: s.file, code: err.code, err: err.message }, 'checkpoint failed; retrying, confirms wait');
    else this.log.debug({ file: s.file, failures: s.failures, err: err.message }, 'checkpoint retry failed');
    if (this.closing && s.failures >= CLOSE_ATTEMPTS) {
      this.abandon(err);
      return;
    }
    const delay = Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** (s.failures - 1));
    if (s.retryTimer !== null) clearTimeout(s.retryTimer);
    s.retryTimer = setTimeout(() => {
      s.retryTimer = null;
      this.resend(s);
    }, delay);
  }

  /** Releases every confirm whose changes are all committed. */
  private settle(): void {
    const durable = this.confirmableSeq();
    for (let w = this.waiters.peek(); w !== undefined && w.seq <= durable; w = this.waiters.peek()) {
      this.waiters.shift();
      w.done(null);
    }
  }

  /** Closing and a checkpoint keeps failing: nack what waits instead of hanging the shutdown. */
  private abandon(err: StoreError): void {
    const e = new StoreError('ERR_STORE_CLOSED', `store closed with changes unwritten: ${err.message}`, { cause: err });
    for (let w = this.waiters.shift(); w !== undefined; w = this.waiters.shift()) w.done(e);
  }

  // ---- status and shutdown ----

  stats(): StoreStats {
    let since = Infinity;
    let inFlight = 0;
    for (const s of this.allShards) {
      const t = s.unwrittenSince;
      if (t !== 0 && t < since) since = t;
      if (s.inflight !== null) inFlight++;
    }
    return {
      dataDir: this.dataDir,
      syncWorkers: this.options.syncWorkers,
      shards: this.allShards.length - 1,
      pendingBytes: this.pendingBytes,
      checkpointLagMs: since === Infinity ? 0 : Math.max(0, Date.now() - since),
      checkpointsInFlight: inFlight,
      checkpoints: this.checkpoints,
      failedCheckpoints: this.failedCheckpoints,
      lastCheckpointAt: this.lastCheckpointAt,
      lastError: this.lastError,
      confirmsWaiting: this.waiters.length,
      blockingPublishers: this.alarm,
      paging: {
        queueBudget: this.budget.perQueue,
        totalBudget: this.budget.total,
        used: this.budget.used,
        pageInsInFlight: this.pageIns.size,
        pageIns: this.pageInsDone,
        pagedInMessages: this.pagedInMessages,
      },
      restore: this.restoreSummary,
      backlogs: this.backlogs(),
      written: { ...this.written },
    };
  }

  private backlogs(): StoreStats['backlogs'] {
    const out: StoreStats['backlogs'] = [];
    for (const q of this.refs.keys()) {
      const p = q.paged;
      if (p === null) continue;
      const onDisk = p.pagedMessages;
      const error = p.error;
      if (onDisk === 0 && error === null) continue;
      out.push({ queue: q.name, ready: q.messageCount, onDisk, loading: p.loading, error: error === null ? null : error.message });
    }
    return out.sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
  }

  /**
   * Final checkpoint, then closes the workers and releases the lock. Call after the server has
   * stopped, so nothing changes meanwhile. Rejects with ERR_STORE_CLOSED if the final
   * checkpoint could not be written (after retries); the store is closed either way.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.lock === null) {
      // Never opened (or the open failed and cleaned up after itself).
      this.closed = true;
      return;
    }
    if (this.interval !== null) clearInterval(this.interval);
    if (this.replication !== null) {
      // Confirms still waiting were never replicated: they fail rather than go out. Clients are
      // gone by now, so the last checkpoint is this node's own, whatever followers acknowledge.
      this.abandon(new StoreError('ERR_STORE_CLOSED', 'not replicated to the in-sync followers'));
      this.replication = null;
    }
    let failure: Error | null = null;
    // A committed queue deletion records the drop of its rows only then: one more round writes it.
    for (let round = 0; this.recording && failure === null && round < 3; round++) {
      failure = await new Promise<Error | null>((resolve) => {
        this.afterCommit(resolve);
        this.checkpoint();
      });
      if (this.allShards.every((s) => s.delta.count === 0)) break;
    }
    this.closed = true;
    this.recording = false;
    if (this.confirmTimer !== null) clearTimeout(this.confirmTimer);
    for (const s of this.allShards) if (s.retryTimer !== null) clearTimeout(s.retryTimer);
    await this.pool.close();
    this.lock?.release();
    if (failure !== null) {
      this.log.error({ err: failure.message }, 'final checkpoint failed');
      throw failure;
    }
    this.log.info({ checkpoints: this.checkpoints }, 'store closed');
  }
}

/** The queues a topology file names, read directly (to name the queues of a file that would not open). */
function storedQueues(dir: string): { name: string; shard: number }[] {
  try {
    const db = new Database(storeFilePath(dir, 'topology', 0), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT name, shard FROM queues').all() as { name: string; shard: number }[];
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
}

/** The settings kind under which a durable delayed exchange's incarnation in `delayed.db` is kept. */
const DELAYED_SETTING = 'delayed-exchange';

/** A delayed exchange's incarnation setting is keyed vhost NUL name, as policies are. */
function delayedKey(x: Exchange): string {
  return `${x.vhost}\u0000${x.name}`;
}

function splitDelayedKey(key: string): { vhost: string; name: string } {
  const at = key.indexOf('\u0000');
  return at < 0 ? { vhost: '/', name: key } : { vhost: key.slice(0, at), name: key.slice(at + 1) };
}

/** Scheduled messages of one delayed page-in, each with its own bytes (a long wait must not pin the chunk). */
function scheduledMessages(chunk: ScheduledRows): ScheduledMessage[] {
  const rows = chunk.rows;
  const content = Buffer.from(chunk.content.buffer, chunk.content.byteOffset, chunk.content.byteLength);
  const out: ScheduledMessage[] = [];
  let off = 0;
  for (let i = 0; i < rows.length; i += SCHED_STRIDE) {
    const len = rows[i + SCH.contentLength] as number;
    const bytes = Buffer.allocUnsafeSlow(len);
    content.copy(bytes, 0, off, off + len);
    off += len;
    out.push(
      new ScheduledMessage(
        rows[i + SCH.id] as number,
        rows[i + SCH.due] as number,
        chunk.strings[rows[i + SCH.routingKey] as number] as string,
        bytes,
        true,
        rows[i + SCH.priority] as number,
        rows[i + SCH.expiration] as number,
        true,
        null,
      ),
    );
  }
  return out;
}

/** FNV-1a: a stable, well-spread hash of a queue name, for picking its shard. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Messages of one page-in, each with its own copy of its bytes (a view would pin the whole chunk). */
function pagedMessages(chunk: Omit<RowsChunk, 't'>): Message[] {
  const rows = chunk.rows;
  const content = Buffer.from(chunk.content.buffer, chunk.content.byteOffset, chunk.content.byteLength);
  const out: Message[] = [];
  let off = 0;
  for (let i = 0; i < rows.length; i += INS_STRIDE) {
    const len = rows[i + INS.contentLength] as number;
    const bytes = Buffer.from(content.subarray(off, off + len));
    off += len;
    const deliveryCount = rows[i + INS.deliveryCount] as number;
    const m = new Message(
      rows[i + INS.id] as number,
      chunk.strings[rows[i + INS.exchange] as number] as string,
      chunk.strings[rows[i + INS.routingKey] as number] as string,
      bytes,
      true,
      rows[i + INS.priority] as number,
      rows[i + INS.expiration] as number,
      // Delivered before a stop and still stored: it was unacked, so it comes back redelivered.
      rows[i + INS.redelivered] === 1 || deliveryCount > 0,
      deliveryCount,
    );
    m.expiresAt = rows[i + INS.expiresAt] as number;
    out.push(m);
  }
  return out;
}
