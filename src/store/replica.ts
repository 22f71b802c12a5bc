import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { Logger } from '../log/logger.js';
import { StoreError, fromErrorData } from './errors.js';
import { DirLock } from './lock.js';
import { shardOfFile, storeFilePath } from './schema.js';
import { TOPOLOGY_SHARD, type MessagesPart, type TopologyBatch, type WorkerSetup } from './wire.js';
import { WorkerPool } from './worker-pool.js';

/** One change set as the leader's workers committed it: the parts of one transaction of one file. */
export interface ChangeSet {
  readonly shard: number;
  readonly parts: readonly (MessagesPart | TopologyBatch)[];
}

/**
 * A follower's copy of the leader's store: the same files, written by the same sync workers,
 * with no broker in front. The leader's committed change sets are applied in its commit order
 * per file, one transaction each, and reported committed in that order; on promotion the
 * replica is closed and the daemon opens and restores the files as after any restart.
 */
export class ReplicaStore {
  readonly dataDir: string;
  private readonly pool: WorkerPool;
  private readonly lock: DirLock;
  private readonly owner = new Map<number, number>();
  /** Per `shard:batch`: who waits for its commit. */
  private readonly pending = new Map<string, (err: Error | null) => void>();
  private closed = false;

  private constructor(dataDir: string, pool: WorkerPool, lock: DirLock, owner: Map<number, number>) {
    this.dataDir = dataDir;
    this.pool = pool;
    this.lock = lock;
    this.owner = owner;
  }

  /** Opens (creating if need be) the store files of `dataDir`, locked against any other daemon. */
  static async open(options: { dataDir: string; syncWorkers: number; synchronous: 'FULL' | 'NORMAL' }, log: Logger): Promise<ReplicaStore> {
    const dir = resolvePath(options.dataDir);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new StoreError('ERR_STORE_DIR', `cannot use data directory '${dir}': ${(err as Error).message}`, { cause: err });
    }
    const lock = DirLock.acquire(dir);
    try {
      const ids = new Set<number>();
      for (const name of readdirSync(dir)) {
        const id = shardOfFile(name);
        if (id !== null) ids.add(id);
      }
      const n = options.syncWorkers;
      const owner = new Map<number, number>([[TOPOLOGY_SHARD, 0]]);
      const setups: WorkerSetup[] = [];
      // delayed.db is not replicated, but it exists (empty), so a promoted follower starts with
      // its delayed exchanges empty instead of refusing a missing file.
      for (let w = 0; w < n; w++) setups.push({ dataDir: dir, topology: w === 0, delayed: w === n - 1, shards: [], synchronous: options.synchronous, failWrites: null });
      for (const id of ids) {
        owner.set(id, id % n);
        (setups[id % n] as WorkerSetup).shards.push(id);
      }
      let replica: ReplicaStore | null = null;
      const pool = new WorkerPool(setups, {
        message: (_w, m) => {
          if (m.t === 'committed') replica?.settle(m.shard, m.batch, null);
          else if (m.t === 'failed') replica?.settle(m.shard, m.batch, fromErrorData(m.error));
        },
        lost: (_w, err) => replica?.failAll(err),
        restored: () => undefined,
      });
      await pool.start();
      replica = new ReplicaStore(dir, pool, lock, owner);
      log.debug({ dataDir: dir, shards: [...ids] }, 'replica store open');
      return replica;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** Whether this replica has the file of `shard`. */
  has(shard: number): boolean {
    return this.owner.has(shard);
  }

  /** Applies one change set under `batch` (unique per file); `done` runs once it is committed here. */
  apply(set: ChangeSet, batch: number, done: (err: Error | null) => void): void {
    const w = this.owner.get(set.shard);
    if (this.closed || w === undefined) {
      done(new StoreError('ERR_STORE_MISSING', `the replica has no file for shard ${set.shard}`));
      return;
    }
    this.pending.set(`${set.shard}:${batch}`, done);
    for (const p of set.parts) this.pool.post(w, { ...p, batch });
  }

  private settle(shard: number, batch: number, err: Error | null): void {
    const key = `${shard}:${batch}`;
    const done = this.pending.get(key);
    this.pending.delete(key);
    done?.(err);
  }

  private failAll(err: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const done of waiting) done(err);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
    this.failAll(new StoreError('ERR_STORE_CLOSED', 'the replica store is closed'));
    this.lock.release();
  }

  /**
   * Replaces every store file of `dataDir` with the leader's copies (`files`: shard → path, on
   * the same file system). Call with no replica open on the directory.
   */
  static install(dataDir: string, files: ReadonlyMap<number, string>): void {
    const dir = resolvePath(dataDir);
    for (const name of readdirSync(dir)) {
      const base = name.replace(/-(wal|shm|journal)$/, '');
      if (base === 'topology.db' || shardOfFile(base) !== null) rmSync(resolvePath(dir, name), { force: true });
    }
    for (const [shard, path] of files) {
      renameSync(path, shard === TOPOLOGY_SHARD ? storeFilePath(dir, 'topology', 0) : storeFilePath(dir, 'queues', shard));
    }
  }
}
