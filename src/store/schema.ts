import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from './errors.js';

/** 'Skif' in the SQLite header: tells our files from any other SQLite database. */
export const APPLICATION_ID = 0x536b6966;

/** The kinds of store file: one topology file, queue files (one per shard), and one for delayed exchanges. */
export type FileKind = 'topology' | 'queues' | 'delayed';

/**
 * Schema migrations per file kind: entry i takes a file from version i to i + 1, so the schema
 * version is the length of the list. A release that changes a table appends an entry; it never
 * edits one that has shipped.
 */
const MIGRATIONS: Record<FileKind, readonly string[]> = {
  topology: [
    `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE exchanges (
       name TEXT PRIMARY KEY,
       type TEXT NOT NULL,
       auto_delete INTEGER NOT NULL,
       internal INTEGER NOT NULL,
       arguments TEXT NOT NULL
     );
     CREATE TABLE queues (
       name TEXT PRIMARY KEY,
       qid INTEGER NOT NULL UNIQUE,
       shard INTEGER NOT NULL,
       auto_delete INTEGER NOT NULL,
       arguments TEXT NOT NULL
     );
     CREATE TABLE bindings (
       exchange TEXT NOT NULL,
       queue TEXT NOT NULL,
       routing_key TEXT NOT NULL,
       arguments TEXT NOT NULL,
       PRIMARY KEY (exchange, queue, routing_key, arguments)
     );
     CREATE INDEX bindings_by_queue ON bindings (queue);
     CREATE TABLE exchange_bindings (
       source TEXT NOT NULL,
       destination TEXT NOT NULL,
       routing_key TEXT NOT NULL,
       arguments TEXT NOT NULL,
       PRIMARY KEY (source, destination, routing_key, arguments)
     );
     CREATE INDEX exchange_bindings_by_destination ON exchange_bindings (destination);`,
    // Users, and later vhosts, permissions and policies: small records changed at run time,
    // one JSON value per (kind, key).
    `CREATE TABLE settings (
       kind TEXT NOT NULL,
       key TEXT NOT NULL,
       value TEXT NOT NULL,
       PRIMARY KEY (kind, key)
     );`,
    // Version 3 (issue 15): every exchange, queue and binding lives in a virtual host; what a
    // store held before moves into the default vhost '/', and so do its policies (keyed
    // vhost NUL name from now on, as delayed exchanges' incarnations; permissions and vhost
    // limits were keyed by vhost already).
    `CREATE TABLE exchanges_v3 (
       vhost TEXT NOT NULL,
       name TEXT NOT NULL,
       type TEXT NOT NULL,
       auto_delete INTEGER NOT NULL,
       internal INTEGER NOT NULL,
       arguments TEXT NOT NULL,
       PRIMARY KEY (vhost, name)
     );
     INSERT INTO exchanges_v3 SELECT '/', name, type, auto_delete, internal, arguments FROM exchanges;
     DROP TABLE exchanges;
     ALTER TABLE exchanges_v3 RENAME TO exchanges;
     CREATE TABLE queues_v3 (
       vhost TEXT NOT NULL,
       name TEXT NOT NULL,
       qid INTEGER NOT NULL UNIQUE,
       shard INTEGER NOT NULL,
       auto_delete INTEGER NOT NULL,
       arguments TEXT NOT NULL,
       PRIMARY KEY (vhost, name)
     );
     INSERT INTO queues_v3 SELECT '/', name, qid, shard, auto_delete, arguments FROM queues;
     DROP TABLE queues;
     ALTER TABLE queues_v3 RENAME TO queues;
     CREATE TABLE bindings_v3 (
       vhost TEXT NOT NULL,
       exchange TEXT NOT NULL,
       queue TEXT NOT NULL,
       routing_key TEXT NOT NULL,
       arguments TEXT NOT NULL,
       PRIMARY KEY (vhost, exchange, queue, routing_key, arguments)
     );
     INSERT INTO bindings_v3 SELECT '/', exchange, queue, routing_key, arguments FROM bindings ORDER BY rowid;
     DROP TABLE bindings;
     ALTER TABLE bindings_v3 RENAME TO bindings;
     CREATE INDEX bindings_by_queue ON bindings (vhost, queue);
     CREATE TABLE exchange_bindings_v3 (
       vhost TEXT NOT NULL,
       source TEXT NOT NULL,
       destination TEXT NOT NULL,
       routing_key TEXT NOT NULL,
       arguments TEXT NOT NULL,
       PRIMARY KEY (vhost, source, destination, routing_key, arguments)
     );
     INSERT INTO exchange_bindings_v3 SELECT '/', source, destination, routing_key, arguments FROM exchange_bindings ORDER BY rowid;
     DROP TABLE exchange_bindings;
     ALTER TABLE exchange_bindings_v3 RENAME TO exchange_bindings;
     CREATE INDEX exchange_bindings_by_destination ON exchange_bindings (vhost, destination);
     UPDATE settings SET key = '/' || char(0) || key WHERE kind IN ('policy', 'operator-policy', 'delayed-exchange');
     INSERT OR IGNORE INTO settings (kind, key, value) VALUES ('vhost', '/', '{"description":"Default virtual host","tags":[]}');`,
  ],
  queues: [
    // A rowid table with a separate key: message rows carry blobs, which WITHOUT ROWID tables
    // store badly. (qid, id) order is each queue's delivery order.
    `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE messages (
       qid INTEGER NOT NULL,
       id INTEGER NOT NULL,
       exchange TEXT NOT NULL,
       routing_key TEXT NOT NULL,
       content BLOB NOT NULL,
       priority INTEGER NOT NULL,
       expiration INTEGER NOT NULL,
       redelivered INTEGER NOT NULL,
       delivery_count INTEGER NOT NULL,
       expires_at INTEGER NOT NULL,
       PRIMARY KEY (qid, id)
     );`,
    // Version 2 (issue 13): per-queue counts, so a restart knows each queue's backlog without
    // reading it, and bodies shared by the copies of one fanned-out message. A row whose content
    // is the empty blob (real content never is: it starts with its 4-byte props size) keeps its
    // bytes in `bodies` under its message id.
    `CREATE TABLE queue_counts (
       qid INTEGER NOT NULL,
       priority INTEGER NOT NULL,
       messages INTEGER NOT NULL,
       bytes INTEGER NOT NULL,
       max_id INTEGER NOT NULL,
       PRIMARY KEY (qid, priority)
     ) WITHOUT ROWID;
     INSERT INTO queue_counts (qid, priority, messages, bytes, max_id)
       SELECT qid, priority, count(*), sum(length(content)), max(id) FROM messages GROUP BY qid, priority;
     CREATE TABLE bodies (
       id INTEGER PRIMARY KEY,
       refs INTEGER NOT NULL,
       content BLOB NOT NULL
     );`,
  ],
  // Issue 14: the scheduled messages of durable delayed exchanges, in (due, publish) order per
  // exchange incarnation (`sid`), with a count per exchange kept in the same transactions.
  delayed: [
    `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE scheduled (
       sid INTEGER NOT NULL,
       due INTEGER NOT NULL,
       id INTEGER NOT NULL,
       routing_key TEXT NOT NULL,
       content BLOB NOT NULL,
       priority INTEGER NOT NULL,
       expiration INTEGER NOT NULL,
       PRIMARY KEY (sid, due, id)
     );
     CREATE TABLE scheduled_counts (
       sid INTEGER PRIMARY KEY,
       messages INTEGER NOT NULL,
       max_id INTEGER NOT NULL
     );`,
  ],
};

