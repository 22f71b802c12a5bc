import { describe, expect, it } from 'vitest';
import { AmqpError } from '../../protocol/amqp/errors.js';
import { AmqpFrameDecoder } from '../../protocol/amqp/frame-decoder.js';
import { decodeMethodArgs, encodeMethodArgs, maxMethodArgsSize } from '../../protocol/amqp/methods.generated.js';
import { METHODS, Method, type MethodArgsMap, type MethodId } from '../../protocol/amqp/spec.generated.js';
import { AmqpFrameWriter, type ContentMethodId } from '../../protocol/amqp/writer.js';
import { CaptureSocket, amqplibDefs, amqplibFrame, methodFrame, recorder, sampleArgs } from '../helpers/amqp.js';

function ourFrame<M extends MethodId>(channel: number, id: M, args: MethodArgsMap[M]): Buffer {
  const s = new CaptureSocket();
  const w = new AmqpFrameWriter(s, { frameMax: 131072 });
  w.method(channel, id, args);
  w.flush();
  return s.bytes();
}

function decodeOne(bytes: Buffer): ReturnType<typeof recorder> {
  const r = recorder();
  new AmqpFrameDecoder(r.sink, { frameMax: 131072 }).push(bytes);
  return r;
}

describe.each(METHODS.map((m) => [m.name, m] as const))('%s', (_name, m) => {
  const { ours, theirs } = sampleArgs(m, m.methodIndex);
  const id = m.id;

  it('encodes to the bytes amqplib encodes', () => {
    const expected = amqplibDefs.encodeMethod(id, 3, theirs);
    expect(ourFrame(3, id, ours as never).toString('hex')).toBe(expected.toString('hex'));
  });

  it('decodes amqplib bytes to the named arguments', () => {
    const r = decodeOne(amqplibDefs.encodeMethod(id, 0, theirs));
    expect(r.errors).toEqual([]);
    expect(r.events).toEqual([{ kind: 'method', channel: 0, method: { id, ...ours } }]);
  });

  it('measures an upper bound of what it writes', () => {
    const buf = Buffer.alloc(65536);
    const n = encodeMethodArgs(id, buf, 0, ours as never);
    expect(n).toBeLessThanOrEqual(maxMethodArgsSize(id, ours as never));
    expect(decodeMethodArgs(id, buf, 0, n)).toEqual({ id, ...ours });
  });

  it('refuses every truncation of its arguments and trailing octets', () => {
    const payload = amqplibDefs.encodeMethod(id, 0, theirs).subarray(11, -1);
    for (let n = 0; n < payload.length; n++) {
      const r = decodeOne(methodFrame(0, id, payload.subarray(0, n)));
      expect(r.events, `${n} of ${payload.length} octets`).toEqual([
        {
          kind: 'error',
          code: 'FRAME_ERROR',
          replyCode: 501,
          text: `cannot decode ${m.name}: arguments are truncated`,
          classId: m.classId,
          methodId: m.methodIndex,
          fatal: false,
        },
      ]);
    }
    const r = decodeOne(methodFrame(0, id, Buffer.concat([payload, Buffer.from([1, 2])])));
    expect(r.errors.map((e) => e.message)).toEqual([`cannot decode ${m.name}: 2 unexpected octets after the last argument`]);
  });
});

describe('content methods', () => {
  const body = Buffer.from('hello, world');
  const props = { contentType: 'text/plain', headers: { k: 'v', n: 5 }, deliveryMode: 2, priority: 3, messageId: 'm-1', timestamp: 1_700_000_000 };

  it.each(METHODS.filter((m) => m.content).map((m) => [m.name, m] as const))('%s: method, header and body frames as amqplib writes them', (_n, m) => {
    const { ours, theirs } = sampleArgs(m, 2);
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    w.content(7, m.id as ContentMethodId, ours as never, props, body);
    w.flush();
    const expected = Buffer.concat([
      amqplibDefs.encodeMethod(m.id, 7, theirs),
      amqplibDefs.encodeProperties(60, 7, body.length, props),
      amqplibFrame.makeBodyFrame(7, body),
    ]);
    expect(s.bytes().toString('hex')).toBe(expected.toString('hex'));
  });

  it('basic.deliver written positionally equals the generic encoding', () => {
    const a = new CaptureSocket();
    const b = new CaptureSocket();
    const wa = new AmqpFrameWriter(a, { frameMax: 4096 });
    const wb = new AmqpFrameWriter(b, { frameMax: 4096 });
    wa.deliver(2, 'ctag', 2 ** 40 + 3, true, 'ex', 'rk', props, body);
    wb.content(2, Method.BasicDeliver, { consumerTag: 'ctag', deliveryTag: 2 ** 40 + 3, redelivered: true, exchange: 'ex', routingKey: 'rk' }, props, body);
    wa.flush();
    wb.flush();
    expect(a.bytes().toString('hex')).toBe(b.bytes().toString('hex'));
  });
});

