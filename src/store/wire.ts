import type { StoreErrorData } from './errors.js';
import type { FailWrites } from './options.js';
import type { SegmentInfo } from '../broker/stream-storage.js';
import type { SegmentPart } from './stream-files.js';

/**
 * Messages between the store (main thread) and its sync workers. Numbers travel in
 * Float64Arrays and message bytes in one concatenated buffer, both transferred rather than
 * cloned, so handing a large checkpoint to a worker costs one copy of the bytes.
 */

/** Columns of one inserted message row in {@link MessagesPart.rows}. */
export const INS_STRIDE = 11;
/** Offsets within an insert row. */
export const INS = {
  qid: 0,
  id: 1,
  priority: 2,
  expiration: 3,
  redelivered: 4,
  deliveryCount: 5,
  exchange: 6,
  routingKey: 7,
  contentLength: 8,
  /** Absolute expiry (ms since the epoch, 0 = never) from the queue's or message's TTL. */
  expiresAt: 9,
  /** {@link Shared}: whether the row's bytes are shared with the rows of the same id after it. */
  shared: 10,
} as const;

/**
 * Copies of one fanned-out message (same id, one row per queue) are adjacent in a part; the
 * first carries the bytes once and the worker stores them in `bodies` with one reference per row.
 */
export const Shared = {
  /** The row's own bytes follow in `content`. */
  No: 0,
  /** The first copy: its bytes follow and are shared with the `Follower` rows after it. */
  First: 1,
  /** A later copy: no bytes in `content`; same bytes as the `First` row before it. */
  Follower: 2,
} as const;
/** Columns of one update row: qid, id, redelivered, deliveryCount. */
export const UPD_STRIDE = 4;
/** Columns of one delete row: qid, id, priority, content length (for the queue's counts). */
export const DEL_STRIDE = 4;
/**
 * Columns of one range delete (a purge of messages that are only on disk): qid, after, upTo,
 * minPriority, maxPriority — the rows with after < id <= upTo and a priority in range.
 */
export const RANGE_STRIDE = 5;

/**
 * One part of a message-shard checkpoint. A checkpoint is one transaction; it is sent in parts
 * so that neither thread ever holds one giant buffer for a large backlog. The worker begins the
 * transaction on `first` and commits on `last`.
 */
export interface MessagesPart {
  t: 'msgs';
  shard: number;
  batch: number;
  first: boolean;
  last: boolean;
  /** Inserted rows, INS_STRIDE numbers each. */
  rows: Float64Array;
  /** Exchange names and routing keys, referenced by index from `rows`. */
  strings: string[];
  content: Uint8Array;
  upd: Float64Array;
  del: Float64Array;
  /** Range deletes, RANGE_STRIDE numbers each. */
  ranges: Float64Array;
  /** Queue incarnations whose messages all go (queue deleted). */
  drop: number[];
}

/** Which stored messages of a queue a page-in reads: after < id <= upTo, priority in range. */
export interface PageRange {
  after: number;
  upTo: number;
  minPriority: number;
  maxPriority: number;
}

/** Reads up to `maxBytes` (at least one row) of one queue's stored messages, in id order. */
export interface PageRequest extends PageRange {
  t: 'page';
  req: number;
  shard: number;
  qid: number;
  maxBytes: number;
}

/** What a queue file holds for one queue and priority (the `queue_counts` table). */
export interface QueueCount {
  qid: number;
  priority: number;
  messages: number;
  bytes: number;
  maxId: number;
}

/** One topology change, as the topology file applies it (arguments as canonical JSON), in the vhost it names. */
export type TopologyOp =
  | { op: 'exchange'; vhost: string; name: string; type: string; autoDelete: boolean; internal: boolean; arguments: string }
  | { op: 'exchange-delete'; vhost: string; name: string }
  | { op: 'queue'; vhost: string; name: string; qid: number; shard: number; autoDelete: boolean; arguments: string }
  | { op: 'queue-delete'; vhost: string; name: string; qid: number }
  | { op: 'bind'; vhost: string; exchange: string; queue: string; routingKey: string; arguments: string }
  /**
   * Removes the bindings exchange → queue with this key except those whose arguments are in
   * `keep` (the ones still bound): whether arguments tell bindings apart is the exchange type's
   * business, so the store states the outcome instead of guessing the identity.
   */
  | { op: 'unbind'; vhost: string; exchange: string; queue: string; routingKey: string; keep: string }
  | { op: 'xbind'; vhost: string; source: string; destination: string; routingKey: string; arguments: string }
  | { op: 'xunbind'; vhost: string; source: string; destination: string; routingKey: string; keep: string }
  /** A run-time setting (a user, …) created or replaced: `value` is its JSON. */
  | { op: 'setting'; kind: string; key: string; value: string }
  | { op: 'setting-delete'; kind: string; key: string };

/** A topology checkpoint: small, so always one part and one transaction. */
export interface TopologyBatch {
  t: 'topo';
  batch: number;
  ops: TopologyOp[];
}

/** Rows of the topology file, as read back on restore. */
export interface StoredExchange {
  vhost: string;
  name: string;
  type: string;
  autoDelete: boolean;
  internal: boolean;
  arguments: string;
}

export interface StoredQueue {
  vhost: string;
  name: string;
  qid: number;
  shard: number;
  autoDelete: boolean;
  arguments: string;
}

export interface StoredBinding {
  vhost: string;
  exchange: string;
  queue: string;
  routingKey: string;
  arguments: string;
}

export interface StoredExchangeBinding {
  vhost: string;
  source: string;
  destination: string;
  routingKey: string;
  arguments: string;
}

