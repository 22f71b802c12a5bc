/**
 * What the admin methods carry (SPEC §3.7): the status map and the rows of each listing. The
 * daemon builds these and the client reads them, so both sides share one definition.
 */

/** The listings `admin.list` knows, in the order the CLI shows them in help. */
export const ADMIN_LIST_KINDS = [
  'exchanges',
  'queues',
  'bindings',
  'connections',
  'consumers',
  'users',
  'permissions',
  'topic-permissions',
  'policies',
  'operator-policies',
  'vhosts',
  'vhost-limits',
  'user-limits',
] as const;
export type AdminListKind = (typeof ADMIN_LIST_KINDS)[number];

export function isAdminListKind(kind: string): kind is AdminListKind {
  return (ADMIN_LIST_KINDS as readonly string[]).includes(kind);
}

/** One virtual host (`admin.list vhosts`). */
export interface VhostRow {
  name: string;
  description: string;
  tags: string[];
  /** Counts now, for `skiff list vhosts`. */
  exchanges: number;
  queues: number;
  connections: number;
}

/** One exchange (`admin.list exchanges`). The default exchange is listed with name `""`. */
export interface ExchangeRow {
  name: string;
  type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
  /** Number of bindings from this exchange. */
  bindings: number;
  /** `x-delayed-message` exchanges only: messages waiting for their due time (RabbitMQ's `messages_delayed`). */
  messagesDelayed?: number;
}

/** One queue (`admin.list queues`). */
export interface QueueRow {
  name: string;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
  /** Id of the owning connection for exclusive queues, else null. */
  owner: string | null;
  messagesReady: number;
  messagesUnacked: number;
  /** Body bytes of the ready messages. */
  readyBytes: number;
  consumers: number;
  /** Messages enqueued and handed out since the queue was created (this daemon run). */
  published: number;
  delivered: number;
  /** `classic` or `stream` (`x-queue-type`). */
  type: 'classic' | 'stream';
  /** A stream's log (SPEC §3.4.5); null for a classic queue. */
  stream: StreamInfo | null;
}

/** What a stream holds: its offset range, segments, and the stored offsets of named consumers. */
export interface StreamInfo {
  firstOffset: number;
  /** The newest written message's offset; firstOffset - 1 when the stream is empty. */
  lastOffset: number;
  segments: number;
  bytes: number;
  /** False while a restart still reads its segment files. */
  loaded: boolean;
  /** Offset tracking: the next offset each named consumer reads. */
  consumerOffsets: Record<string, number>;
}

/** One binding (`admin.list bindings`); the default exchange's implicit bindings are not listed. */
export interface BindingRow {
  /** Exchange name. */
  source: string;
  /** Queue or exchange name. */
  destination: string;
  /** `exchange` for an exchange → exchange binding. */
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: Record<string, unknown>;
}

/** One open connection (`admin.list connections`). */
export interface ConnectionRow {
  /** The id `admin.close-connection` takes (`c1`, `c2`, …; unique per daemon run). */
  id: string;
  /** The client's `connectionName`, else `peer -> local` addresses. */
  name: string;
  /** The protocol it speaks: `Skiff 1.0`, `AMQP 0-9-1`. */
  protocol: string;
  user: string;
  /** The vhost it opened. */
  vhost: string;
  peer: string;
  /** ms since the epoch. */
  connectedAt: number;
  channels: number;
  heartbeatMs: number;
  publishes: number;
  bytesIn: number;
  /** The client's `product` property, '' when it sent none. */
  client: string;
}

/** One consumer (`admin.list consumers`). */
export interface ConsumerRow {
  queue: string;
  tag: string;
  /** Connection id. */
  connection: string;
  channel: number;
  noAck: boolean;
  exclusive: boolean;
  /** Per-consumer prefetch, 0 = unlimited. */
  prefetch: number;
  unacked: number;
}

/** One user (`admin.list users`); hashes are never listed. */
export interface UserRow {
  name: string;
  tags: string[];
  /** `config` (the config file's `[[users]]`), `builtin` (guest) or `runtime` (added with `admin.put`). */
  source: string;
}

