import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { AmqpFrameDecoder } from '../../protocol/amqp/frame-decoder.js';
import { storeAmqpMessage, storedBodyStart } from '../../protocol/amqp/content.js';
import { Method } from '../../protocol/amqp/spec.generated.js';
import { AmqpFrameWriter } from '../../protocol/amqp/writer.js';
import { Random } from '../helpers/random.js';
import { CaptureSocket, amqplibDefs, recorder } from '../helpers/amqp.js';

/** The frames in a byte stream: [type, channel, payload size]. */
function frames(bytes: Buffer): [number, number, number][] {
  const out: [number, number, number][] = [];
  let p = 0;
  while (p < bytes.length) {
    const size = bytes.readUInt32BE(p + 3);
    expect(bytes[p + 7 + size]).toBe(0xce);
    out.push([bytes[p] as number, bytes.readUInt16BE(p + 1), size]);
    p += 8 + size;
  }
  expect(p).toBe(bytes.length);
  return out;
}

function decodeAll(bytes: Buffer, frameMax: number): ReturnType<typeof recorder> {
  const r = recorder();
  new AmqpFrameDecoder(r.sink, { frameMax }).push(bytes);
  return r;
}

const ARGS = { consumerTag: 'c', deliveryTag: 1, redelivered: false, exchange: 'e', routingKey: 'r' };

describe('batching', () => {
  it('everything written in one tick goes out in one corked burst', async () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    w.heartbeat();
    w.method(1, Method.BasicQosOk, {});
    w.content(1, Method.BasicDeliver, ARGS, {}, Buffer.alloc(3000, 1)); // by reference
    w.ack(1, 5, true);
    expect(s.written).toHaveLength(0);
    await tick();
    expect(s.corks).toBe(1);
    expect(frames(s.bytes()).map(([t]) => t)).toEqual([8, 1, 1, 2, 3, 1]);
  });

  it('bodies of 2 KiB and more are passed by reference, smaller ones copied into the batch', () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 131072 });
    const big = Buffer.alloc(4096, 2);
    const small = Buffer.alloc(100, 3);
    w.deliver(1, 'c', 1, false, 'e', 'r', {}, big);
    w.deliver(1, 'c', 2, false, 'e', 'r', {}, small);
    w.flush();
    expect(s.written.some((b) => b.buffer === big.buffer && b.length === big.length)).toBe(true);
    expect(s.written.some((b) => b.buffer === small.buffer)).toBe(false);
  });

  it('backpressure: writable turns false when the socket is full, back on drain', () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    let drained = 0;
    w.onDrain = () => drained++;
    s.full = true;
    w.heartbeat();
    expect(w.flush()).toBe(false);
    expect(w.writable).toBe(false);
    s.emitDrain();
    expect([w.writable, drained]).toEqual([true, 1]);
  });
});

