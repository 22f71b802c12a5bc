import type { Broker } from '../broker/broker.js';
import type { Queue } from '../broker/queue.js';
import type { Logger } from '../log/logger.js';
import { decodeArgs } from './args-json.js';
import { StoreError, fromErrorData } from './errors.js';
import { storeFilePath } from './schema.js';
import { INS, INS_STRIDE, type FromWorker, type RowsChunk, type ShardSummary, type StoredSetting, type StoredTopology, type ToWorker } from './wire.js';

/**
 * All restore may do to the store: read what its workers found, talk to them, and hand back
 * the queues it rebuilt. The store builds one for its own restore; nothing else sees its insides.
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
}

/** What a restore brought back. */
export interface RestoreSummary {
  exchanges: number;
  queues: number;
  bindings: number;
  exchangeBindings: number;
  messages: number;
  /** Rows of queues the topology no longer has (a crash between the two files' commits), deleted. */
  orphans: number;
  ms: number;
}

/** Progress is logged at most this often while messages load. */
const PROGRESS_EVERY_MS = 1000;

/**
 * Rebuilds the broker: exchanges, queues and bindings first (STYLE §18), then each queue's
 * messages in (qid, id) order — the order they were enqueued, unacked ones first — streamed
 * from every worker in parallel. Messages that were delivered before the stop come back
 * redelivered. Anything that cannot be put back stops the start with a {@link StoreError}.
 */
export async function restoreStore(store: RestoreSource, broker: Broker, log: Logger): Promise<RestoreSummary> {
  const started = Date.now();
  try {
    const topology = await readTopology(store);
    checkFiles(store, topology);
    store.keepSettings(topology.settings);
    const byQid = rebuildTopology(store, broker, topology, log);
    let maxQid = 0;
    for (const q of topology.queues) maxQid = Math.max(maxQid, q.qid);
    for (const s of store.opened.shards) maxQid = Math.max(maxQid, s.maxQid);
    store.qidsFrom(maxQid + 1);
    const { messages, orphans } = await readMessages(store, broker, byQid, log);
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

function rebuildTopology(store: RestoreSource, broker: Broker, t: StoredTopology, log: Logger): Map<number, Queue> {
  for (const x of t.exchanges) {
    attempt('exchange', x.name, () =>
      broker.declareExchange(x.name, x.type, { durable: true, autoDelete: x.autoDelete, internal: x.internal, arguments: decodeArgs(x.arguments) }, false),
    );
  }
  const byQid = new Map<number, Queue>();
  for (const r of t.queues) {
    const q = attempt('queue', r.name, () =>
      broker.declareQueue(r.name, { durable: true, exclusive: false, autoDelete: r.autoDelete, arguments: decodeArgs(r.arguments) }, false, null),
    );
    store.adopt(q, r.qid, r.shard);
    byQid.set(r.qid, q);
  }
  for (const b of t.bindings) {
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

function readMessages(store: RestoreSource, broker: Broker, byQid: Map<number, Queue>, log: Logger): Promise<{ messages: number; orphans: number }> {
  const total = store.opened.shards.reduce((n, s) => n + s.messages, 0);
  let left = store.opened.shards.length;
  let messages = 0;
  let orphans = 0;
  let loggedAt = Date.now();
  return new Promise((resolve, reject) => {
    if (left === 0) resolve({ messages, orphans });
    store.onReply((w: number, m: FromWorker) => {
      try {
        if (m.t === 'rows') {
          messages += restoreRows(broker, byQid, m);
          store.post(w, { t: 'credit' });
          if (Date.now() - loggedAt >= PROGRESS_EVERY_MS) {
            loggedAt = Date.now();
            log.info({ restored: messages, total }, 'restoring messages');
          }
        } else if (m.t === 'rows-done') {
          orphans += m.orphans;
          if (--left === 0) resolve({ messages, orphans });
        } else if (m.t === 'read-failed') {
          reject(fromErrorData(m.error));
        }
      } catch (err) {
        reject(err as Error);
      }
    });
    for (let w = 0; w < store.workerCount; w++) store.post(w, { t: 'read-messages', live: [...byQid.keys()] });
  });
}

function restoreRows(broker: Broker, byQid: Map<number, Queue>, chunk: RowsChunk): number {
  const rows = chunk.rows;
  const content = Buffer.from(chunk.content.buffer, chunk.content.byteOffset, chunk.content.byteLength);
  let off = 0;
  let n = 0;
  for (let i = 0; i < rows.length; i += INS_STRIDE) {
    const qid = rows[i + INS.qid] as number;
    const len = rows[i + INS.contentLength] as number;
    const q = byQid.get(qid);
    if (q === undefined) throw new StoreError('ERR_STORE_CORRUPT', `stored message ${rows[i + INS.id]} belongs to unknown queue incarnation ${qid}`);
    // Own copy: a view would pin the whole chunk for as long as any one message lives.
    const bytes = Buffer.from(content.subarray(off, off + len));
    off += len;
    const deliveryCount = rows[i + INS.deliveryCount] as number;
    broker.restoreMessage(
      q,
      rows[i + INS.id] as number,
      chunk.strings[rows[i + INS.exchange] as number] as string,
      chunk.strings[rows[i + INS.routingKey] as number] as string,
      bytes,
      // Delivered before the stop and still here: it was unacked, so it comes back redelivered.
      rows[i + INS.redelivered] === 1 || deliveryCount > 0,
      deliveryCount,
      rows[i + INS.priority] as number,
      rows[i + INS.expiration] as number,
      rows[i + INS.expiresAt] as number,
    );
    n++;
  }
  return n;
}
