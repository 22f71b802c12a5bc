/** Store settings (config keys in parentheses; see config.example.toml). */
export interface StoreOptions {
  /** Directory holding the SQLite files and the lock (`data_dir`, env SKIFF_DATA_DIR). Default `./data`. */
  dataDir: string;
  /** How often a checkpoint writes the delta since the last one (`checkpoint_interval_ms`). Default 1000. */
  checkpointIntervalMs: number;
  /** Size of the sync-worker pool (`sync_workers`). Default 2. */
  syncWorkers: number;
  /** A checkpoint starts early once a confirm has waited this long (`max_confirm_delay_ms`). Default 20. */
  maxConfirmDelayMs: number;
  /** SQLite `synchronous` pragma (`synchronous`): FULL survives power loss, NORMAL only process crashes. Default FULL. */
  synchronous: 'FULL' | 'NORMAL';
  /** Pending (unwritten) delta bytes above which publishers are blocked (`max_pending_bytes`). Default 256 MiB. */
  maxPendingBytes: number;
}

export const DEFAULT_STORE_OPTIONS: StoreOptions = {
  dataDir: './data',
  checkpointIntervalMs: 1000,
  syncWorkers: 2,
  maxConfirmDelayMs: 20,
  synchronous: 'FULL',
  maxPendingBytes: 256 * 1024 * 1024,
};
