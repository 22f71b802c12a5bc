import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  FrameDecoder,
  FrameType,
  HEARTBEAT_FRAME,
  Method,
  ProtocolError,
  parseMethod,
  type FrameSink,
} from '../../protocol/index.js';
import { contentFrame, frame, methodFrame } from '../helpers/frames.js';
import { Random } from '../helpers/random.js';

interface Got {
  type: number;
  channel: number;
  payload: string;
}

/** A sink that records frames as hex, so comparisons do not depend on buffer identity. */
function recorder(): { sink: FrameSink; frames: Got[]; views: Buffer[] } {
  const frames: Got[] = [];
  const views: Buffer[] = [];
  return {
    frames,
    views,
    sink: {
      onFrame(type, channel, payload) {
        frames.push({ type, channel, payload: payload.toString('hex') });
        views.push(payload);
      },
    },
  };
}

function expected(frames: Buffer[]): Got[] {
  return frames.map((f) => ({ type: f[4] as number, channel: f.readUInt16BE(5), payload: f.subarray(7).toString('hex') }));
}

function decodeAll(chunks: Buffer[], maxFrameBytes = 1 << 20): Got[] {
  const r = recorder();
  const d = new FrameDecoder(r.sink, maxFrameBytes);
  for (const c of chunks) d.push(c);
  expect(d.midFrame).toBe(false);
  return r.frames;
}

function catchError(f: () => void): ProtocolError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

const FIXTURE: Buffer[] = [
  methodFrame(0, Method.ConnectionOpen, ['guest', 'guest', 0, 0, 0, {}]),
  HEARTBEAT_FRAME,
  methodFrame(7, Method.QueueDeclare, ['orders', false, true]),
  contentFrame(7, Method.BasicPublish, ['', 'orders', false, true], 'hello', { contentType: 'text/plain' }),
  contentFrame(65535, Method.BasicPublish, ['x', 'k'], Buffer.alloc(20_000, 0xab)),
  frame(FrameType.METHOD, 3, Buffer.alloc(0)),
];
const STREAM = Buffer.concat(FIXTURE);

describe('FrameDecoder: framing (SPEC §2)', () => {
  it('decodes frames that arrive whole', () => {
    expect(decodeAll([STREAM])).toEqual(expected(FIXTURE));
  });

  it('decodes a stream fed one byte at a time', () => {
    const bytes = [...STREAM].map((b) => Buffer.from([b]));
    expect(decodeAll(bytes)).toEqual(expected(FIXTURE));
  });

  it('decodes a frame whose 7-byte header is split at every possible point', () => {
    const f = FIXTURE[2] as Buffer;
    for (let cut = 1; cut < 7; cut++) {
      expect(decodeAll([f.subarray(0, cut), f.subarray(cut)]), `cut at ${cut}`).toEqual(expected([f]));
      // The header's tail and the next frame's start in one chunk.
      const two = Buffer.concat([f, f]);
      const at = f.length + cut;
      expect(decodeAll([two.subarray(0, at), two.subarray(at)]), `second frame cut at ${cut}`).toEqual(expected([f, f]));
    }
  });

  it('decodes a heartbeat whose header is split (a frame that is all header)', () => {
    expect(decodeAll([HEARTBEAT_FRAME.subarray(0, 3), HEARTBEAT_FRAME.subarray(3)])).toEqual(expected([HEARTBEAT_FRAME]));
  });

  it('decodes a thousand frames coalesced in one chunk', () => {
    const frames = Array.from({ length: 1000 }, (_, i) => methodFrame(1 + (i % 5), Method.BasicAck, [i + 1, false]));
    expect(decodeAll([Buffer.concat(frames)])).toEqual(expected(frames));
  });

  it('decodes the same frames under random splits (seeded)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = new Random(seed);
      const chunks = rnd.splits(STREAM, rnd.pick([3, 9, 64, 5000, 30_000]));
      expect(decodeAll(chunks), `seed ${seed}`).toEqual(expected(FIXTURE));
    }
  });

  it('hands out a frame that arrived whole as a view of the chunk, not a copy', () => {
    const r = recorder();
    const chunk = Buffer.concat(FIXTURE);
    new FrameDecoder(r.sink, 1 << 20).push(chunk);
    for (const v of r.views) expect(v.buffer).toBe(chunk.buffer);
  });
});

