import type Database from 'better-sqlite3';
import { RowColumns } from './row-columns.js';
import { DEL_STRIDE, INS, INS_STRIDE, UPD_STRIDE, type MessagesPart, type RowsChunk } from './wire.js';

/**
 * Rows per multi-row INSERT. 64 rows × 10 columns = 640 host parameters, under SQLite's oldest
 * default limit of 999, so a backlog of any size is written in statements that always compile.
 */
const INSERT_CHUNK = 64;

/** A messages row as selected by {@link COLUMNS}. */
type StoredRow = [number, number, string, string, Buffer, number, number, number, number, number];

/**
 * The WAL is copied back into the database file once this much has been committed to it. The
 * copy runs after the commit's reply has gone out, instead of inside the commit as SQLite's
 * automatic checkpoint would, so confirms do not wait for it.
 */
const WAL_CHECKPOINT_BYTES = 16 * 1024 * 1024;
/** Page cache per queue file: inserts into a large (qid, id) index stay in memory. */
const CACHE_KIB = 16 * 1024;

const COLUMNS = 'qid, id, exchange, routing_key, content, priority, expiration, redelivered, delivery_count, expires_at';

/**
 * One queue file (a shard of durable queues), driven by its sync worker. Every write is
 * idempotent — INSERT OR REPLACE, UPDATE and DELETE by key — so a checkpoint retried after a
 * lost reply leaves the same rows.
 */
export class QueueFile {
  readonly shard: number;
  readonly file: string;
  private readonly db: Database.Database;
  private readonly insertOne: Database.Statement;
  private readonly insertMany: Database.Statement;
  private readonly update: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly dropQueue: Database.Statement;
  private readonly params: unknown[] = new Array<unknown>(INSERT_CHUNK * INS_STRIDE);
  /** Bytes committed to the WAL since it was last copied back. */
  private walBytes = 0;

  constructor(db: Database.Database, shard: number, file: string) {
    this.db = db;
    this.shard = shard;
    this.file = file;
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`cache_size = -${CACHE_KIB}`);
    const row = `(${new Array(INS_STRIDE).fill('?').join(', ')})`;
    this.insertOne = db.prepare(`INSERT OR REPLACE INTO messages (${COLUMNS}) VALUES ${row}`);
    this.insertMany = db.prepare(`INSERT OR REPLACE INTO messages (${COLUMNS}) VALUES ${new Array(INSERT_CHUNK).fill(row).join(', ')}`);
    this.update = db.prepare('UPDATE messages SET redelivered = ?, delivery_count = ? WHERE qid = ? AND id = ?');
    this.remove = db.prepare('DELETE FROM messages WHERE qid = ? AND id = ?');
    this.dropQueue = db.prepare('DELETE FROM messages WHERE qid = ?');
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

  /** Applies one part inside the open transaction. `failAfterInserts` is the fault-injection hook. */
  apply(part: MessagesPart, failAfterInserts: (() => void) | null): void {
    const ins = part.rows;
    const rows = ins.length / INS_STRIDE;
    const content = Buffer.from(part.content.buffer, part.content.byteOffset, part.content.byteLength);
    const strings = part.strings;
    const params = this.params;
    let off = 0;
    let r = 0;
    for (; r + INSERT_CHUNK <= rows; r += INSERT_CHUNK) {
      for (let i = 0; i < INSERT_CHUNK; i++) off = fillRow(params, i * INS_STRIDE, ins, (r + i) * INS_STRIDE, strings, content, off);
      this.insertMany.run(params);
    }
    const one = new Array<unknown>(INS_STRIDE);
    for (; r < rows; r++) {
      off = fillRow(one, 0, ins, r * INS_STRIDE, strings, content, off);
      this.insertOne.run(one);
    }
    failAfterInserts?.();
    this.walBytes += content.length + (rows + part.upd.length + part.del.length) * 64;
    const upd = part.upd;
    for (let i = 0; i < upd.length; i += UPD_STRIDE) {
      this.update.run(upd[i + 2] as number, upd[i + 3] as number, upd[i] as number, upd[i + 1] as number);
    }
    const del = part.del;
    for (let i = 0; i < del.length; i += DEL_STRIDE) this.remove.run(del[i] as number, del[i + 1] as number);
    for (const qid of part.drop) this.dropQueue.run(qid);
  }

  /** Message count and highest queue incarnation in the file (for qid allocation and progress). */
  summary(): { messages: number; maxQid: number } {
    const messages = this.db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
    const maxQid = (this.db.prepare('SELECT max(qid) FROM messages').pluck().get() as number | null) ?? 0;
    return { messages, maxQid };
  }

  /** Deletes the messages of queues that are not in the topology (left by a crash); returns how many. */
  deleteOrphans(live: readonly number[]): number {
    this.db.exec('CREATE TEMP TABLE IF NOT EXISTS live (qid INTEGER PRIMARY KEY); DELETE FROM live');
    const add = this.db.prepare('INSERT INTO live (qid) VALUES (?)');
    const run = this.db.transaction(() => {
      for (const qid of live) add.run(qid);
      return this.db.prepare('DELETE FROM messages WHERE qid NOT IN (SELECT qid FROM live)').run().changes;
    });
    const n = run();
    this.db.exec('DROP TABLE live');
    return n;
  }

  /** Streams every message in (qid, id) order — each queue's order — in bounded chunks. */
  *read(): Generator<RowsChunk> {
    const stmt = this.db.prepare(`SELECT ${COLUMNS} FROM messages ORDER BY qid, id`).raw();
    let chunk = new RowColumns();
    for (const row of stmt.iterate() as IterableIterator<StoredRow>) {
      const [qid, id, exchange, routingKey, content, priority, expiration, redelivered, deliveryCount, expiresAt] = row;
      chunk.add(qid, id, priority, expiration, redelivered, deliveryCount, exchange, routingKey, content, expiresAt);
      if (chunk.full) {
        yield { t: 'rows', shard: this.shard, ...chunk.build() };
        chunk = new RowColumns();
      }
    }
    if (chunk.rows !== 0) yield { t: 'rows', shard: this.shard, ...chunk.build() };
  }

  close(): void {
    this.db.close();
  }
}

function fillRow(params: unknown[], p: number, ins: Float64Array, i: number, strings: string[], content: Buffer, off: number): number {
  const len = ins[i + INS.contentLength] as number;
  params[p] = ins[i + INS.qid];
  params[p + 1] = ins[i + INS.id];
  params[p + 2] = strings[ins[i + INS.exchange] as number];
  params[p + 3] = strings[ins[i + INS.routingKey] as number];
  params[p + 4] = content.subarray(off, off + len);
  params[p + 5] = ins[i + INS.priority];
  params[p + 6] = ins[i + INS.expiration];
  params[p + 7] = ins[i + INS.redelivered];
  params[p + 8] = ins[i + INS.deliveryCount];
  params[p + 9] = ins[i + INS.expiresAt];
  return off + len;
}
