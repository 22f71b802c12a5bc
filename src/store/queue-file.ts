import type Database from 'better-sqlite3';
import { RowColumns } from './row-columns.js';
import { WrittenFile } from './written-file.js';
import { DEL_STRIDE, INS, INS_STRIDE, RANGE_STRIDE, Shared, UPD_STRIDE, type MessagesPart, type PageRequest, type QueueCount, type RowsChunk } from './wire.js';

/**
 * Rows per multi-row INSERT. 64 rows × 10 columns = 640 host parameters, under SQLite's oldest
 * default limit of 999, so a backlog of any size is written in statements that always compile.
 */
const INSERT_CHUNK = 64;
/** Columns of a messages row as written. */
const ROW_COLUMNS = 10;

/** A messages row as selected by {@link SELECT_COLUMNS}. */
type StoredRow = [number, number, string, string, Buffer, number, number, number, number, number];

const COLUMNS = 'qid, id, exchange, routing_key, content, priority, expiration, redelivered, delivery_count, expires_at';
/** A row whose content is the empty blob keeps its bytes in `bodies` (schema version 2). */
const CONTENT = 'CASE WHEN length(content) = 0 THEN (SELECT b.content FROM bodies b WHERE b.id = messages.id) ELSE content END';
const SELECT_COLUMNS = `qid, id, exchange, routing_key, ${CONTENT}, priority, expiration, redelivered, delivery_count, expires_at`;
const EMPTY = Buffer.alloc(0);
/**
 * Removals in one run (one queue, rising ids) from which they go by one range delete instead of
 * one delete each: a draining consumer's acks arrive like that, and a range delete costs about
 * half as much a row.
 */
const MIN_RUN = 8;

/** Per (qid, priority): the change a transaction makes to `queue_counts`. */
class CountChanges {
  private readonly map = new Map<number, Map<number, { messages: number; bytes: number; maxId: number }>>();
  /** Queues whose counts are recomputed from their rows instead (a replayed or range write). */
  readonly recount = new Set<number>();

  add(qid: number, priority: number, messages: number, bytes: number, id: number): void {
    let q = this.map.get(qid);
    if (q === undefined) this.map.set(qid, (q = new Map()));
    const c = q.get(priority);
    if (c === undefined) q.set(priority, { messages, bytes, maxId: id });
    else {
      c.messages += messages;
      c.bytes += bytes;
      if (id > c.maxId) c.maxId = id;
    }
  }

  *entries(): Generator<[number, number, { messages: number; bytes: number; maxId: number }]> {
    for (const [qid, q] of this.map) if (!this.recount.has(qid)) for (const [p, c] of q) yield [qid, p, c];
  }
}

/**
 * One queue file (a shard of durable queues), driven by its sync worker. Every write is
 * idempotent — inserts of rows already there are ignored, updates and deletes go by key, and a
 * queue's counts are recomputed whenever a write finds the rows other than expected — so a
 * checkpoint retried after a lost reply leaves the same rows and counts.
 */
export class QueueFile extends WrittenFile {
  readonly shard: number;
  private readonly insertOne: Database.Statement;
  private readonly insertMany: Database.Statement;
  private readonly insertBody: Database.Statement;
  private readonly update: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly runIds: Database.Statement;
  private readonly runRows: Database.Statement;
  private readonly anyBodies: Database.Statement;
  private readonly removeRange: Database.Statement;
  private readonly releaseBody: Database.Statement;
  private readonly dropBodies: Database.Statement;
  private readonly addCount: Database.Statement;
  private readonly dropEmptyCounts: Database.Statement;
  private readonly params: unknown[] = new Array<unknown>(INSERT_CHUNK * ROW_COLUMNS);

