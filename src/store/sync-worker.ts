/**
 * A sync worker (worker_threads entry). It owns its files outright — the topology file if
 * asked, and some queue files — with its own read-write SQLite connections, so workers never
 * contend for a database lock and the pool writes in parallel (STYLE §17). It runs one
 * transaction per checkpoint and posts back which one committed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError, toErrorData } from './errors.js';
import Database from 'better-sqlite3';
import { DelayedFile } from './delayed-file.js';
import { PageReader, QueueFile } from './queue-file.js';
import { openStoreFile, storeFilePath, storeReadError } from './schema.js';
import { TopologyFile } from './topology-file.js';
import { closeStreams, deleteStream, dropSegments, readSegment, scanStream, writeParts } from './stream-files.js';
import { DELAYED_SHARD, TOPOLOGY_SHARD, type DelayedPageRequest, type DelayedPart, type FromWorker, type ShardSummary, type MessagesPart, type PageRequest, type ToWorker, type TopologyBatch, type WorkerSetup } from './wire.js';

const setup = workerData as WorkerSetup;
const port = parentPort;
if (port === null) throw new Error('sync-worker must run as a worker thread');

let topology: TopologyFile | null = null;
let delayed: DelayedFile | null = null;
const queueFiles = new Map<number, QueueFile>();
/** Per shard (`delayed.db` as DELAYED_SHARD): the batch whose transaction is open; parts of any other (failed, stale) are skipped. */
const openBatch = new Map<number, number>();
/** Per shard: whether the open transaction is one fault injection picked to fail. */
const doomed = new Map<number, boolean>();
/** Per shard: snapshots asked for while a transaction was open, taken once it ends. */
const deferredSnapshots = new Map<number, { req: number; path: string }[]>();
/** Write transactions started, for fault injection. */
const transactions = { all: 0, topology: 0, queues: 0 };

function post(m: FromWorker, transfer?: ArrayBuffer[]): void {
  (port as NonNullable<typeof port>).postMessage(m, transfer);
}

/** Test hook (StoreOptions.failWrites): whether this transaction is one that must fail midway. */
function pickFault(kind: 'topology' | 'queues'): boolean {
  transactions.all++;
  transactions[kind]++;
  const f = setup.failWrites;
  if (f === null || (f.file !== undefined && f.file !== kind)) return false;
  const n = f.file === undefined ? transactions.all : transactions[kind];
  return n >= f.nth && n < f.nth + f.times;
}

function injected(): void {
  if (setup.failWrites?.exit === true) process.exit(1);
  throw new Error('injected write failure (SKIFF_STORE_FAIL_WRITES)');
}

function open(): void {
  try {
    let topologyCreated = false;
    if (setup.topology) {
      const file = storeFilePath(setup.dataDir, 'topology', 0);
      const { db, created } = openStoreFile(file, 'topology', setup.synchronous);
      topology = new TopologyFile(db, file);
      topologyCreated = created;
    }
    let delayedCreated = false;
    if (setup.delayed) {
      const file = storeFilePath(setup.dataDir, 'delayed', 0);
      const { db, created } = openStoreFile(file, 'delayed', setup.synchronous);
      delayed = new DelayedFile(db, file);
      delayedCreated = created;
    }
    const shards: ShardSummary[] = [];
    for (const shard of setup.shards) {
      const file = storeFilePath(setup.dataDir, 'queues', shard);
      const { db, created } = openStoreFile(file, 'queues', setup.synchronous);
      const q = new QueueFile(db, shard, file);
      queueFiles.set(shard, q);
      shards.push({ shard, created, ...q.summary() });
    }
    post({ t: 'ready', shards, topologyCreated, delayedCreated });
  } catch (err) {
    closeAll();
    post({ t: 'fatal', error: toErrorData(err, 'ERR_STORE_WORKER') });
  }
}

/** What {@link writePart} needs of a queue file or `delayed.db`. */
interface PartFile<P> {
  readonly file: string;
  rollback(): void;
  begin(): void;
  commit(): void;
  checkpointWal(): void;
  apply(part: P, fail: (() => void) | null): void;
}

function writeMessages(m: MessagesPart): void {
  const file = queueFiles.get(m.shard);
  writePart(m.shard, file, m, `shard ${m.shard} is not owned by this worker`, () => queueFiles.get(m.shard) === file);
}

function writeDelayed(m: DelayedPart): void {
  const file = delayed;
  writePart(DELAYED_SHARD, file, m, 'delayed.db is not owned by this worker', () => delayed === file);
}