/** The schema version this build writes, per file kind. */
export function schemaVersion(kind: FileKind): number {
  return MIGRATIONS[kind].length;
}

/** The topology file's name in the data directory. */
export const TOPOLOGY_FILE = 'topology.db';
/** The delayed exchanges' file in the data directory. */
export const DELAYED_FILE = 'delayed.db';
const QUEUE_FILE = /^queues-(0|[1-9]\d*)\.db$/;

/** The file holding queue shard `shard`. */
export function queueFileName(shard: number): string {
  return `queues-${shard}.db`;
}

/** The shard number of a queue file name, or null for any other file. */
export function shardOfFile(name: string): number | null {
  const m = QUEUE_FILE.exec(name);
  return m === null ? null : Number(m[1]);
}

/** Where a store file lives (`shard` is ignored for the topology file). */
export function storeFilePath(dataDir: string, kind: FileKind, shard: number): string {
  return join(dataDir, kind === 'topology' ? TOPOLOGY_FILE : kind === 'delayed' ? DELAYED_FILE : queueFileName(shard));
}

/**
 * Opens one store file read-write in WAL mode, creating or migrating its schema (`created`: the
 * file was new or empty). Refuses (with a
 * {@link StoreError}) a file that is not SQLite, is another program's database, holds the other
 * kind of data, or was written by a newer skiff: starting empty over such a file would lose it.
 */
