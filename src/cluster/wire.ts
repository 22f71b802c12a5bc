import { Packr } from 'msgpackr';
import type { ChangeSet } from '../store/replica.js';
import type { MessagesPart, TopologyBatch } from '../store/wire.js';

/**
 * The replication protocol between a leader and each follower, over one TCP connection the
 * follower opens. A frame is `u32 length` (of what follows), `u8 type`, `f64 term`, body.
 * Every frame carries the sender's term: the leader's election revision in etcd, its fencing
 * token. A follower drops any frame whose term is not the one of the leader etcd names, and a
 * leader that hears of a newer term knows it has been deposed.
 */
export const Frame = {
  /** follower → leader, JSON `{cluster, node}`. */
  HELLO: 1,
  /** leader → follower, JSON `{leader, shards}`: the snapshot follows. */
  WELCOME: 2,
  /** leader → follower: `i32 shard`, then bytes of that file's snapshot. */
  FILE_CHUNK: 3,
  /** leader → follower: `i32 shard`: that file is complete. */
  FILE_END: 4,
  /** leader → follower: every file has been sent; change sets follow. */
  SNAPSHOT_END: 5,
  /** leader → follower: `f64 index`, then a {@link ChangeSet} (see {@link changeFrame}). */
  CHANGE: 6,
  /** follower → leader: `f64 index`: every change set up to it that it was sent is committed on its disk. */
  ACK: 7,
  /** either way, JSON `{error}`: why the connection is being closed. */
  REFUSE: 8,
} as const;

export const HEADER_BYTES = 4 + 1 + 8;
/** Snapshot files travel in chunks of this size. */
export const FILE_CHUNK_BYTES = 256 * 1024;
/** The largest frame either side accepts (a change set is at most a few MiB: the store bounds parts). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

// No records: every frame decodes on its own, whichever follower reads it after whatever reconnect.
const packr = new Packr({ moreTypes: true, structuredClone: false, useRecords: false });

export function frame(type: number, term: number, body: Buffer | null): Buffer {
  const len = body === null ? 0 : body.length;
  const out = Buffer.allocUnsafe(HEADER_BYTES + len);
  out.writeUInt32BE(1 + 8 + len, 0);
  out[4] = type;
  out.writeDoubleBE(term, 5);
  if (body !== null) body.copy(out, HEADER_BYTES);
  return out;
}

export function jsonFrame(type: number, term: number, value: unknown): Buffer {
  return frame(type, term, Buffer.from(JSON.stringify(value), 'utf8'));
}

export function shardFrame(type: number, term: number, shard: number, bytes: Buffer | null): Buffer {
  const head = Buffer.allocUnsafe(4);
  head.writeInt32BE(shard, 0);
  return frame(type, term, bytes === null ? head : Buffer.concat([head, bytes]));
}

export function indexFrame(type: number, term: number, index: number, bytes: Buffer | null): Buffer {
  const head = Buffer.allocUnsafe(8);
  head.writeDoubleBE(index, 0);
  return frame(type, term, bytes === null ? head : Buffer.concat([head, bytes]));
}

/** One checkpoint part, encoded as it is posted (before its buffers go to the worker). */
export function encodePart(part: MessagesPart | TopologyBatch): Buffer {
  return packr.pack(part);
}

/**
 * A CHANGE frame: `f64 index`, `i32 shard`, `u32 parts`, then each part as `u32 length` and
 * its msgpack bytes, written once into one buffer.
 */
export function changeFrame(term: number, index: number, shard: number, parts: readonly Buffer[]): Buffer {
  let len = 8 + 4 + 4;
  for (const p of parts) len += 4 + p.length;
  const out = Buffer.allocUnsafe(HEADER_BYTES + len);
  out.writeUInt32BE(1 + 8 + len, 0);
  out[4] = Frame.CHANGE;
  out.writeDoubleBE(term, 5);
  let at = HEADER_BYTES;
  out.writeDoubleBE(index, at);
  out.writeInt32BE(shard, at + 8);
  out.writeUInt32BE(parts.length, at + 12);
  at += 16;
  for (const p of parts) {
    out.writeUInt32BE(p.length, at);
    p.copy(out, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** A CHANGE frame's body (after the index): the change set. */
export function decodeChangeSet(b: Buffer): ChangeSet {
  const shard = b.readInt32BE(0);
  const n = b.readUInt32BE(4);
  const parts: (MessagesPart | TopologyBatch)[] = [];
  let at = 8;
  for (let i = 0; i < n; i++) {
    const len = b.readUInt32BE(at);
    parts.push(packr.unpack(b.subarray(at + 4, at + 4 + len)) as MessagesPart | TopologyBatch);
    at += 4 + len;
  }
  return { shard, parts };
}

export interface ReceivedFrame {
  readonly type: number;
  readonly term: number;
  readonly body: Buffer;
}

/** Cuts a byte stream into frames; throws on a frame over {@link MAX_FRAME_BYTES}. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (f: ReceivedFrame) => void): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len < 9 || len > MAX_FRAME_BYTES) throw new Error(`replication frame of ${len} bytes`);
      if (this.buf.length < 4 + len) return;
      const f = { type: this.buf[4] as number, term: this.buf.readDoubleBE(5), body: this.buf.subarray(HEADER_BYTES, 4 + len) };
      this.buf = this.buf.subarray(4 + len);
      onFrame(f);
    }
  }
}
