import type { Broker } from '../broker/broker.js';
import { VirtualHosts } from '../broker/vhosts.js';
import type { Queue } from '../broker/queue.js';
import type { Logger } from '../log/logger.js';
import { decodeArgs } from './args-json.js';
import { StoreError, fromErrorData } from './errors.js';
import { storeFilePath } from './schema.js';
import type { FromWorker, QueueCount, ShardSummary, StoredSetting, StoredTopology, ToWorker } from './wire.js';

/**
 * All restore may do to the store: read what its workers found, talk to them, hand back the
 * queues it rebuilt, and start the store recording once the topology is back. The store builds
 * one for its own restore; nothing else sees its insides.
 */
export interface RestoreSource {
  readonly dataDir: string;
  /** What the workers found when they opened their files. */
  readonly opened: { readonly shards: readonly ShardSummary[]; readonly topologyCreated: boolean };
  readonly workerCount: number;
  /** Whether the queue file of `shard` exists. */
  hasQueueFile(shard: number): boolean;
  /** A request to a worker; its replies go to the `onReply` handler. */
  post(worker: number, m: ToWorker): void;
  /** Where worker replies go while restore runs; null hands them back to the store. */
  onReply(handler: ((worker: number, m: FromWorker) => void) | null): void;
  /** A rebuilt queue and where its messages live, for checkpoints from now on. */
  adopt(queue: Queue, qid: number, shard: number): void;
  /** New queues get ids from `next` up (every id below is taken). */
  qidsFrom(next: number): void;
  /** The run-time settings (users, permissions, limits) the topology file holds. */
  keepSettings(settings: StoredSetting[]): void;
  /**
   * From now on the broker's changes are recorded and checkpointed (a restored message that
   * expires while being paged in is deleted for good).
   */
  startRecording(): void;
  /** Resolves once the page-ins under way have landed (every queue's first page), not the read-ahead after them. */
  pageInsSettled(): Promise<void>;
}

/** What a restore brought back. */
export interface RestoreSummary {
  exchanges: number;
  queues: number;
  bindings: number;
  exchangeBindings: number;
  /** Messages stored for the restored queues (counted, not read: they are paged in as needed). */
  messages: number;
  /** Rows of queues the topology no longer has (a crash between the two files' commits), deleted. */
  orphans: number;
  /** Until the listener accepted connections: topology, counts, and every queue's first page. */
  ms: number;
}

/**
 * Rebuilds the broker: exchanges, queues and bindings first (STYLE §18), then each queue's
 * stored backlog — counted, not read: the queue pages its messages in, oldest first, as its
 * consumers need them, so a restart costs the same for 10 messages or 10 million. Restore waits
 * for each queue's first page, so a consumer's first delivery does not wait on the disk and a
 * damaged file is found before clients come. Messages that were delivered before the stop come
 * back redelivered. Anything that cannot be put back stops the start with a {@link StoreError}.
 */
export async function restoreStore(store: RestoreSource, target: Broker | VirtualHosts, log: Logger): Promise<RestoreSummary> {
  const vhosts = target instanceof VirtualHosts ? target : new VirtualHosts(target);
  const broker = vhosts.defaultVhost;
  const started = Date.now();
  try {
    const topology = await readTopology(store);
    checkFiles(store, topology);
    store.keepSettings(topology.settings);
    const byQid = rebuildTopology(store, vhosts, topology, log);
    let maxQid = 0;
    for (const q of topology.queues) maxQid = Math.max(maxQid, q.qid);
    for (const s of store.opened.shards) maxQid = Math.max(maxQid, s.maxQid);
    store.qidsFrom(maxQid + 1);
    const { counts, orphans } = await readCounts(store, byQid).catch((err: unknown) => {
      throw namingQueues(err, store.dataDir, topology.queues);
    });
    log.debug({ ms: Date.now() - started }, 'topology and queue counts read');
    store.startRecording();
    const messages = restoreBacklogs(broker, byQid, counts, log);
    const failures: Error[] = [];
    const off = watchPageFailures(broker, failures);
    try {
      await store.pageInsSettled();
    } finally {
      off();
    }
    if (failures.length !== 0) throw failures[0] as Error;
    const summary: RestoreSummary = {
      exchanges: topology.exchanges.length,
      queues: topology.queues.length,
      bindings: topology.bindings.length,
      exchangeBindings: topology.exchangeBindings.length,
      messages,
      orphans,
      ms: Date.now() - started,
    };
    log.info(summary, 'store restored');
    return summary;
  } finally {
    store.onReply(null);
  }
}

function readTopology(store: RestoreSource): Promise<StoredTopology> {
  return new Promise((resolve, reject) => {
    store.onReply((_w, m) => {
      if (m.t === 'topology') resolve(m.topology);
      else if (m.t === 'read-failed') reject(fromErrorData(m.error));
    });
    store.post(0, { t: 'read-topology' });
  });
}

/** A queue file that was just created where the topology expects messages means it was lost. */
function checkFiles(store: RestoreSource, topology: StoredTopology): void {
  const created = new Set(store.opened.shards.filter((s) => s.created).map((s) => s.shard));
  const stored = store.opened.shards.reduce((n, s) => n + s.messages, 0);
  if (store.opened.topologyCreated && stored !== 0) {
    throw new StoreError(
      'ERR_STORE_MISSING',
      `'${storeFilePath(store.dataDir, 'topology', 0)}' is missing but the queue files hold ${stored} messages; refusing to start without the queues they belong to`,
    );
  }
  for (const q of topology.queues) {
    if (!store.hasQueueFile(q.shard) || created.has(q.shard)) {
      throw new StoreError(
        'ERR_STORE_MISSING',
        `queue '${q.name}' keeps its messages in '${storeFilePath(store.dataDir, 'queues', q.shard)}', which is missing; refusing to start without them`,
      );
    }
  }
}

