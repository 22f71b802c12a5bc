import { createRequire } from 'node:module';
import type { WritableLike } from '../../protocol/codec/batch-writer.js';
import type { AmqpFrameSink } from '../../protocol/amqp/frame-decoder.js';
import type { AmqpError } from '../../protocol/amqp/errors.js';
import type { AmqpMethod, BasicProperties, ContentMethod, FieldInfo, MethodInfo } from '../../protocol/amqp/spec.generated.js';

/**
 * AMQP test helpers: amqplib's own codec as an oracle (it is independent of ours), frames built
 * by hand (so tests can send what no correct peer would), and a recording sink.
 */

const require = createRequire(import.meta.url);

/** The parts of amqplib's generated codec (lib/defs.js) the tests use. */
export interface AmqplibDefs {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  decode(id: number, buf: Buffer): Record<string, unknown>;
  info(id: number): { id: number; name: string; args: { name: string; type: string }[] };
  constants: Record<string, number>;
  [k: string]: unknown;
}

/** amqplib's field-table codec (lib/codec.js). */
export interface AmqplibCodec {
  encodeTable(buf: Buffer, val: Record<string, unknown>, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
}

// amqplib's package exports hide lib/: load the files by path.
const root = new URL('../../node_modules/amqplib/lib/', import.meta.url).pathname;
export const amqplibDefs = require(`${root}defs.js`) as AmqplibDefs;
export const amqplibCodec = require(`${root}codec.js`) as AmqplibCodec;
export const amqplibFrame = require(`${root}frame.js`) as { makeBodyFrame(channel: number, payload: Buffer): Buffer };

/** amqplib's bytes of a table, length prefix included. */
export function amqplibTable(t: Record<string, unknown>): Buffer {
  const b = Buffer.alloc(1 << 20);
  return Buffer.from(b.subarray(0, amqplibCodec.encodeTable(b, t, 0)));
}

/** A stand-in socket that keeps what is written. */
export class CaptureSocket implements WritableLike {
  chunks: Buffer[] = [];
  /** Writes returned as is (not copied), to check what was passed by reference. */
  written: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  corks = 0;
  full = false;
  private drain: (() => void) | null = null;
  write(chunk: Buffer): boolean {
    this.written.push(chunk);
    this.chunks.push(Buffer.from(chunk));
    return !this.full;
  }
  cork(): void {
    this.corks++;
  }
  uncork(): void {}
  once(_event: 'drain', listener: () => void): this {
    this.drain = listener;
    return this;
  }
  emitDrain(): void {
    this.full = false;
    const d = this.drain;
    this.drain = null;
    d?.();
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  clear(): void {
    this.chunks = [];
    this.written = [];
  }
}

/** A frame as bytes: `end` and `size` override the end octet and the size field. */
export function frame(type: number, channel: number, payload: Buffer, opts: { end?: number; size?: number } = {}): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b[0] = type;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(opts.size ?? payload.length, 3);
  payload.copy(b, 7);
  b[7 + payload.length] = opts.end ?? 0xce;
  return b;
}

/** A method frame with its argument bytes given verbatim. */
export function methodFrame(channel: number, id: number, args: Buffer | readonly number[] = []): Buffer {
  const p = Buffer.alloc(4 + args.length);
  p.writeUInt32BE(id, 0);
  Buffer.from(args).copy(p, 4);
  return frame(1, channel, p);
}

/** A content header frame; `props` are the raw flags and properties (none by default). */
export function headerFrame(channel: number, bodySize: number | bigint, props: Buffer = Buffer.alloc(2), classId = 60, weight = 0): Buffer {
  const p = Buffer.alloc(12 + props.length);
  p.writeUInt16BE(classId, 0);
  p.writeUInt16BE(weight, 2);
  p.writeBigUInt64BE(BigInt(bodySize), 4);
  props.copy(p, 12);
  return frame(2, channel, p);
}

export function bodyFrame(channel: number, body: Buffer): Buffer {
  return frame(3, channel, body);
}

export const HEARTBEAT_BYTES: Buffer = Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]);

/** What a {@link recorder} saw, in order. */
export type Event =
  | { kind: 'method'; channel: number; method: AmqpMethod }
  | { kind: 'content'; channel: number; method: ContentMethod; properties: BasicProperties; raw: string; body: string; headroom: number }
  | { kind: 'heartbeat' }
  | { kind: 'error'; code: string; replyCode: number; text: string; classId: number; methodId: number; fatal: boolean };

/** A sink recording events (buffers as hex, so comparisons ignore identity). */
export function recorder(): { sink: AmqpFrameSink; events: Event[]; bodies: Buffer[]; errors: AmqpError[] } {
  const events: Event[] = [];
  const bodies: Buffer[] = [];
  const errors: AmqpError[] = [];
  return {
    events,
    bodies,
    errors,
    sink: {
      onMethod(channel, method) {
        events.push({ kind: 'method', channel, method });
      },
      onContent(channel, method, properties, raw, body, headroom) {
        bodies.push(body);
        events.push({ kind: 'content', channel, method, properties, raw: raw.toString('hex'), body: body.toString('hex'), headroom });
      },
      onHeartbeat() {
        events.push({ kind: 'heartbeat' });
      },
      onError(e) {
        errors.push(e);
        events.push({ kind: 'error', code: e.code, replyCode: e.replyCode, text: e.message, classId: e.classId, methodId: e.methodId, fatal: e.fatal });
      },
    },
  };
}

/** A plausible value of each AMQP type, varied by `seed`. */
export function sampleValue(type: FieldInfo['type'], seed: number): unknown {
  switch (type) {
    case 'octet':
      return (seed * 37) & 0xff;
    case 'short':
      return (seed * 7919) & 0xffff;
    case 'long':
      return (seed * 2_654_435_761) % 0x1_0000_0000;
    case 'longlong':
      return 2 ** 40 + seed;
    case 'timestamp':
      return 1_700_000_000 + seed;
    case 'bit':
      return seed % 2 === 1;
    case 'shortstr':
      return `name-${seed}.é`;
    case 'longstr':
      return Buffer.from(`\0long ${seed}\xff`, 'latin1');
    case 'table':
      return { n: seed, s: `v${seed}`, t: true, nested: { a: [1, 'two'] } };
  }
}

/** Sample arguments for a method, in our names and in amqplib's (whose reserved fields differ). */
export function sampleArgs(m: MethodInfo, seed = 1): { ours: Record<string, unknown>; theirs: Record<string, unknown> } {
  const ours: Record<string, unknown> = {};
  const theirs: Record<string, unknown> = {};
  const info = amqplibDefs.info(m.id);
  m.fields.forEach((f, i) => {
    if (f.name === null) return;
    const v = sampleValue(f.type, seed + i);
    ours[f.name] = v;
    theirs[(info.args[i] as { name: string }).name] = v;
  });
  return { ours, theirs };
}