  constructor(db: Database.Database, shard: number, file: string) {
    super(db, file);
    this.shard = shard;
    const row = `(${new Array(ROW_COLUMNS).fill('?').join(', ')})`;
    this.insertOne = db.prepare(`INSERT OR IGNORE INTO messages (${COLUMNS}) VALUES ${row}`);
    this.insertMany = db.prepare(`INSERT OR IGNORE INTO messages (${COLUMNS}) VALUES ${new Array(INSERT_CHUNK).fill(row).join(', ')}`);
    this.insertBody = db.prepare('INSERT INTO bodies (id, refs, content) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET refs = refs + excluded.refs');
    this.update = db.prepare('UPDATE messages SET redelivered = ?, delivery_count = ? WHERE qid = ? AND id = ?');
    this.remove = db.prepare('DELETE FROM messages WHERE qid = ? AND id = ? RETURNING length(content)').pluck();
    // Plucked: an array of numbers, not one array per row. A drain's run is tens of thousands of
    // rows, and per-row arrays held by one big array all survive into the old generation: 18 MB/s
    // of garbage in the writing worker, freed only by its major GCs (RSS swung by 300 MB).
    this.runIds = db.prepare('SELECT id FROM messages WHERE qid = ? AND id >= ? AND id <= ? ORDER BY id LIMIT ?').pluck();
    this.anyBodies = db.prepare('SELECT EXISTS (SELECT 1 FROM bodies)').pluck();
    this.runRows = db.prepare('SELECT id, length(content) FROM messages WHERE qid = ? AND id >= ? AND id <= ? ORDER BY id LIMIT ?').raw();
    this.removeRange = db.prepare('DELETE FROM messages WHERE qid = ? AND id >= ? AND id <= ?');
    this.releaseBody = db.prepare('UPDATE bodies SET refs = refs - ? WHERE id = ?');
    this.dropBodies = db.prepare('DELETE FROM bodies WHERE refs <= 0');
    this.addCount = db.prepare(
      `INSERT INTO queue_counts (qid, priority, messages, bytes, max_id) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (qid, priority) DO UPDATE SET messages = messages + excluded.messages, bytes = bytes + excluded.bytes, max_id = max(max_id, excluded.max_id)`,
    );
    this.dropEmptyCounts = db.prepare('DELETE FROM queue_counts WHERE messages <= 0');
  }

  /** A compact copy of the file as committed (outside any transaction). */
  snapshotInto(path: string): void {
    this.db.prepare('VACUUM INTO ?').run(path);
  }

  /** Applies one part inside the open transaction. `failAfterInserts` is the fault-injection hook. */
  apply(part: MessagesPart, failAfterInserts: (() => void) | null): void {
    const counts = new CountChanges();
    this.insertRows(part, counts);
    failAfterInserts?.();
    const upd = part.upd;
    for (let i = 0; i < upd.length; i += UPD_STRIDE) {
      this.update.run(upd[i + 2] as number, upd[i + 3] as number, upd[i] as number, upd[i + 1] as number);
    }
    const del = part.del;
    let released = false;
    for (let i = 0; i < del.length; ) {
      // A run: removals of one queue in rising id order (a consumer acking as it goes).
      let end = i + DEL_STRIDE;
      while (end < del.length && del[end] === del[i] && (del[end + 1] as number) > (del[end + 1 - DEL_STRIDE] as number)) end += DEL_STRIDE;
      if (end - i >= MIN_RUN * DEL_STRIDE) {
        const r = this.removeRun(del, i, end, counts);
        if (r !== null) {
          if (r) released = true;
          i = end;
          continue;
        }
      }
      for (; i < end; i += DEL_STRIDE) {
        const qid = del[i] as number;
        const id = del[i + 1] as number;
        const length = this.remove.get(qid, id) as number | undefined;
        if (length === undefined) continue; // already deleted by an earlier attempt
        if (length === 0) {
          this.releaseBody.run(1, id);
          released = true;
        }
        counts.add(qid, del[i + 2] as number, -1, -(del[i + 3] as number), 0);
      }
    }
    const ranges = part.ranges;
    for (let i = 0; i < ranges.length; i += RANGE_STRIDE) {
      const qid = ranges[i] as number;
      const where = 'qid = ? AND id > ? AND id <= ? AND priority BETWEEN ? AND ?';
      const args = [qid, ranges[i + 1], ranges[i + 2], ranges[i + 3], ranges[i + 4]];
      this.releaseShared(where, args);
      this.db.prepare(`DELETE FROM messages WHERE ${where}`).run(...args);
      released = true;
      counts.recount.add(qid);
    }
    for (const qid of part.drop) {
      this.releaseShared('qid = ?', [qid]);
      this.db.prepare('DELETE FROM messages WHERE qid = ?').run(qid);
      this.db.prepare('DELETE FROM queue_counts WHERE qid = ?').run(qid);
      counts.recount.delete(qid);
      released = true;
    }
    if (released) this.dropBodies.run();
    let emptied = false;
    for (const [qid, p, c] of counts.entries()) {
      this.addCount.run(qid, p, c.messages, c.bytes, c.maxId);
      if (c.messages < 0) emptied = true;
    }
    if (emptied) this.dropEmptyCounts.run();
    for (const qid of counts.recount) this.recountQueue(qid);
    this.walBytes += part.content.length + (ins(part) + part.upd.length + part.del.length) * 64;
  }

