import type Database from 'better-sqlite3';

/**
 * The WAL is copied back into the database file once this much has been committed to it. The
 * copy runs after the commit's reply has gone out, instead of inside the commit as SQLite's
 * automatic checkpoint would, so confirms do not wait for it.
 */
const WAL_CHECKPOINT_BYTES = 16 * 1024 * 1024;
/** Page cache per file: inserts into its large index (queue files' (qid, id), delayed.db's (sid, due, id)) stay in memory. */
const CACHE_KIB = 16 * 1024;

/**
 * A SQLite file a sync worker writes: checkpoint parts applied in one explicit transaction,
 * the WAL copied back by {@link checkpointWal} after the reply instead of by SQLite inside the
 * commit. Queue files and delayed.db are both this; each counts what it commits in `walBytes`.
 */
export class WrittenFile {
  readonly file: string;
  protected readonly db: Database.Database;
  /** Bytes committed to the WAL since it was last copied back. */
  protected walBytes = 0;

  constructor(db: Database.Database, file: string) {
    this.db = db;
    this.file = file;
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`cache_size = -${CACHE_KIB}`);
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  begin(): void {
    this.db.exec('BEGIN');
  }

  commit(): void {
    this.db.exec('COMMIT');
  }

  /** Copies the WAL back into the database once enough has piled up; never inside a transaction. */
  checkpointWal(): void {
    if (this.walBytes < WAL_CHECKPOINT_BYTES || this.db.inTransaction) return;
    this.db.pragma('wal_checkpoint(PASSIVE)');
    this.walBytes = 0;
  }

  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  close(): void {
    this.db.close();
  }
}