describe('shortstr text', () => {
  it('names in methods without content must be UTF-8, as RabbitMQ checks', () => {
    // queue.declare: reserved short, queue shortstr 0xff 0xfe, bits, empty table
    const r = decodeOne(methodFrame(1, Method.QueueDeclare, [0, 0, 2, 0xff, 0xfe, 0, 0, 0, 0, 0]));
    expect(r.errors.map((e) => [e.code, e.message, e.classId, e.methodId])).toEqual([
      ['FRAME_ERROR', 'cannot decode queue.declare: Malformed UTF-8 in shortstr', 50, 10],
    ]);
  });

  it('content methods skip the check for speed (RabbitMQ does too)', () => {
    const args = Buffer.from([0, 0, 1, 0xff, 1, 0x41, 0]);
    expect(decodeMethodArgs(Method.BasicPublish, args, 0, args.length)).toEqual({
      id: Method.BasicPublish,
      exchange: '\ufffd',
      routingKey: 'A',
      mandatory: false,
      immediate: false,
    });
  });

  it('names of up to 255 bytes, in any script', () => {
    const long = 'q'.repeat(255);
    const cjk = '队'.repeat(85); // 255 bytes
    for (const queue of [long, cjk, '']) {
      const args = { queue, messageCount: 1, consumerCount: 2 };
      expect(decodeOne(ourFrame(1, Method.QueueDeclareOk, args)).events).toEqual([{ kind: 'method', channel: 1, method: { id: Method.QueueDeclareOk, ...args } }]);
    }
  });

  it('a name over 255 bytes is a RangeError on encoding, and nothing is queued', () => {
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    expect(() => w.method(1, Method.QueueDeclareOk, { queue: 'é'.repeat(128), messageCount: 0, consumerCount: 0 })).toThrow(
      new RangeError(`AMQP shortstr of 256 bytes exceeds 255: "${'é'.repeat(40)}"…`),
    );
    w.heartbeat();
    w.flush();
    expect(s.bytes().toString('hex')).toBe('08000000000000ce');
  });
});

describe('bits', () => {
  it('consecutive bits share an octet, lowest bit first', () => {
    const args = { queue: 'q', passive: true, durable: false, exclusive: true, autoDelete: false, noWait: true, arguments: {} };
    const f = ourFrame(1, Method.QueueDeclare, args);
    expect(f[7 + 4 + 2 + 2]).toBe(0b10101);
  });

  it('unused bits in a bit octet are ignored when reading', () => {
    const args = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0xfe]); // ack: tag 0, bits 0xfe
    expect(decodeMethodArgs(Method.BasicAck, args, 0, args.length)).toEqual({ id: Method.BasicAck, deliveryTag: 0, multiple: false });
  });
});

describe('unknown ids', () => {
  it('an unknown method or class is NOT_IMPLEMENTED naming both ids', () => {
    for (const id of [(60 << 16) | 99, (30 << 16) | 10, (999 << 16) | 1]) {
      const r = decodeOne(methodFrame(1, id));
      expect(r.events).toEqual([
        {
          kind: 'error',
          code: 'NOT_IMPLEMENTED',
          replyCode: 540,
          text: `unknown method: class ${id >>> 16}, method ${id & 0xffff}`,
          classId: id >>> 16,
          methodId: id & 0xffff,
          fatal: false,
        },
      ]);
      expect(r.errors[0]).toBeInstanceOf(AmqpError);
      expect(r.errors[0]?.isConnectionError).toBe(true);
    }
  });
});
