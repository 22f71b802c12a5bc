/**
 * Why the store refused to start or could not write. Each code is a different operator action:
 * fix the directory, stop the other daemon, restore a backup, upgrade skiff.
 */
export type StoreErrorCode =
  /** Store options out of range. */
  'ERR_STORE_OPTIONS'
  /** The data directory cannot be created or written. */
  | 'ERR_STORE_DIR'
  /** Another daemon holds the data directory's lock. */
  | 'ERR_STORE_LOCKED'
  /** A store file is not a readable SQLite database, or a read hit a corrupt page. */
  | 'ERR_STORE_CORRUPT'
  /** A store file is a SQLite database that skiff did not write. */
  | 'ERR_STORE_FOREIGN'
  /** A store file was written by a newer skiff. */
  | 'ERR_STORE_SCHEMA'
  /** The topology names a queue file that is not there. */
  | 'ERR_STORE_MISSING'
  /** Stored topology the broker refuses to declare again. */
  | 'ERR_STORE_RESTORE'
  /** A checkpoint could not be committed (retried; confirms wait). */
  | 'ERR_STORE_WRITE'
  /** A sync worker died or could not start. */
  | 'ERR_STORE_WORKER'
  /** The store was closed with changes still unwritten. */
  | 'ERR_STORE_CLOSED';

/** A store failure with a stable code and a one-line message an operator can act on. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** The plain form a StoreError takes to cross from a sync worker to the main thread. */
export interface StoreErrorData {
  code: StoreErrorCode;
  message: string;
}

/** A worker-side failure as plain data; anything not already a StoreError gets `fallback`. */
export function toErrorData(err: unknown, fallback: StoreErrorCode): StoreErrorData {
  if (err instanceof StoreError) return { code: err.code, message: err.message };
  return { code: fallback, message: err instanceof Error ? err.message : String(err) };
}

/** The main thread's StoreError for a failure a worker reported. */
export function fromErrorData(data: StoreErrorData): StoreError {
  return new StoreError(data.code, data.message);
}