  /**
   * Deletes the run of removals `del[from..to)` (one queue, rising ids) by range deletes: one
   * read of the ids stored in the run's id range finds the rows that are not the run's (messages
   * still held between removed ones), and each stretch between them goes in one DELETE. Rows of
   * the run already gone (an earlier attempt) are skipped. Returns null, having deleted nothing,
   * when the range holds many more rows than the run (then row by row is cheaper); else whether
   * shared bodies lost a reference.
   */
  private removeRun(del: Float64Array, from: number, to: number, counts: CountChanges): boolean | null {
    const qid = del[from] as number;
    const first = del[from + 1] as number;
    const last = del[to - DEL_STRIDE + 1] as number;
    const limit = (2 * (to - from)) / DEL_STRIDE + 16;
    // Index-only, unless the file has shared bodies: then each row's content length tells.
    const shared = this.anyBodies.get() === 1;
    const rows = shared ? (this.runRows.all(qid, first, last, limit) as number[][]) : null;
    const ids = rows === null ? (this.runIds.all(qid, first, last, limit) as number[]) : null;
    const n = rows?.length ?? (ids as number[]).length;
    if (n === limit) return null;
    let released = false;
    let r = from;
    let start = -1;
    let end = -1;
    for (let k = 0; k < n; k++) {
      const row = rows?.[k];
      const id = row === undefined ? ((ids as number[])[k] as number) : (row[0] as number);
      while (r < to && (del[r + 1] as number) < id) r += DEL_STRIDE;
      if (r === to || del[r + 1] !== id) {
        // Not removed: the stretch before it goes now, the next starts after it.
        if (start !== -1) this.removeRange.run(qid, start, end);
        start = -1;
        continue;
      }
      if (start === -1) start = id;
      end = id;
      counts.add(qid, del[r + 2] as number, -1, -(del[r + 3] as number), 0);
      if (row !== undefined && row[1] === 0) {
        this.releaseBody.run(1, id);
        released = true;
      }
    }
    if (start !== -1) this.removeRange.run(qid, start, end);
    return released;
  }

  private insertRows(part: MessagesPart, counts: CountChanges): void {
    const rows = part.rows;
    const n = rows.length / INS_STRIDE;
    const content = Buffer.from(part.content.buffer, part.content.byteOffset, part.content.byteLength);
    const strings = part.strings;
    let off = 0;
    let r = 0;
    // Rows of shared bytes go one by one (each needs its body row); the rest in chunks.
    for (; r < n; ) {
      let plain = 0;
      while (plain < INSERT_CHUNK && r + plain < n && rows[(r + plain) * INS_STRIDE + INS.shared] === Shared.No) plain++;
      if (plain === INSERT_CHUNK) {
        const params = this.params;
        for (let i = 0; i < INSERT_CHUNK; i++) off = fillRow(params, i * ROW_COLUMNS, rows, (r + i) * INS_STRIDE, strings, content, off);
        const changes = this.insertMany.run(params).changes;
        this.countRows(rows, r, INSERT_CHUNK, changes, counts);
        r += INSERT_CHUNK;
        continue;
      }
      const one = new Array<unknown>(ROW_COLUMNS);
      const end = plain === 0 ? r + 1 : r + plain;
      for (; r < end; r++) {
        const at = r * INS_STRIDE;
        const shared = rows[at + INS.shared];
        if (shared === Shared.No) off = fillRow(one, 0, rows, at, strings, content, off);
        else {
          if (shared === Shared.First) {
            const len = rows[at + INS.contentLength] as number;
            let refs = 1;
            while (r + refs < n && rows[(r + refs) * INS_STRIDE + INS.shared] === Shared.Follower) refs++;
            this.insertBody.run(rows[at + INS.id], refs, content.subarray(off, off + len));
            off += len;
          }
          fillRow(one, 0, rows, at, strings, EMPTY, 0);
          one[4] = EMPTY;
        }
        const changes = this.insertOne.run(one).changes;
        this.countRows(rows, r, 1, changes, counts);
      }
    }
  }

  /** Counts inserted rows; a chunk that found rows already there (a replay) recounts its queues. */
  private countRows(rows: Float64Array, from: number, n: number, changes: number, counts: CountChanges): void {
    for (let i = from; i < from + n; i++) {
      const at = i * INS_STRIDE;
      const qid = rows[at + INS.qid] as number;
      if (changes !== n) counts.recount.add(qid);
      else counts.add(qid, rows[at + INS.priority] as number, 1, rows[at + INS.contentLength] as number, rows[at + INS.id] as number);
    }
  }

  /** Drops one reference to the shared bytes of every row matching `where`. */
  private releaseShared(where: string, args: unknown[]): void {
    const ids = this.db.prepare(`SELECT id FROM messages WHERE ${where} AND length(content) = 0`).pluck().all(...args) as number[];
    for (const id of ids) this.releaseBody.run(1, id);
  }

  /** Recomputes one queue's counts from its rows. */
  private recountQueue(qid: number): void {
    this.db.prepare('DELETE FROM queue_counts WHERE qid = ?').run(qid);
    this.db
      .prepare(
        `INSERT INTO queue_counts (qid, priority, messages, bytes, max_id)
         SELECT qid, priority, count(*), sum(length(${CONTENT})), max(id) FROM messages WHERE qid = ? GROUP BY priority`,
      )
      .run(qid);
  }

