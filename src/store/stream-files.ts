/**
 * Stream segment files, as a sync worker reads and writes them (README "Streams"). A stream's
 * segments live in `<dataDir>/streams/<qid>/`, one file per segment named by its first offset
 * (`00000000000000000000.seg`), records as `src/broker/stream-record.ts` lays them out. Files
 * are only appended to, at the position the event loop says, so a write repeated after a
 * failure (or a worker's death) first cuts what the failed attempt left.
 */
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SegmentInfo } from '../broker/stream-storage.js';

const SEGMENT_SUFFIX = '.seg';
/** Same layout constants as stream-record.ts (kept here: workers do not load the broker). */
const RECORD_HEADER = 27;
const INDEX_EVERY_BYTES = 64 * 1024;
const SCAN_CHUNK = 4 * 1024 * 1024;

export function streamDir(dataDir: string, qid: number): string {
  return join(dataDir, 'streams', String(qid));
}

function segmentFile(dir: string, base: number): string {
  return join(dir, `${String(base).padStart(20, '0')}${SEGMENT_SUFFIX}`);
}

export interface SegmentPart {
  base: number;
  /** The segment's size before this part: where it goes. */
  position: number;
  bytes: Uint8Array;
}

/** The file a worker is appending to, per stream, kept open between writes. */
const open = new Map<string, { base: number; fd: number }>();

function fdFor(dir: string, base: number, sync: boolean): number {
  const cur = open.get(dir);
  if (cur !== undefined && cur.base === base) return cur.fd;
  if (cur !== undefined) {
    closeSync(cur.fd);
    open.delete(dir);
  }
  mkdirSync(dir, { recursive: true });
  const fd = openSync(segmentFile(dir, base), 'a+');
  if (sync) syncDir(dir);
  open.set(dir, { base, fd });
  return fd;
}

/** A new file's name is durable once its directory is synced. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Appends parts in order; with `sync` each touched file is fdatasync'ed before returning. */
export function writeParts(dir: string, parts: SegmentPart[], sync: boolean): void {
  let lastFd = -1;
  for (const p of parts) {
    const fd = fdFor(dir, p.base, sync);
    if (sync && lastFd !== -1 && lastFd !== fd) fdatasyncSync(lastFd);
    const size = fstatSync(fd).size;
    if (size > p.position) ftruncateSync(fd, p.position);
    else if (size < p.position) throw new Error(`segment ${p.base} holds ${size} bytes where ${p.position} were written`);
    let done = 0;
    while (done < p.bytes.length) done += writeSync(fd, p.bytes, done, p.bytes.length - done, p.position + done);
    lastFd = fd;
  }
  if (sync && lastFd !== -1) fdatasyncSync(lastFd);
}

/** Reads up to `maxBytes` of a segment from `position`. */
export function readSegment(dir: string, base: number, position: number, maxBytes: number): Uint8Array {
  const fd = openSync(segmentFile(dir, base), 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(maxBytes);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, maxBytes - n, position + n);
      if (r === 0) break;
      n += r;
      if (n === maxBytes) break;
    }
    return n === maxBytes ? buf : buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export function dropSegments(dir: string, bases: number[]): void {
  for (const b of bases) {
    const cur = open.get(dir);
    if (cur !== undefined && cur.base === b) {
      closeSync(cur.fd);
      open.delete(dir);
    }
    try {
      unlinkSync(segmentFile(dir, b));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export function deleteStream(dir: string): void {
  const cur = open.get(dir);
  if (cur !== undefined) {
    closeSync(cur.fd);
    open.delete(dir);
  }
  rmSync(dir, { recursive: true, force: true });
}

export function closeStreams(): void {
  for (const { fd } of open.values()) closeSync(fd);
  open.clear();
}

/**
 * What a stream's segment files hold: each file is scanned record header by record header
 * (a restart reads headers, not messages). A record cut off at the end of the last segment
 * (a crash mid-write, never confirmed) is cut from the file; anything else out of place is an
 * error naming the file.
 */
export function scanStream(dir: string): SegmentInfo[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: SegmentInfo[] = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const base = Number(name.slice(0, -SEGMENT_SUFFIX.length));
    const info = scanSegment(join(dir, name), base, i === names.length - 1);
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.base + prev.count !== base) {
      throw new Error(`segment '${join(dir, name)}' starts at offset ${base} but the one before ends at ${prev.base + prev.count}`);
    }
    // An empty last segment (created, nothing written before a crash) is dropped.
    if (info.count === 0 && i === names.length - 1 && out.length !== 0) {
      unlinkSync(join(dir, name));
      continue;
    }
    out.push(info);
  }
  return out;
}

function scanSegment(file: string, base: number, last: boolean): SegmentInfo {
  const fd = openSync(file, 'r+');
  try {
    const size = fstatSync(fd).size;
    const info: SegmentInfo = { base, count: 0, bytes: 0, firstTs: 0, lastTs: 0, index: [] };
    const head = Buffer.allocUnsafe(RECORD_HEADER);
    const chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(size, RECORD_HEADER)));
    let chunkAt = 0;
    let chunkLen = 0;
    let pos = 0;
    let lastIndexed = -INDEX_EVERY_BYTES;
    while (pos < size) {
      // Record headers come out of a large buffered read, refilled as the scan passes its end.
      if (pos + RECORD_HEADER > chunkAt + chunkLen) {
        chunkAt = pos;
        chunkLen = readSync(fd, chunk, 0, chunk.length, pos);
        if (chunkLen < RECORD_HEADER) break;
      }
      chunk.copy(head, 0, pos - chunkAt, pos - chunkAt + RECORD_HEADER);
      const len = head.readUInt32BE(0);
      const offset = head.readDoubleBE(4);
      const ts = head.readDoubleBE(12);
      const end = pos + 4 + len;
      if (len < RECORD_HEADER - 4 || offset !== base + info.count) {
        if (!last) throw new Error(`segment '${file}' has a damaged record at byte ${pos}`);
        break;
      }
      if (end > size) break;
      if (info.count === 0) info.firstTs = ts;
      if (pos - lastIndexed >= INDEX_EVERY_BYTES) {
        info.index.push(offset, pos, ts);
        lastIndexed = pos;
      }
      info.lastTs = ts;
      info.count++;
      pos = end;
    }
    if (pos < size) {
      if (!last) throw new Error(`segment '${file}' ends with a cut-off record at byte ${pos}`);
      // Never confirmed: the write did not complete.
      ftruncateSync(fd, pos);
    }
    info.bytes = pos;
    return info;
  } finally {
    closeSync(fd);
  }
}