/**
 * Applies one part of a checkpoint to its file: the first opens the transaction, the last
 * commits it, and parts of a batch whose transaction is not the open one (failed, stale) are
 * skipped. `owned` tells, after the reply, whether the file is still this worker's.
 */
function writePart<P extends { batch: number; first: boolean; last: boolean }>(
  shard: number,
  file: PartFile<P> | null | undefined,
  m: P,
  missing: string,
  owned: () => boolean,
): void {
  if (file === undefined || file === null) {
    post({ t: 'failed', shard, batch: m.batch, error: { code: 'ERR_STORE_WORKER', message: missing } });
    return;
  }
  try {
    if (m.first) {
      file.rollback();
      file.begin();
      openBatch.set(shard, m.batch);
      doomed.set(shard, pickFault('queues'));
    } else if (openBatch.get(shard) !== m.batch) {
      return;
    }
    file.apply(m, m.last && doomed.get(shard) === true ? injected : null);
    if (m.last) {
      openBatch.delete(shard);
      file.commit();
      post({ t: 'committed', shard, batch: m.batch });
      takeDeferredSnapshots(shard);
      setImmediate(() => walCheckpoint(file, owned));
    }
  } catch (err) {
    file.rollback();
    openBatch.delete(shard);
    post({ t: 'failed', shard, batch: m.batch, error: writeError(err, file.file) });
    takeDeferredSnapshots(shard);
  }
}

/**
 * A snapshot of one file as committed (VACUUM INTO). Replies come in order, so the main thread
 * knows exactly which commits the copy holds: those it heard of before this reply.
 */
function snapshot(req: number, shard: number, path: string): void {
  const q = shard === TOPOLOGY_SHARD ? null : queueFiles.get(shard);
  if (q !== null && q !== undefined && q.inTransaction) {
    const list = deferredSnapshots.get(shard) ?? [];
    list.push({ req, path });
    deferredSnapshots.set(shard, list);
    return;
  }
  try {
    if (shard === TOPOLOGY_SHARD) {
      if (topology === null) throw new StoreError('ERR_STORE_WORKER', 'this worker does not own the topology file');
      topology.snapshotInto(path);
    } else {
      if (q === undefined || q === null) throw new StoreError('ERR_STORE_WORKER', `shard ${shard} is not owned by this worker`);
      q.snapshotInto(path);
    }
    post({ t: 'snapshotted', req, error: null });
  } catch (err) {
    post({ t: 'snapshotted', req, error: toErrorData(err, 'ERR_STORE_WRITE') });
  }
}

function takeDeferredSnapshots(shard: number): void {
  const list = deferredSnapshots.get(shard);
  if (list === undefined) return;
  deferredSnapshots.delete(shard);
  for (const s of list) snapshot(s.req, shard, s.path);
}

/** After the reply: a failed WAL copy loses nothing (the WAL holds it) and is tried again later. */
function walCheckpoint(file: { checkpointWal(): void }, owned: () => boolean): void {
  try {
    if (owned()) file.checkpointWal();
  } catch {
    // The next commit tries again; SQLite also copies the WAL back when the file is closed.
  }
}

function readDelayedPage(r: DelayedPageRequest): void {
  try {
    if (delayed === null) throw new StoreError('ERR_STORE_WORKER', 'delayed.db is not owned by this worker');
    const chunk = delayed.page(r);
    post({ t: 'dpaged', req: r.req, ...chunk }, [chunk.rows.buffer as ArrayBuffer, chunk.content.buffer as ArrayBuffer]);
  } catch (err) {
    post({ t: 'dpage-failed', req: r.req, error: toErrorData(storeReadError(err, storeFilePath(setup.dataDir, 'delayed', 0)), 'ERR_STORE_CORRUPT') });
  }
}

function writeTopology(m: TopologyBatch): void {
  const file = topology;
  if (file === null) return;
  try {
    file.apply(m.ops, pickFault('topology') ? injected : null);
    post({ t: 'committed', shard: TOPOLOGY_SHARD, batch: m.batch });
  } catch (err) {
    post({ t: 'failed', shard: TOPOLOGY_SHARD, batch: m.batch, error: writeError(err, file.file) });
  }
}

function writeError(err: unknown, file: string): { code: 'ERR_STORE_WRITE'; message: string } {
  return { code: 'ERR_STORE_WRITE', message: `checkpoint of '${file}' failed: ${(err as Error).message}` };
}

function readCounts(live: number[]): void {
  let file: QueueFile | null = null;
  try {
    for (const q of queueFiles.values()) {
      file = q;
      post({ t: 'counts', shard: q.shard, ...q.counts(live) });
    }
  } catch (err) {
    post({ t: 'read-failed', error: toErrorData(file === null ? err : storeReadError(err, file.file), 'ERR_STORE_CORRUPT') });
  }
}