/** One user's permissions in one vhost (`admin.list permissions`). */
export interface PermissionRow {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

export interface AdminListRows {
  exchanges: ExchangeRow;
  queues: QueueRow;
  bindings: BindingRow;
  connections: ConnectionRow;
  consumers: ConsumerRow;
  users: UserRow;
  permissions: PermissionRow;
  'topic-permissions': TopicPermissionRow;
  policies: PolicyRow;
  'operator-policies': PolicyRow;
  vhosts: VhostRow;
  'vhost-limits': LimitRow;
  'user-limits': LimitRow;
}

/** RabbitMQ's topic permissions: regular expressions over routing keys on one topic exchange. */
export interface TopicPermissionRow {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}

/** The limits of one vhost or user (`max-connections`, `max-queues`, `max-channels`). */
export interface LimitRow {
  /** The vhost or user name. */
  name: string;
  value: Record<string, number>;
}

/** A policy or operator policy as RabbitMQ lists one (`rabbitmqctl list_policies`, SPEC §3.7.6). */
export interface PolicyRow {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': string;
  priority: number;
  definition: Record<string, unknown>;
}

/** What `admin.put` and `admin.delete` change (SPEC §3.7.6). */
export const ADMIN_PUT_KINDS = ['user', 'permission', 'topic-permission', 'policy', 'operator-policy', 'vhost', 'vhost-limits', 'user-limits'] as const;
export type AdminPutKind = (typeof ADMIN_PUT_KINDS)[number];

/** Memory figures of the daemon process, bytes. */
export interface MemoryStatus {
  rss: number;
  heapUsed: number;
  /** Bytes of ArrayBuffers and Buffers outside the JavaScript heap (message bodies, pages read from the store), garbage not yet collected included. */
  arrayBuffers: number;
  /** Body bytes of queued (ready and unacked) messages, the figure the watermark applies to. */
  queuedBytes: number;
  /** `memory_high_watermark`; 0 = no limit. */
  highWatermark: number;
  /** True while publishers are blocked (SPEC §3.1.4). */
  blocked: boolean;
  /** The alarms in force, which block publishers: `memory`, `store`, `disk`. */
  alarms: string[];
}

/** The durable store's part of `status`: checkpoint lag and health. */
export interface StoreStatus {
  dataDir: string;
  syncWorkers: number;
  /** Queue files (message shards). */
  shards: number;
  /** Bytes recorded but not yet committed (bounded by max_pending_bytes). */
  pendingBytes: number;
  /** Age in ms of the oldest change not yet committed; 0 when everything is written. */
  checkpointLagMs: number;
  checkpointsInFlight: number;
  /** Committed checkpoints (one per shard transaction) since start. */
  checkpoints: number;
  failedCheckpoints: number;
  /** Wall time (ms since the epoch) of the last commit, or null. */
  lastCheckpointAt: number | null;
  /** The last write error, kept until a later checkpoint of the same shard succeeds. */
  lastError: string | null;
  /** Publisher confirms waiting for a commit. */
  confirmsWaiting: number;
  /** Whether the store is holding publishers back (pending bytes over the bound). */
  blockingPublishers: boolean;
  /** Rows committed since start: messages inserted, delivery updates, removals. */
  written: { messages: number; updates: number; removals: number };
  /** Paging: the memory budgets, what ready messages of durable queues hold of them, page-ins. */
  paging: { queueBudget: number; totalBudget: number; used: number; pageInsInFlight: number; pageIns: number; pagedInMessages: number };
  /**
   * The restore of the last start (topology, then each queue's counts; messages are paged in
   * after): what came back, stored rows of lost queues deleted, and how long until serving.
   */
  restore: { exchanges: number; queues: number; bindings: number; exchangeBindings: number; messages: number; orphans: number; ms: number } | null;
  /**
   * Durable queues with messages only on disk (a restored backlog still being paged in, or one
   * past its budget), and any that cannot page in.
   */
  backlogs: { queue: string; ready: number; onDisk: number; loading: boolean; error: string | null }[];
}

/** `admin.status-ok`: a snapshot of the daemon. */
export interface ServerStatus {
  version: string;
  node: string;
  pid: number;
  uptimeMs: number;
  connections: number;
  channels: number;
  consumers: number;
  exchanges: number;
  queues: number;
  messagesReady: number;
  messagesUnacked: number;
  /** Totals since start. */
  published: number;
  delivered: number;
  unroutable: number;
  /** Messages per second over the last few seconds. */
  publishRate: number;
  deliverRate: number;
  memory: MemoryStatus;
  /** Checkpoint lag of the durable store; null when the daemon runs without one. */
  store: StoreStatus | null;
  /** This node's part in a cluster (`skiff server --cluster`); null or absent when it runs alone. */
  cluster?: ClusterStatus | null;
}

/** One follower as the leader sees it. */
export interface ClusterFollowerStatus {
  node: string;
  /** Where its replication connection comes from. */
  address: string;
  /** `snapshot`: receiving a copy of every file; `streaming`: applying change sets as they commit. */
  state: 'snapshot' | 'streaming';
  inSync: boolean;
  /** The last change set it committed (the leader numbers them from 1 each term). */
  ackedIndex: number;
  /** Change sets, and their bytes, the leader committed that it has not yet acknowledged. */
  lagChanges: number;
  lagBytes: number;
  /** Age of the oldest change set it has not acknowledged. */
  lagSeconds: number;
}

/** A node as it last reported itself in etcd (every second, under a lease of its own). */
export interface ClusterNodeStatus {
  node: string;
  role: 'leader' | 'follower' | 'candidate';
  term: number;
  /** Client address (native protocol); the leader serves there, a follower refuses with a redirect. */
  native: string;
  /** On a follower: what it has applied of the leader's change sets. */
  appliedIndex: number | null;
}

/** This node's part in a cluster. */
export interface ClusterStatus {
  cluster: string;
  node: string;
  role: 'leader' | 'follower' | 'candidate';
  /** The leader's term (its election revision in etcd; the fencing token of replication). */
  term: number;
  /** The leader etcd names, with its addresses; null while there is none. */
  leader: { node: string; native?: string; amqp?: string | null; http?: string | null; replication?: string } | null;
  syncFollowers: number;
  /** On the leader: the in-sync set (the leader first), the last change set's index, each follower. */
  replication: { term: number; lastIndex: number; syncFollowers: number; inSync: string[]; followers: ClusterFollowerStatus[] } | null;
  /** On a follower: its replication of the leader. */
  following: { leader: string; term: number; state: 'connecting' | 'snapshot' | 'streaming'; appliedIndex: number; receivedIndex: number; applying: number } | null;
  /** Every node that reported itself in etcd lately. */
  nodes: ClusterNodeStatus[];
}