/** One row of the settings table: a user, … as JSON. */
export interface StoredSetting {
  kind: string;
  key: string;
  value: string;
}

export interface StoredTopology {
  settings: StoredSetting[];
  exchanges: StoredExchange[];
  queues: StoredQueue[];
  bindings: StoredBinding[];
  exchangeBindings: StoredExchangeBinding[];
}

/** Rows of restored messages, in (qid, id) order; same columns as an insert. */
export interface RowsChunk {
  t: 'rows';
  shard: number;
  rows: Float64Array;
  strings: string[];
  content: Uint8Array;
}

/** Columns of one scheduled (delayed) message row in {@link DelayedPart.rows} and page replies. */
export const SCHED_STRIDE = 7;
export const SCH = { sid: 0, due: 1, id: 2, priority: 3, expiration: 4, routingKey: 5, contentLength: 6 } as const;
/** Columns of one scheduled-row delete: sid, due, id. */
export const SCHED_DEL_STRIDE = 3;

/**
 * One part of a checkpoint of `delayed.db`, the delayed exchanges' scheduled messages (same
 * part and transaction rules as {@link MessagesPart}).
 */
export interface DelayedPart {
  t: 'dmsgs';
  batch: number;
  first: boolean;
  last: boolean;
  rows: Float64Array;
  strings: string[];
  content: Uint8Array;
  del: Float64Array;
  /** Delayed-exchange incarnations whose messages all go (exchange deleted). */
  drop: number[];
}

/** Reads about `maxBytes` (at least one row) of one delayed exchange's messages after (due, id), in that order. */
export interface DelayedPageRequest {
  t: 'dpage';
  req: number;
  sid: number;
  due: number;
  id: number;
  maxBytes: number;
}

/** Scheduled rows as a worker sends them back. */
export interface ScheduledRows {
  rows: Float64Array;
  strings: string[];
  content: Uint8Array;
}

/** What `delayed.db` holds for one delayed exchange. */
export interface DelayedCount {
  sid: number;
  messages: number;
  maxId: number;
}

/** The shard number of `delayed.db` in `committed`/`failed` replies. */
export const DELAYED_SHARD = -2;

/** Main thread → sync worker. */
export type ToWorker =
  | DelayedPart
  | DelayedPageRequest
  /** Deletes scheduled messages of delayed exchanges not in `live`, then reports the counts of the rest. */
  | { t: 'read-delayed-counts'; live: number[] }
  | MessagesPart
  | TopologyBatch
  | { t: 'read-topology' }
  /** Deletes messages of queues not in `live` (orphans of a crash), then reports the counts of the rest. */
  | { t: 'read-counts'; live: number[] }
  | PageRequest
  /** Stream segments (stream-files.ts): `dir` is the stream's directory. */
  | { t: 'stream-write'; req: number; dir: string; parts: SegmentPart[] }
  | { t: 'stream-read'; req: number; dir: string; base: number; position: number; maxBytes: number }
  | { t: 'stream-scan'; req: number; dir: string }
  | { t: 'stream-drop'; dir: string; bases: number[] }
  | { t: 'stream-delete'; dir: string }
  /** Copies one file as committed to `path` (between transactions), for a follower's catch-up. */
  | { t: 'snapshot'; req: number; shard: number; path: string }
  | { t: 'close' };

/** Sync worker → main thread. */
export type FromWorker =
  | { t: 'ready'; shards: ShardSummary[]; topologyCreated: boolean; delayedCreated: boolean }
  | (ScheduledRows & { t: 'dpaged'; req: number })
  | { t: 'dpage-failed'; req: number; error: StoreErrorData }
  | { t: 'delayed-counts'; counts: DelayedCount[]; orphans: number; maxSid: number }
  | { t: 'fatal'; error: StoreErrorData }
  | { t: 'committed'; shard: number; batch: number }
  | { t: 'failed'; shard: number; batch: number; error: StoreErrorData }
  | { t: 'topology'; topology: StoredTopology }
  | { t: 'counts'; shard: number; counts: QueueCount[]; orphans: number }
  | (Omit<RowsChunk, 't'> & { t: 'paged'; req: number })
  | { t: 'page-failed'; req: number; error: StoreErrorData }
  | { t: 'read-failed'; error: StoreErrorData }
  | { t: 'stream-written'; req: number }
  | { t: 'stream-chunk'; req: number; chunk: Uint8Array }
  | { t: 'stream-scanned'; req: number; segments: SegmentInfo[] }
  | { t: 'stream-failed'; req: number; error: StoreErrorData }
  | { t: 'snapshotted'; req: number; error: StoreErrorData | null }
  | { t: 'closed' };

/** What a worker found in one of its queue files when it opened it. */
export interface ShardSummary {
  shard: number;
  /** From the file's queue counts: cheap at any size. */
  messages: number;
  maxQid: number;
  /** The file did not exist (or was empty) before this start. */
  created: boolean;
}

/** The shard number of the topology file in `committed`/`failed` replies. */
export const TOPOLOGY_SHARD = -1;

/** Settings a worker gets at start (`workerData`). */
export interface WorkerSetup {
  dataDir: string;
  /** Whether this worker owns the topology file. */
  topology: boolean;
  /** Whether this worker owns `delayed.db`. */
  delayed: boolean;
  /** The queue files (shard numbers) this worker owns. */
  shards: number[];
  synchronous: 'FULL' | 'NORMAL';
  /** Test hook: make write transactions fail (see StoreOptions.failWrites). */
  failWrites: FailWrites | null;
}