/**
 * Read-only connections for page-ins, one per queue file, opened at its first page-in — to the
 * files this worker owns too: a page-in never runs on a writing connection, where it would see
 * the rows of a checkpoint whose parts are still arriving. In WAL mode a reader sees the last
 * commit, whoever is writing the next.
 */
const readers = new Map<number, PageReader>();

function readerOf(shard: number): PageReader {
  let r = readers.get(shard);
  if (r === undefined) {
    const db = new Database(storeFilePath(setup.dataDir, 'queues', shard), { readonly: true, fileMustExist: true, timeout: 1000 });
    r = new PageReader(db, shard);
    readers.set(shard, r);
  }
  return r;
}

/**
 * A page-in. Only committed messages are ever paged out, so a connection that reads after their
 * commit finds them (the store sends page-ins to another worker than the owner when it has
 * several, so reads and writes of one file run in parallel).
 */
function readPage(r: PageRequest): void {
  const file = storeFilePath(setup.dataDir, 'queues', r.shard);
  try {
    const chunk = readerOf(r.shard).page(r);
    post({ t: 'paged', req: r.req, ...chunk }, [chunk.rows.buffer as ArrayBuffer, chunk.content.buffer as ArrayBuffer]);
  } catch (err) {
    post({ t: 'page-failed', req: r.req, error: toErrorData(storeReadError(err, file), 'ERR_STORE_CORRUPT') });
  }
}

/** Stream segment work (stream-files.ts): errors answer the request, never kill the worker. */
function streamOp(m: Extract<ToWorker, { t: `stream-${string}` }>): void {
  try {
    switch (m.t) {
      case 'stream-write':
        writeParts(m.dir, m.parts, setup.synchronous === 'FULL');
        post({ t: 'stream-written', req: m.req });
        return;
      case 'stream-read': {
        const chunk = readSegment(m.dir, m.base, m.position, m.maxBytes);
        post({ t: 'stream-chunk', req: m.req, chunk }, [chunk.buffer as ArrayBuffer]);
        return;
      }
      case 'stream-scan':
        post({ t: 'stream-scanned', req: m.req, segments: scanStream(m.dir) });
        return;
      case 'stream-drop':
        dropSegments(m.dir, m.bases);
        return;
      case 'stream-delete':
        deleteStream(m.dir);
        return;
    }
  } catch (err) {
    if ('req' in m) post({ t: 'stream-failed', req: m.req, error: { code: m.t === 'stream-write' ? 'ERR_STORE_WRITE' : 'ERR_STORE_CORRUPT', message: `${m.t} in '${m.dir}': ${(err as Error).message}` } });
  }
}

function closeAll(): void {
  closeStreams();
  for (const r of readers.values()) r.close();
  readers.clear();
  for (const q of queueFiles.values()) q.close();
  queueFiles.clear();
  topology?.close();
  topology = null;
  delayed?.close();
  delayed = null;
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'msgs':
      writeMessages(m);
      return;
    case 'topo':
      writeTopology(m);
      return;
    case 'read-topology':
      try {
        if (topology === null) throw new StoreError('ERR_STORE_WORKER', 'this worker does not own the topology file');
        post({ t: 'topology', topology: topology.read() });
      } catch (err) {
        post({ t: 'read-failed', error: toErrorData(storeReadError(err, topology?.file ?? 'topology.db'), 'ERR_STORE_CORRUPT') });
      }
      return;
    case 'read-counts':
      readCounts(m.live);
      return;
    case 'page':
      readPage(m);
      return;
    case 'stream-write':
    case 'stream-read':
    case 'stream-scan':
    case 'stream-drop':
    case 'stream-delete':
      streamOp(m);
      return;
    case 'dmsgs':
      writeDelayed(m);
      return;
    case 'dpage':
      readDelayedPage(m);
      return;
    case 'read-delayed-counts':
      try {
        if (delayed === null) throw new StoreError('ERR_STORE_WORKER', 'delayed.db is not owned by this worker');
        post({ t: 'delayed-counts', ...delayed.counts(m.live) });
      } catch (err) {
        post({ t: 'read-failed', error: toErrorData(storeReadError(err, storeFilePath(setup.dataDir, 'delayed', 0)), 'ERR_STORE_CORRUPT') });
      }
      return;
    case 'snapshot':
      snapshot(m.req, m.shard, m.path);
      return;
    case 'close':
      for (const q of queueFiles.values()) q.rollback();
      delayed?.rollback();
      closeAll();
      post({ t: 'closed' });
      port.close();
      return;
  }
});

open();