  /** Message count and highest queue incarnation in the file, from the counts (cheap at any size). */
  summary(): { messages: number; maxQid: number } {
    const messages = (this.db.prepare('SELECT sum(messages) FROM queue_counts').pluck().get() as number | null) ?? 0;
    const a = (this.db.prepare('SELECT max(qid) FROM messages').pluck().get() as number | null) ?? 0;
    const b = (this.db.prepare('SELECT max(qid) FROM queue_counts').pluck().get() as number | null) ?? 0;
    return { messages, maxQid: Math.max(a, b) };
  }

  /**
   * Deletes the messages of queues that are not in the topology (left by a crash), then returns
   * how many went and the counts of what is left.
   */
  counts(live: readonly number[]): { counts: QueueCount[]; orphans: number } {
    const keep = new Set(live);
    // Rows and counts change in the same transactions: every stored queue has counts.
    const stored = this.db.prepare('SELECT DISTINCT qid FROM queue_counts').pluck();
    let orphans = 0;
    const run = this.db.transaction(() => {
      for (const qid of stored.all() as number[]) {
        if (keep.has(qid)) continue;
        orphans += this.db.prepare('SELECT count(*) FROM messages WHERE qid = ?').pluck().get(qid) as number;
        this.releaseShared('qid = ?', [qid]);
        this.db.prepare('DELETE FROM messages WHERE qid = ?').run(qid);
        this.db.prepare('DELETE FROM queue_counts WHERE qid = ?').run(qid);
      }
      this.db.prepare('DELETE FROM queue_counts WHERE messages <= 0').run();
      this.dropBodies.run();
    });
    run();
    const rows = this.db.prepare('SELECT qid, priority, messages, bytes, max_id FROM queue_counts ORDER BY qid, priority').raw().all() as number[][];
    return { counts: rows.map(([qid, priority, messages, bytes, maxId]) => ({ qid, priority, messages, bytes, maxId }) as QueueCount), orphans };
  }
}

/**
 * Reads pages of a queue file's messages: on the writing connection, or on a read-only one of
 * another sync worker, which in WAL mode reads the last commit while the owner writes the next.
 */
export class PageReader {
  /** The plain read skips the lookup of shared bodies while the file has none. */
  private readonly shared: Database.Statement;
  private readonly plain: Database.Statement;
  private readonly anyBodies: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    readonly shard: number,
  ) {
    const page = (columns: string): Database.Statement =>
      db.prepare(`SELECT ${columns} FROM messages WHERE qid = ? AND id > ? AND id <= ? AND priority BETWEEN ? AND ? ORDER BY id`).raw();
    this.shared = page(SELECT_COLUMNS);
    this.plain = page(COLUMNS);
    this.anyBodies = db.prepare('SELECT EXISTS (SELECT 1 FROM bodies)').pluck();
  }

  /** One page of a queue's stored messages, in id order: at least one row, about `maxBytes`. */
  page(r: PageRequest): Omit<RowsChunk, 't'> {
    const chunk = new RowColumns();
    const stmt = this.anyBodies.get() === 1 ? this.shared : this.plain;
    for (const row of stmt.iterate(r.qid, r.after, r.upTo, r.minPriority, r.maxPriority) as IterableIterator<StoredRow>) {
      const [qid, id, exchange, routingKey, content, priority, expiration, redelivered, deliveryCount, expiresAt] = row;
      chunk.add(qid, id, priority, expiration, redelivered, deliveryCount, exchange, routingKey, content, expiresAt);
      if (chunk.bytes >= r.maxBytes || chunk.full) break;
    }
    return { shard: this.shard, ...chunk.build() };
  }

  close(): void {
    this.db.close();
  }
}

function ins(part: MessagesPart): number {
  return part.rows.length / INS_STRIDE;
}

function fillRow(params: unknown[], p: number, rows: Float64Array, i: number, strings: string[], content: Buffer, off: number): number {
  const len = rows[i + INS.contentLength] as number;
  params[p] = rows[i + INS.qid];
  params[p + 1] = rows[i + INS.id];
  params[p + 2] = strings[rows[i + INS.exchange] as number];
  params[p + 3] = strings[rows[i + INS.routingKey] as number];
  params[p + 4] = content.subarray(off, off + len);
  params[p + 5] = rows[i + INS.priority];
  params[p + 6] = rows[i + INS.expiration];
  params[p + 7] = rows[i + INS.redelivered];
  params[p + 8] = rows[i + INS.deliveryCount];
  params[p + 9] = rows[i + INS.expiresAt];
  return off + len;
}
