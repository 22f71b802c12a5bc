import type { WritableLike } from '../../protocol/codec/batch-writer.js';
import { METHODS, type BasicProperties, type FieldInfo, type MethodInfo } from '../../protocol/amqp/spec.generated.js';
import { AmqpFrameWriter, type ContentMethodId } from '../../protocol/amqp/writer.js';
import type { FieldTable } from '../../protocol/amqp/values.js';
import type { Random } from './random.js';

/**
 * Random and mutated AMQP frame streams for the fuzz test and the fuzz script: valid streams
 * written by our writer (every method, content with random properties and bodies over several
 * frames), then mutated the ways a broken or hostile peer would break them. No test imports.
 */

class Collect implements WritableLike {
  chunks: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  write(c: Buffer): boolean {
    this.chunks.push(Buffer.from(c));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  once(): this {
    return this;
  }
}

const WORDS = ['', 'a', 'amq.direct', 'queue.1', 'x-message-ttl', 'é', 'k'.repeat(255)];

function randomString(rnd: Random): string {
  return rnd.next() < 0.7 ? rnd.pick(WORDS) : rnd.bytes(rnd.int(0, 40)).toString('latin1').slice(0, 85);
}

function randomTable(rnd: Random, depth = 0): FieldTable {
  const t: FieldTable = {};
  const n = rnd.int(0, depth > 2 ? 1 : 4);
  for (let i = 0; i < n; i++) {
    const k = `k${rnd.int(0, 99)}`;
    switch (rnd.int(0, 8)) {
      case 0:
        t[k] = rnd.int(-1e6, 1e6);
        break;
      case 1:
        t[k] = randomString(rnd);
        break;
      case 2:
        t[k] = rnd.next() < 0.5;
        break;
      case 3:
        t[k] = null;
        break;
      case 4:
        t[k] = rnd.next() * 1000;
        break;
      case 5:
        t[k] = rnd.bytes(rnd.int(0, 10));
        break;
      case 6:
        t[k] = [rnd.int(0, 9), randomString(rnd)];
        break;
      case 7:
        t[k] = BigInt(rnd.int(0, 1e9)) * 1_000_000_000n;
        break;
      default:
        t[k] = randomTable(rnd, depth + 1);
    }
  }
  return t;
}

function randomValue(rnd: Random, type: FieldInfo['type']): unknown {
  switch (type) {
    case 'octet':
      return rnd.int(0, 255);
    case 'short':
      return rnd.int(0, 65535);
    case 'long':
      return rnd.int(0, 0xffff_ffff);
    case 'longlong':
    case 'timestamp':
      return rnd.int(0, 2 ** 40);
    case 'bit':
      return rnd.next() < 0.5;
    case 'shortstr':
      return randomString(rnd);
    case 'longstr':
      return rnd.bytes(rnd.int(0, 30));
    case 'table':
      return randomTable(rnd);
  }
}

export function randomArgs(rnd: Random, m: MethodInfo): Record<string, unknown> {
  const a: Record<string, unknown> = {};
  for (const f of m.fields) if (f.name !== null) a[f.name] = randomValue(rnd, f.type);
  return a;
}

function randomProperties(rnd: Random): BasicProperties {
  if (rnd.next() < 0.4) return {};
  const p: BasicProperties = {};
  if (rnd.next() < 0.5) p.contentType = randomString(rnd);
  if (rnd.next() < 0.4) p.headers = randomTable(rnd);
  if (rnd.next() < 0.5) p.deliveryMode = rnd.int(1, 2);
  if (rnd.next() < 0.2) p.priority = rnd.int(0, 9);
  if (rnd.next() < 0.3) p.messageId = randomString(rnd);
  if (rnd.next() < 0.2) p.timestamp = rnd.int(0, 2 ** 32);
  if (rnd.next() < 0.2) p.expiration = String(rnd.int(0, 1e6));
  return p;
}

const PLAIN = METHODS.filter((m) => !m.content);
const CONTENT = METHODS.filter((m) => m.content);

/**
 * A valid stream of about `frames` frames at `frameMax`: methods on random channels, content
 * with bodies up to three frames long, heartbeats. Returns the bytes and the frame count.
 */
export function validStream(rnd: Random, frames: number, frameMax = 4096): { bytes: Buffer; frames: number } {
  const out = new Collect();
  const w = new AmqpFrameWriter(out, { frameMax, highWaterMark: 1 << 30 });
  let n = 0;
  while (n < frames) {
    const r = rnd.next();
    const channel = rnd.int(0, 3) === 0 ? 0 : rnd.int(1, 5);
    if (r < 0.1) {
      w.heartbeat();
      n++;
    } else if (r < 0.55 && channel !== 0) {
      const m = rnd.pick(CONTENT);
      const body = rnd.bytes(rnd.pick([0, 1, 100, 2048, rnd.int(0, 3 * (frameMax - 8))]));
      w.content(channel, m.id as ContentMethodId, randomArgs(rnd, m) as never, randomProperties(rnd), body);
      n += 2 + Math.ceil(body.length / (frameMax - 8));
    } else if (r < 0.7) {
      w.ack(channel, rnd.int(0, 1e6), rnd.next() < 0.5);
      n++;
    } else {
      const m = rnd.pick(PLAIN);
      w.method(channel, m.id, randomArgs(rnd, m) as never);
      n++;
    }
  }
  w.flush();
  return { bytes: Buffer.concat(out.chunks), frames: n };
}

const INTERESTING = [0, 1, 2, 3, 8, 0x7f, 0x80, 0xce, 0xfe, 0xff, 0x41, 0x46, 0x53];

/** A copy of `buf` broken the ways peers break streams. */
export function mutate(rnd: Random, buf: Buffer): Buffer {
  let b = Buffer.from(buf);
  const edits = rnd.int(1, 4);
  for (let e = 0; e < edits && b.length > 0; e++) {
    const at = rnd.int(0, b.length - 1);
    switch (rnd.int(0, 7)) {
      case 0: // flip a bit
        b[at] = (b[at] as number) ^ (1 << rnd.int(0, 7));
        break;
      case 1: // an interesting byte
        b[at] = rnd.pick(INTERESTING);
        break;
      case 2: // a lying 32-bit length or size
        if (at + 4 <= b.length) b.writeUInt32BE(rnd.pick([0, 1, 0xffff_ffff, 0x8000_0000, rnd.int(0, 70_000)]), at);
        break;
      case 3: // cut the stream short
        b = b.subarray(0, at);
        break;
      case 4: // insert junk
        b = Buffer.concat([b.subarray(0, at), rnd.bytes(rnd.int(1, 16)), b.subarray(at)]);
        break;
      case 5: // drop a run of bytes (a lost frame, a lost header)
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rnd.int(1, 64)))]);
        break;
      case 6: // repeat a run (a duplicated frame)
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + rnd.int(1, 200)), b.subarray(at)]);
        break;
      default: // a random 64-bit value (body sizes, delivery tags)
        if (at + 8 <= b.length) b.writeBigUInt64BE(BigInt(rnd.int(0, 2 ** 31)) * BigInt(rnd.int(1, 2 ** 31)), at);
    }
  }
  return b;
}

/** Frames with random type, channel and payload (sizes sometimes lying). */
export function randomFrames(rnd: Random, count: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const payload = rnd.next() < 0.5 ? rnd.bytes(rnd.int(0, 64)) : Buffer.concat([u32(rnd.pick(METHODS).id), rnd.bytes(rnd.int(0, 40))]);
    const f = Buffer.alloc(8 + payload.length);
    f[0] = rnd.pick([1, 1, 2, 3, 8, rnd.int(0, 255)]);
    f.writeUInt16BE(rnd.int(0, 3), 1);
    f.writeUInt32BE(rnd.next() < 0.9 ? payload.length : rnd.int(0, 1 << 20), 3);
    payload.copy(f, 7);
    f[7 + payload.length] = rnd.next() < 0.95 ? 0xce : rnd.int(0, 255);
    parts.push(f);
  }
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