/**
 * Each row goes to the broker of its vhost. A vhost the rows name is made here (its settings row
 * comes back with the rest of the settings, and the vhost directory takes it then).
 */
function rebuildTopology(store: RestoreSource, vhosts: VirtualHosts, t: StoredTopology, log: Logger): Map<number, Queue> {
  const vhost = (name: string): Broker => vhosts.get(name) ?? vhosts.add(name);
  for (const s of t.settings) if (s.kind === 'vhost') vhost(s.key);
  for (const x of t.exchanges) {
    const broker = vhost(x.vhost);
    attempt('exchange', x.name, () =>
      broker.declareExchange(x.name, x.type, { durable: true, autoDelete: x.autoDelete, internal: x.internal, arguments: decodeArgs(x.arguments) }, false),
    );
  }
  const byQid = new Map<number, Queue>();
  for (const r of t.queues) {
    const broker = vhost(r.vhost);
    const q = attempt('queue', r.name, () =>
      broker.declareQueue(r.name, { durable: true, exclusive: false, autoDelete: r.autoDelete, arguments: decodeArgs(r.arguments) }, false, null),
    );
    store.adopt(q, r.qid, r.shard);
    byQid.set(r.qid, q);
  }
  for (const b of t.bindings) {
    const broker = vhost(b.vhost);
    if (!broker.exchanges.has(b.exchange) || !broker.queues.has(b.queue)) {
      // Cannot happen with one transaction per checkpoint; a routing gap is better than no start.
      log.warn({ exchange: b.exchange, queue: b.queue, routingKey: b.routingKey }, 'stored binding has a missing end; skipped');
      continue;
    }
    attempt('binding', `${b.exchange} -> ${b.queue} (${b.routingKey})`, () =>
      broker.bind(b.queue, b.exchange, b.routingKey, decodeArgs(b.arguments), null),
    );
  }
  for (const b of t.exchangeBindings) {
    const broker = vhost(b.vhost);
    if (!broker.exchanges.has(b.source) || !broker.exchanges.has(b.destination)) {
      log.warn({ source: b.source, destination: b.destination, routingKey: b.routingKey }, 'stored exchange binding has a missing end; skipped');
      continue;
    }
    attempt('exchange binding', `${b.source} -> ${b.destination} (${b.routingKey})`, () =>
      broker.bindExchange(b.destination, b.source, b.routingKey, decodeArgs(b.arguments)),
    );
  }
  return byQid;
}

function attempt<T>(kind: string, name: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new StoreError('ERR_STORE_RESTORE', `cannot restore ${kind} '${name}': ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A queue file that cannot be read, reported with the queues whose messages it holds: the
 * operator restores or moves away a file knowing what is at stake.
 */
export function namingQueues(err: unknown, dataDir: string, queues: readonly { name: string; shard: number }[]): unknown {
  if (!(err instanceof StoreError) || err.code !== 'ERR_STORE_CORRUPT') return err;
  const m = /queues-(\d+)\.db'/.exec(err.message);
  if (m === null || !err.message.includes(`'${storeFilePath(dataDir, 'queues', Number(m[1]))}'`)) return err;
  const names = queues.filter((q) => q.shard === Number(m[1])).map((q) => `'${q.name}'`);
  if (names.length === 0) return err;
  const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  return new StoreError(err.code, `${err.message}; it holds the messages of queue${names.length === 1 ? '' : 's'} ${shown}`, { cause: err });
}

function readCounts(store: RestoreSource, byQid: Map<number, Queue>): Promise<{ counts: QueueCount[]; orphans: number }> {
  let left = store.opened.shards.length;
  const counts: QueueCount[] = [];
  let orphans = 0;
  return new Promise((resolve, reject) => {
    if (left === 0) resolve({ counts, orphans });
    store.onReply((_w: number, m: FromWorker) => {
      if (m.t === 'counts') {
        for (const c of m.counts) counts.push(c);
        orphans += m.orphans;
        if (--left === 0) resolve({ counts, orphans });
      } else if (m.t === 'read-failed') {
        reject(fromErrorData(m.error));
      }
    });
    for (let w = 0; w < store.workerCount; w++) store.post(w, { t: 'read-counts', live: [...byQid.keys()] });
  });
}

/** Gives every queue its stored backlog (still on disk) and starts its first page-in; returns the message total. */
function restoreBacklogs(broker: Broker, byQid: Map<number, Queue>, counts: QueueCount[], log: Logger): number {
  const upTo = new Map<number, number>();
  let maxId = 0;
  for (const c of counts) {
    upTo.set(c.qid, Math.max(upTo.get(c.qid) ?? 0, c.maxId));
    maxId = Math.max(maxId, c.maxId);
  }
  // New messages take ids after every stored one, so they queue behind the restored backlog.
  broker.advanceMessageId(maxId + 1);
  let total = 0;
  const perQueue = new Map<Queue, number>();
  for (const c of counts) {
    const q = byQid.get(c.qid);
    if (q === undefined || c.messages <= 0) continue;
    q.restoreBacklog(c.priority, c.messages, c.bytes, upTo.get(c.qid) as number);
    perQueue.set(q, (perQueue.get(q) ?? 0) + c.messages);
    total += c.messages;
  }
  for (const [q, messages] of perQueue) log.info({ queue: q.name, messages }, 'queue backlog restored; paging in');
  return total;
}

/** Collects page-in failures while restore waits for the first pages. */
function watchPageFailures(broker: Broker, failures: Error[]): () => void {
  return broker.watchPageFailures((_q, err) => {
    if (err !== null) failures.push(err);
  });
}
