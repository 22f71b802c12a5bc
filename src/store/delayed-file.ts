import type Database from 'better-sqlite3';
import { PART_BYTES, PART_ROWS } from './row-columns.js';
import { WrittenFile } from './written-file.js';
import { SCH, SCHED_DEL_STRIDE, SCHED_STRIDE, type DelayedCount, type DelayedPageRequest, type DelayedPart, type ScheduledRows } from './wire.js';

/** A scheduled row as selected for a page-in. */
type StoredRow = [number, number, number, string, Buffer, number, number];

/**
 * `delayed.db`, driven by the sync worker that owns it: the scheduled messages of durable
 * delayed exchanges, keyed by (exchange incarnation, due, id) so a page-in reads the next due
 * ones by index, and a count per exchange kept in the same transaction so a restart knows
 * each backlog without reading it. Writes are idempotent (inserts of rows already there are
 * ignored and not counted; deletes go by key and count only what they removed), so a retried
 * checkpoint leaves the same rows and counts.
 */
export class DelayedFile extends WrittenFile {
  private readonly insert: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly addCount: Database.Statement;
  private readonly pageStmt: Database.Statement;

  constructor(db: Database.Database, file: string) {
    super(db, file);
    this.insert = db.prepare('INSERT OR IGNORE INTO scheduled (sid, due, id, routing_key, content, priority, expiration) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.remove = db.prepare('DELETE FROM scheduled WHERE sid = ? AND due = ? AND id = ?');
    this.addCount = db.prepare(
      `INSERT INTO scheduled_counts (sid, messages, max_id) VALUES (?, ?, ?)
       ON CONFLICT (sid) DO UPDATE SET messages = messages + excluded.messages, max_id = max(max_id, excluded.max_id)`,
    );
    this.pageStmt = db
      .prepare('SELECT sid, due, id, routing_key, content, priority, expiration FROM scheduled WHERE sid = ? AND (due, id) > (?, ?) ORDER BY due, id')
      .raw();
  }

  /** Applies one part inside the open transaction; `fail` is the fault-injection hook. */
  apply(part: DelayedPart, fail: (() => void) | null): void {
    const counts = new Map<number, { messages: number; maxId: number }>();
    const count = (sid: number, n: number, id: number): void => {
      const c = counts.get(sid);
      if (c === undefined) counts.set(sid, { messages: n, maxId: id });
      else {
        c.messages += n;
        if (id > c.maxId) c.maxId = id;
      }
    };
    const rows = part.rows;
    const content = Buffer.from(part.content.buffer, part.content.byteOffset, part.content.byteLength);
    let off = 0;
    for (let i = 0; i < rows.length; i += SCHED_STRIDE) {
      const len = rows[i + SCH.contentLength] as number;
      const sid = rows[i + SCH.sid] as number;
      const id = rows[i + SCH.id] as number;
      const changes = this.insert.run(
        sid,
        rows[i + SCH.due],
        id,
        part.strings[rows[i + SCH.routingKey] as number],
        content.subarray(off, off + len),
        rows[i + SCH.priority],
        rows[i + SCH.expiration],
      ).changes;
      off += len;
      if (changes !== 0) count(sid, 1, id);
    }
    fail?.();
    const del = part.del;
    for (let i = 0; i < del.length; i += SCHED_DEL_STRIDE) {
      const sid = del[i] as number;
      if (this.remove.run(sid, del[i + 1], del[i + 2]).changes !== 0) count(sid, -1, 0);
    }
    for (const sid of part.drop) {
      this.db.prepare('DELETE FROM scheduled WHERE sid = ?').run(sid);
      this.db.prepare('DELETE FROM scheduled_counts WHERE sid = ?').run(sid);
      counts.delete(sid);
    }
    for (const [sid, c] of counts) this.addCount.run(sid, c.messages, c.maxId);
    if (del.length !== 0) this.db.prepare('DELETE FROM scheduled_counts WHERE messages <= 0').run();
    this.walBytes += part.content.length + (rows.length / SCHED_STRIDE + del.length / SCHED_DEL_STRIDE) * 64;
  }

  /** One page of an exchange's messages after (due, id), in due order: at least one row, about `maxBytes`. */
  page(r: DelayedPageRequest): ScheduledRows {
    const nums: number[] = [];
    const blobs: Buffer[] = [];
    const strings: string[] = [];
    const index = new Map<string, number>();
    let bytes = 0;
    let n = 0;
    for (const row of this.pageStmt.iterate(r.sid, r.due, r.id) as IterableIterator<StoredRow>) {
      const [sid, due, id, routingKey, content, priority, expiration] = row;
      let k = index.get(routingKey);
      if (k === undefined) {
        k = strings.length;
        strings.push(routingKey);
        index.set(routingKey, k);
      }
      nums.push(sid, due, id, priority, expiration, k, content.length);
      blobs.push(content);
      bytes += content.length;
      if (++n >= PART_ROWS || bytes >= Math.min(r.maxBytes, PART_BYTES)) break;
    }
    const out = new Uint8Array(bytes);
    let off = 0;
    for (const b of blobs) {
      out.set(b, off);
      off += b.length;
    }
    return { rows: Float64Array.from(nums), strings, content: out };
  }

  /**
   * Deletes the messages of delayed exchanges that are not in the topology (left by a crash, or
   * deleted while the daemon was down), then returns the counts of the rest.
   */
  counts(live: readonly number[]): { counts: DelayedCount[]; orphans: number; maxSid: number } {
    const keep = new Set(live);
    let orphans = 0;
    const maxSid = (this.db.prepare('SELECT max(sid) FROM scheduled_counts').pluck().get() as number | null) ?? 0;
    this.db.transaction(() => {
      for (const sid of this.db.prepare('SELECT sid FROM scheduled_counts').pluck().all() as number[]) {
        if (keep.has(sid)) continue;
        orphans += this.db.prepare('DELETE FROM scheduled WHERE sid = ?').run(sid).changes;
        this.db.prepare('DELETE FROM scheduled_counts WHERE sid = ?').run(sid);
      }
    })();
    const rows = this.db.prepare('SELECT sid, messages, max_id FROM scheduled_counts ORDER BY sid').raw().all() as number[][];
    return { counts: rows.map(([sid, messages, maxId]) => ({ sid, messages, maxId }) as DelayedCount), orphans, maxSid };
  }
}