export function openStoreFile(file: string, kind: FileKind, synchronous: 'FULL' | 'NORMAL'): { db: Database.Database; created: boolean } {
  let db: Database.Database;
  try {
    // No busy wait: the data-directory lock already excludes other daemons.
    db = new Database(file, { timeout: 0 });
  } catch (err) {
    throw new StoreError('ERR_STORE_DIR', `cannot open store file '${file}': ${(err as Error).message}`, { cause: err });
  }
  try {
    const appId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    if (appId === 0 && version === 0) {
      const tables = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
      if (tables !== 0) throw foreign(file, 'it has tables but no skiff application id');
    } else if (appId !== APPLICATION_ID) {
      throw foreign(file, `its application id is 0x${(appId >>> 0).toString(16)}`);
    }
    // A file of the other kind is named as such, whatever its version.
    if (version > 0) {
      const held = db.prepare("SELECT value FROM meta WHERE key = 'kind'").pluck().get() as string | undefined;
      if (held !== kind) throw foreign(file, `it holds ${held ?? 'nothing skiff knows'}, expected ${kind}`);
    }
    const latest = schemaVersion(kind);
    if (version > latest) {
      throw new StoreError(
        'ERR_STORE_SCHEMA',
        `store file '${file}' has schema version ${version}, newer than this skiff supports (${latest}); upgrade skiff or restore an older backup`,
      );
    }
    // The kind before any migration: one kind's steps must never run on the other's file.
    if (version !== 0) checkKind(db, file, kind);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    if (version < latest) migrate(db, kind, version);
    checkKind(db, file, kind);
    return { db, created: version === 0 };
  } catch (err) {
    db.close();
    throw storeReadError(err, file);
  }
}

function checkKind(db: Database.Database, file: string, kind: FileKind): void {
  const stored = db.prepare("SELECT value FROM meta WHERE key = 'kind'").pluck().get() as string | undefined;
  if (stored !== kind) throw foreign(file, `it holds ${stored ?? 'nothing skiff knows'}, expected ${kind}`);
}

function migrate(db: Database.Database, kind: FileKind, from: number): void {
  const steps = MIGRATIONS[kind];
  db.transaction(() => {
    for (let v = from; v < steps.length; v++) db.exec(steps[v] as string);
    if (from === 0) {
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.prepare("INSERT INTO meta (key, value) VALUES ('kind', ?)").run(kind);
    }
    db.pragma(`user_version = ${steps.length}`);
  })();
}

function foreign(file: string, why: string): StoreError {
  return new StoreError('ERR_STORE_FOREIGN', `store file '${file}' is not a skiff store (${why}); refusing to use it`);
}

/**
 * Maps a SQLite failure while opening or reading a file to the operator's view of it. Corrupt
 * files stop the daemon: starting empty over a store it cannot read would silently lose it.
 */
export function storeReadError(err: unknown, file: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message;
  if (code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'))) {
    return new StoreError(
      'ERR_STORE_CORRUPT',
      `store file '${file}' is corrupt or not a database (${message}); refusing to start without it (restore it from a backup or move it away)`,
      { cause: err },
    );
  }
  return new StoreError('ERR_STORE_DIR', `cannot use store file '${file}': ${message}`, { cause: err });
}
