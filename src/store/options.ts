import { StoreError } from './errors.js';

/** Store settings (config keys in parentheses; see config.example.toml). */
export interface StoreOptions {
  /** Directory holding the SQLite files and the lock (`data_dir`, env SKIFF_DATA_DIR). Default `./data`. */
  dataDir: string;
  /** How often a checkpoint writes the delta since the last one (`checkpoint_interval_ms`). Default 1000. */
  checkpointIntervalMs: number;
  /** Size of the sync-worker pool (`sync_workers`). Default 2. */
  syncWorkers: number;
  /**
   * A checkpoint starts early once a confirm has waited this long (`max_confirm_delay_ms`).
   * Default 0: at the end of the event-loop turn, so a confirm costs about one commit; confirms
   * that arrive while a checkpoint is in flight join the next one (group commit). Raise it on
   * disks with slow fsync to put more confirms in each commit, at that much extra latency.
   */
  maxConfirmDelayMs: number;
  /** SQLite `synchronous` pragma (`synchronous`): FULL survives power loss, NORMAL only process crashes. Default FULL. */
  synchronous: 'FULL' | 'NORMAL';
  /** Pending (unwritten) delta bytes above which publishers are blocked (`max_pending_bytes`). Default 256 MiB. */
  maxPendingBytes: number;
  /**
   * Memory for the ready messages of one durable queue (`queue_memory_budget`): past it, its
   * persistent messages live only in the store and are paged in ahead of consumers. 0 = derived
   * from `memory_high_watermark` (see {@link resolveBudgets}).
   */
  queueMemoryBudget: number;
  /** The same for all durable queues together (`total_queue_memory_budget`); 0 = derived. */
  totalQueueMemoryBudget: number;
  /**
   * Test hook, not a config key: in every sync worker, write transactions `nth` to
   * `nth + times - 1` (counting from 1, only those on `file` files if given) fail midway and
   * roll back. Also set by the environment variable SKIFF_STORE_FAIL_WRITES=`nth[:times[:file]]`.
   */
  failWrites?: FailWrites | null;
}

/** See {@link StoreOptions.failWrites}. */
export interface FailWrites {
  nth: number;
  times: number;
  file?: 'topology' | 'queues';
  /**
   * Instead of failing the transaction, the worker thread exits in the middle of it (a crash).
   * Only a pool's first workers get this; their replacements run clean.
   */
  exit?: boolean;
}

export const DEFAULT_STORE_OPTIONS: StoreOptions = {
  dataDir: './data',
  checkpointIntervalMs: 1000,
  syncWorkers: 2,
  maxConfirmDelayMs: 0,
  synchronous: 'FULL',
  maxPendingBytes: 256 * 1024 * 1024,
  queueMemoryBudget: 0,
  totalQueueMemoryBudget: 0,
};

const MiB = 1024 * 1024;
/** Without a memory high watermark the budgets are taken relative to this. */
const REFERENCE_WATERMARK = 1024 * MiB;

/**
 * The paging budgets in force: as configured, or derived from the memory high watermark — a
 * queue 1/32 of it, all durable queues together 1/4 — so paging starts well before the memory
 * alarm would block publishers, and the alarm's headroom stays for transient messages.
 */
export function resolveBudgets(o: StoreOptions, memoryHighWatermark: number): { queueMemoryBudget: number; totalQueueMemoryBudget: number } {
  const reference = memoryHighWatermark > 0 ? memoryHighWatermark : REFERENCE_WATERMARK;
  const total = o.totalQueueMemoryBudget > 0 ? o.totalQueueMemoryBudget : Math.floor(reference / 4);
  const queue = o.queueMemoryBudget > 0 ? o.queueMemoryBudget : Math.min(total, Math.floor(reference / 32));
  return { queueMemoryBudget: queue, totalQueueMemoryBudget: Math.max(total, queue) };
}

/** Upper bound for `sync_workers`: more threads than this only contend for cores and disk. */
export const MAX_SYNC_WORKERS = 64;

/** Rejects options the store cannot run with, naming the config key. */
export function checkStoreOptions(o: StoreOptions): void {
  const bad = (key: string, value: unknown, want: string): never => {
    throw new StoreError('ERR_STORE_OPTIONS', `${key} must be ${want}, got ${JSON.stringify(value)}`);
  };
  if (typeof o.dataDir !== 'string' || o.dataDir === '') bad('data_dir', o.dataDir, 'a non-empty path');
  if (!Number.isInteger(o.checkpointIntervalMs) || o.checkpointIntervalMs < 1) bad('checkpoint_interval_ms', o.checkpointIntervalMs, 'an integer >= 1');
  if (!Number.isInteger(o.syncWorkers) || o.syncWorkers < 1 || o.syncWorkers > MAX_SYNC_WORKERS) {
    bad('sync_workers', o.syncWorkers, `an integer from 1 to ${MAX_SYNC_WORKERS}`);
  }
  if (!Number.isInteger(o.maxConfirmDelayMs) || o.maxConfirmDelayMs < 0) bad('max_confirm_delay_ms', o.maxConfirmDelayMs, 'an integer >= 0');
  if (o.synchronous !== 'FULL' && o.synchronous !== 'NORMAL') bad('synchronous', o.synchronous, '"FULL" or "NORMAL"');
  if (!Number.isInteger(o.maxPendingBytes) || o.maxPendingBytes < 1024 * 1024) bad('max_pending_bytes', o.maxPendingBytes, 'an integer >= 1048576');
  if (!Number.isInteger(o.queueMemoryBudget) || o.queueMemoryBudget < 0) bad('queue_memory_budget', o.queueMemoryBudget, 'an integer >= 0');
  if (!Number.isInteger(o.totalQueueMemoryBudget) || o.totalQueueMemoryBudget < 0) {
    bad('total_queue_memory_budget', o.totalQueueMemoryBudget, 'an integer >= 0');
  }
}

/** Parses SKIFF_STORE_FAIL_WRITES (`nth[:times[:topology|queues|any[:exit]]]`); null when unset. */
export function failWritesFromEnv(env: NodeJS.ProcessEnv): FailWrites | null {
  const v = env['SKIFF_STORE_FAIL_WRITES'];
  if (v === undefined || v === '') return null;
  const m = /^([1-9]\d*)(?::(\d+)(?::(topology|queues|any)(:exit)?)?)?$/.exec(v);
  if (m === null) {
    throw new StoreError('ERR_STORE_OPTIONS', `SKIFF_STORE_FAIL_WRITES must be 'nth[:times[:topology|queues|any[:exit]]]', got ${JSON.stringify(v)}`);
  }
  const f: FailWrites = { nth: Number(m[1]), times: m[2] === undefined ? 1 : Number(m[2]) };
  if (m[3] === 'topology' || m[3] === 'queues') f.file = m[3];
  if (m[4] !== undefined) f.exit = true;
  return f;
}
