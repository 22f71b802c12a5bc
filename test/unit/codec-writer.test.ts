import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameWriter, Method, parseMethod, splitContent, type WritableLike } from '../../protocol/index.js';
import { deferred } from '../helpers/wait.js';

/** Stands in for a net.Socket: records writes, and lets the test choose when it drains. */
class FakeSocket extends EventEmitter implements WritableLike {
  readonly writes: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  corked = 0;
  /** Bytes the fake kernel accepts before write() returns false. */
  capacity = Infinity;

  write(chunk: Buffer): boolean {
    this.writes.push(chunk);
    this.writableLength += chunk.length;
    return this.writableLength <= this.capacity;
  }
  cork(): void {
    this.corked++;
  }
  uncork(): void {}
  drain(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
  get bytes(): Buffer {
    return Buffer.concat(this.writes);
  }
}

function nextTick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

describe('FrameWriter: exact bytes (SPEC §2, §3)', () => {
  it('encodes a plain method frame', () => {
    const s = new FakeSocket();
    const w = new FrameWriter(s);
    w.method(1, Method.QueueDeclare, ['q', false]);
    w.flush();
    // size=9 | type=1 | channel=1 | id=0x3201 | fixarray(2) "q" false
    expect(s.bytes.toString('hex')).toBe('00000009' + '01' + '0001' + '3201' + '92a171c2');
  });

  it('encodes a content frame with properties and body', () => {
    const s = new FakeSocket();
    const w = new FrameWriter(s);
    const props = Buffer.from([0x81, 0xa1, 0x61, 0x01]); // {a: 1}
    w.content(2, Method.BasicPublish, ['', 'k'], props, Buffer.from('hi'));
    w.flush();
    const args = '92a0a16b'; // ["", "k"]
    expect(s.bytes.toString('hex')).toBe(
      '00000017' + '01' + '0002' + '3c07' + '00000004' + args + '00000004' + '81a16101' + '6869',
    );
  });

  it('encodes a heartbeat and raw bytes as given', () => {
    const s = new FakeSocket();
    const w = new FrameWriter(s);
    w.raw(Buffer.from('SKIFF'));
    w.heartbeat();
    w.flush();
    expect(s.bytes.toString('hex')).toBe(Buffer.from('SKIFF').toString('hex') + '00000003080000');
  });

  it('passes a large body by reference and a forwarded message as received', () => {
    const s = new FakeSocket();
    const w = new FrameWriter(s);
    const body = Buffer.alloc(100_000, 7);
    w.content(1, Method.BasicPublish, ['', 'q'], null, body);
    const wire = Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.alloc(9000, 9)]);
    w.contentRaw(1, Method.BasicDeliver, ['t', 1, false, '', 'q', false], wire);
    w.flush();
    expect(s.writes).toContain(body);
    expect(s.writes).toContain(wire);
    const frames: { channel: number; payload: Buffer }[] = [];
    new FrameDecoder({ onFrame: (_t, channel, payload) => frames.push({ channel, payload: Buffer.from(payload) }) }, 1 << 20).push(s.bytes);
    const [pub, del] = frames.map((f) => parseMethod(f.payload));
    expect(splitContent(pub?.content as Buffer).body.equals(body)).toBe(true);
    expect(del?.content?.equals(wire)).toBe(true);
    expect(del?.args).toEqual(['t', 1, false, '', 'q', false]);
  });
});

describe('FrameWriter: batching and backpressure', () => {
  it('writes everything of one tick in one corked burst', async () => {
    const s = new FakeSocket();
    const w = new FrameWriter(s);
    for (let i = 1; i <= 500; i++) w.method(1, Method.BasicAck, [i, false]);
    expect(s.writes).toHaveLength(0);
    await nextTick();
    expect(s.writes).toHaveLength(1);
    const acks: unknown[] = [];
    new FrameDecoder({ onFrame: (_t, _c, p) => acks.push(parseMethod(p).args[0]) }, 1 << 20).push(s.bytes);
    expect(acks).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
  });

  it('flushes early once a burst passes its bound, so nothing piles up unbounded', () => {
    const s = new FakeSocket();
    const w = new FrameWriter(s);
    const body = Buffer.alloc(1000);
    for (let i = 0; i < 1000; i++) w.content(1, Method.BasicPublish, ['', 'q'], null, body);
    expect(s.writes.length).toBeGreaterThan(0);
    expect(w.bufferedBytes).toBeGreaterThan(0);
  });

  it('turns unwritable over the high-water mark and back on drain, calling onDrain', async () => {
    const s = new FakeSocket();
    s.capacity = 1000;
    const w = new FrameWriter(s, 1000);
    const drained = deferred();
    w.onDrain = () => drained.resolve();
    w.content(1, Method.BasicPublish, ['', 'q'], null, Buffer.alloc(2000));
    expect(w.writable).toBe(true);
    w.flush();
    expect(w.writable).toBe(false);
    s.drain();
    await drained.promise;
    expect(w.writable).toBe(true);
  });

  it('reuses its batch buffer only once the socket has taken every byte, never overwriting bytes a socket still holds', () => {
    const s = new FakeSocket();
    const w = new FrameWriter(s);
    w.method(1, Method.BasicAck, [1, false]);
    w.flush();
    const held = Buffer.from(s.writes[0] as Buffer); // a copy of what the socket still holds
    w.method(1, Method.BasicAck, [2, false]);
    w.flush();
    expect(s.writes[0]).toEqual(held); // still unwritten: the second batch went elsewhere
    s.drain();
    w.method(1, Method.BasicAck, [3, false]);
    w.flush();
    // Everything was taken: the third batch starts at the start of the same buffer again.
    const [one, , three] = s.writes as [Buffer, Buffer, Buffer];
    expect(three.buffer).toBe(one.buffer);
    expect(three.byteOffset).toBe(one.byteOffset);
    const acks: unknown[] = [];
    new FrameDecoder({ onFrame: (_t, _c, p) => acks.push(parseMethod(p).args[0]) }, 1 << 20).push(s.writes[2] as Buffer);
    expect(acks).toEqual([3]);
  });

  it('drops what it holds once the socket is destroyed', async () => {
    const s = new FakeSocket();
    const w = new FrameWriter(s);
    w.method(1, Method.BasicAck, [1]);
    s.destroyed = true;
    expect(w.flush()).toBe(false);
    await nextTick();
    expect(s.writes).toEqual([]);
  });
});