describe('FrameDecoder: bad frames', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('rejects an oversize frame from its header alone, before allocating for it', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const d = new FrameDecoder(recorder().sink, 4096);
    const head = frame(FrameType.METHOD, 1, Buffer.alloc(0), 0xfffffff0);
    // Split so the decoder has to stash the header before it can read the size.
    d.push(head.subarray(0, 3));
    const err = catchError(() => d.push(head.subarray(3)));
    expect({ code: err.code, message: err.message }).toEqual({
      code: 'FRAME_TOO_LARGE',
      message: 'frame of 4294967284 bytes exceeds frameMax 4096',
    });
    expect(err.isConnectionError).toBe(true);
    expect(alloc.mock.calls.filter(([n]) => (n as number) > 4096)).toEqual([]);
  });

  it('accepts a frame of exactly maxFrameBytes and rejects one byte more', () => {
    const ok = frame(FrameType.METHOD, 1, Buffer.alloc(4096 - 7));
    expect(decodeAll([ok], 4096)).toHaveLength(1);
    const big = frame(FrameType.METHOD, 1, Buffer.alloc(4096 - 6));
    const err = catchError(() => decodeAll([big], 4096));
    expect([err.code, err.message]).toEqual(['FRAME_TOO_LARGE', 'frame of 4097 bytes exceeds frameMax 4096']);
  });

  it.each([0, 1, 2])('rejects size %i (smaller than type + channel) as FRAME_ERROR', (size) => {
    const err = catchError(() => decodeAll([frame(FrameType.METHOD, 0, Buffer.alloc(0), size)]));
    expect([err.code, err.message]).toEqual(['FRAME_ERROR', `frame size ${size} is smaller than a frame header`]);
  });

  it.each([0, 2, 3, 7, 9, 255])('rejects unknown frame type %i as FRAME_ERROR', (type) => {
    const err = catchError(() => decodeAll([frame(type, 0, Buffer.alloc(2))]));
    expect([err.code, err.message]).toEqual(['FRAME_ERROR', `unknown frame type ${type}`]);
  });

  it('refuses further input after an error, since the stream position is lost', () => {
    const r = recorder();
    const d = new FrameDecoder(r.sink, 4096);
    expect(() => d.push(frame(9, 0, Buffer.alloc(0)))).toThrow(ProtocolError);
    expect(d.failed).toBe(true);
    d.push(STREAM);
    expect(r.frames).toEqual([]);
  });

  it('emits the good frames before a bad one in the same chunk', () => {
    const r = recorder();
    const d = new FrameDecoder(r.sink, 1 << 20);
    const good = FIXTURE[0] as Buffer;
    expect(() => d.push(Buffer.concat([good, frame(5, 0, Buffer.alloc(0))]))).toThrow('unknown frame type 5');
    expect(r.frames).toEqual(expected([good]));
  });
});

describe('FrameDecoder + parseMethod: hostile input (seeded fuzz)', () => {
  /** Feeds `chunks` to a decoder whose sink parses every METHOD; only ProtocolError may escape. */
  function feed(chunks: Buffer[], label: string): void {
    const d = new FrameDecoder(
      {
        onFrame(type, _channel, payload) {
          if (type === FrameType.METHOD) {
            try {
              parseMethod(payload);
            } catch (err) {
              if (!(err instanceof ProtocolError)) throw new Error(`${label}: parseMethod threw ${String(err)}`, { cause: err });
            }
          }
        },
      },
      64 * 1024,
    );
    for (const c of chunks) {
      try {
        d.push(c);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw new Error(`${label}: decoder threw ${String(err)}`, { cause: err });
        return;
      }
    }
  }

  it('random bytes under random splits never throw anything but ProtocolError', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rnd = new Random(seed);
      const bytes = rnd.bytes(rnd.int(0, 2000));
      feed(rnd.splits(bytes, rnd.int(1, 300)), `seed ${seed}`);
    }
  });

  it('random frames with plausible headers and random payloads never throw anything but ProtocolError', () => {
    const ids = [0, 0xffff, ...Object.values(Method)];
    for (let seed = 1; seed <= 2000; seed++) {
      const rnd = new Random(seed);
      const payload = Buffer.concat([Buffer.alloc(2), rnd.bytes(rnd.int(0, 80))]);
      payload.writeUInt16BE(rnd.pick(ids), 0);
      feed(rnd.splits(frame(rnd.pick([1, 1, 1, 8]), rnd.int(0, 3), payload), 16), `seed ${seed}`);
    }
  });

  it('valid frames with random bytes flipped never throw anything but ProtocolError', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const rnd = new Random(seed);
      const bytes = Buffer.from(STREAM.subarray(0, 200));
      const flips = rnd.int(1, 6);
      for (let i = 0; i < flips; i++) bytes[rnd.int(7, bytes.length - 1)] = rnd.int(0, 255);
      feed(rnd.splits(bytes, 50), `seed ${seed}`);
    }
  });
});