describe('frames never exceed frame-max', () => {
  it('content is split into body frames of frame-max − 8 payload octets', () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    const body = Buffer.alloc(10_000, 7);
    w.content(3, Method.BasicGetOk, { deliveryTag: 1, redelivered: true, exchange: 'e', routingKey: 'r', messageCount: 0 }, { priority: 1 }, body);
    w.flush();
    expect(frames(s.bytes()).slice(2)).toEqual([
      [3, 3, 4088],
      [3, 3, 4088],
      [3, 3, 1824],
    ]);
    const r = decodeAll(s.bytes(), 4096);
    expect(r.bodies[0]?.equals(body)).toBe(true);
  });

  it('for random bodies and frame-max values, small and by reference (seeded)', () => {
    const rnd = new Random(42);
    for (let i = 0; i < 300; i++) {
      const frameMax = rnd.int(4096, 20_000);
      const body = rnd.bytes(rnd.pick([0, 1, 2047, 2048, rnd.int(0, 70_000)]));
      const s = new CaptureSocket();
      const w = new AmqpFrameWriter(s, { frameMax });
      w.deliver(1, 'tag', i, false, 'ex', 'rk', { headers: { i } }, body);
      w.flush();
      for (const [, , size] of frames(s.bytes())) expect(size + 8).toBeLessThanOrEqual(frameMax);
      const r = decodeAll(s.bytes(), frameMax);
      expect(r.errors).toEqual([]);
      expect(r.bodies[0]?.equals(body), `case ${i}`).toBe(true);
    }
  });

  it('frame-max 0 means no limit: one body frame', () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s);
    w.deliver(1, 'c', 1, false, 'e', 'r', {}, Buffer.alloc(100_000));
    w.flush();
    expect(frames(s.bytes()).map(([t, , n]) => [t, n])).toEqual([
      [1, 19],
      [2, 14],
      [3, 100_000],
    ]);
  });

  it('a method or content header that would not fit is a RangeError, and nothing is queued', () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    const table = { big: 'x'.repeat(5000) };
    expect(() => w.method(0, Method.ConnectionStart, { versionMajor: 0, versionMinor: 9, serverProperties: table, mechanisms: Buffer.from('PLAIN'), locales: Buffer.from('en_US') })).toThrow(
      new RangeError('AMQP frame of 5045 bytes exceeds frame-max 4096'),
    );
    expect(() => w.deliver(1, 'c', 1, false, 'e', 'r', { headers: table }, Buffer.from('x'))).toThrow(/exceeds frame-max 4096/);
    expect(w.propertiesFit(4076)).toBe(true);
    expect(w.propertiesFit(4077)).toBe(false);
    w.heartbeat();
    w.flush();
    expect(s.bytes().toString('hex')).toBe('08000000000000ce');
  });
});

describe('specialised writes', () => {
  it('ack and nack write what amqplib writes', () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    w.ack(1, 2 ** 33 + 1, true);
    w.nack(1, 9, false, true);
    w.flush();
    expect(s.bytes().toString('hex')).toBe(
      Buffer.concat([
        amqplibDefs.encodeMethod(Method.BasicAck, 1, { deliveryTag: 2 ** 33 + 1, multiple: true }),
        amqplibDefs.encodeMethod(Method.BasicNack, 1, { deliveryTag: 9, multiple: false, requeue: true }),
      ]).toString('hex'),
    );
  });

  it('deliverStored forwards a stored message’s property bytes and body without views', () => {
    const raw = amqplibDefs.encodeProperties(60, 1, 0, { contentType: 'a/b', headers: { k: 1 } }).subarray(19, -1);
    for (const body of [Buffer.from('small'), Buffer.alloc(5000, 4)]) {
      const stored = storeAmqpMessage(raw, body, 0);
      const s = new CaptureSocket();
      const w = new AmqpFrameWriter(s, { frameMax: 4096 });
      w.deliverStored(1, 'c', 1, false, 'e', 'r', stored, 5, storedBodyStart(stored), storedBodyStart(stored));
      w.flush();
      const r = decodeAll(s.bytes(), 4096);
      expect(r.events).toMatchObject([{ kind: 'content', raw: raw.toString('hex'), properties: { contentType: 'a/b', headers: { k: 1 } } }]);
      expect(r.bodies[0]?.equals(body)).toBe(true);
    }
  });

  it('a decoded method can be written back as it is', () => {
    const bytes = amqplibDefs.encodeMethod(Method.ExchangeDeclare, 4, { exchange: 'x', type: 'topic', durable: true, arguments: { 'alternate-exchange': 'ae' } });
    const r = decodeAll(bytes, 4096);
    const m = r.events[0];
    if (m?.kind !== 'method' || m.method.id !== Method.ExchangeDeclare) throw new Error('expected exchange.declare');
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    w.method(4, m.method.id, m.method);
    w.flush();
    expect(s.bytes().toString('hex')).toBe(bytes.toString('hex'));
  });

  it('protocol header and heartbeat', () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s);
    w.protocolHeader();
    w.heartbeat();
    w.flush();
    expect(s.bytes().toString('hex')).toBe('414d51500000090108000000000000ce');
  });
});
