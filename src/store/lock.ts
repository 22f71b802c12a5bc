import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from './errors.js';

const LOCK_FILE = 'skiff.lock';
/** Plain-text owner note beside the lock, read only to name the other daemon in the error. */
const PID_FILE = 'skiff.pid';

/**
 * The data directory's lock: an exclusive SQLite lock on `skiff.lock`, held for the daemon's
 * life. It is an OS file lock, so a daemon killed with -9 releases it — no stale lock files to
 * clean up after a crash — and a second daemon, in this process or another, is refused.
 */
export class DirLock {
  private db: Database.Database | null;
  private readonly dir: string;

  private constructor(db: Database.Database, dir: string) {
    this.db = db;
    this.dir = dir;
  }

  static acquire(dir: string): DirLock {
    let db: Database.Database;
    try {
      db = new Database(join(dir, LOCK_FILE), { timeout: 0 });
    } catch (err) {
      throw new StoreError('ERR_STORE_DIR', `cannot use data directory '${dir}': ${(err as Error).message}`, { cause: err });
    }
    try {
      // In EXCLUSIVE locking mode the lock taken by the first write is kept until close.
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec(`BEGIN EXCLUSIVE;
        CREATE TABLE IF NOT EXISTS owner (pid INTEGER NOT NULL, since TEXT NOT NULL);
        DELETE FROM owner;`);
      db.prepare('INSERT INTO owner (pid, since) VALUES (?, ?)').run(process.pid, new Date().toISOString());
      db.exec('COMMIT');
    } catch (err) {
      db.close();
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        const owner = readOwner(dir);
        throw new StoreError(
          'ERR_STORE_LOCKED',
          `data directory '${dir}' is in use by another skiff daemon${owner}; stop it or use another data_dir`,
          { cause: err },
        );
      }
      throw new StoreError('ERR_STORE_DIR', `cannot lock data directory '${dir}': ${(err as Error).message}`, { cause: err });
    }
    try {
      writeFileSync(join(dir, PID_FILE), `${process.pid}\n`);
    } catch {
      // Only informational: the lock itself is held.
    }
    return new DirLock(db, dir);
  }

  release(): void {
    if (this.db === null) return;
    rmSync(join(this.dir, PID_FILE), { force: true });
    this.db.close();
    this.db = null;
  }
}

function readOwner(dir: string): string {
  try {
    const pid = Number(readFileSync(join(dir, PID_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? ` (pid ${pid})` : '';
  } catch {
    return '';
  }
}
