import { describe, expect, it } from 'vitest';
import { AmqpError } from '../../protocol/amqp/errors.js';
import { AmqpFrameDecoder } from '../../protocol/amqp/frame-decoder.js';
import { EMPTY_PROPERTIES, decodeBasicProperties, encodeBasicProperties, maxBasicPropertiesSize } from '../../protocol/amqp/methods.generated.js';
import { BASIC_PROPERTIES, Method, type BasicProperties } from '../../protocol/amqp/spec.generated.js';
import { AmqpFrameWriter } from '../../protocol/amqp/writer.js';
import { CaptureSocket, amqplibDefs, bodyFrame, headerFrame, methodFrame, recorder } from '../helpers/amqp.js';

const ALL: BasicProperties = {
  contentType: 'application/json',
  contentEncoding: 'gzip',
  headers: { 'x-trace': 'abc', n: 42, nested: { ok: true } },
  deliveryMode: 2,
  priority: 9,
  correlationId: 'corr-1',
  replyTo: 'amq.rabbitmq.reply-to',
  expiration: '60000',
  messageId: 'msg-1',
  timestamp: 1_700_000_123,
  type: 'order.created',
  userId: 'guest',
  appId: 'shop',
  clusterId: 'c1',
};

/** The property bytes (after class, weight and body size) of amqplib's content header. */
function theirProps(p: BasicProperties): Buffer {
  return amqplibDefs.encodeProperties(60, 1, 0, p as Record<string, unknown>).subarray(19, -1);
}

function ours(p: BasicProperties): Buffer {
  const b = Buffer.alloc(maxBasicPropertiesSize(p));
  return b.subarray(0, encodeBasicProperties(b, 0, p));
}

const PUBLISH_ARGS = [0, 0, 0, 0, 0]; // reserved short, empty exchange and key, no bits

describe('basic properties', () => {
  it('all 14 encode to amqplib’s bytes and decode back', () => {
    expect(ours(ALL).toString('hex')).toBe(theirProps(ALL).toString('hex'));
    const raw = theirProps(ALL);
    expect(decodeBasicProperties(raw, 0, raw.length)).toEqual(ALL);
  });

  it.each(BASIC_PROPERTIES.map((p) => [p.name, p.flag] as const))('%s alone sets flag %i', (name, flag) => {
    const one = { [name]: ALL[name] } as BasicProperties;
    const raw = ours(one);
    expect(raw.readUInt16BE(0)).toBe(flag);
    expect(raw.toString('hex')).toBe(theirProps(one).toString('hex'));
    expect(decodeBasicProperties(raw, 0, raw.length)).toEqual(one);
  });

  it('none: flags 0, and the shared empty object when decoding', () => {
    expect(ours({}).toString('hex')).toBe('0000');
    expect(ours({ contentType: undefined, headers: null as unknown as undefined }).toString('hex')).toBe('0000');
    expect(decodeBasicProperties(Buffer.alloc(2), 0, 2)).toBe(EMPTY_PROPERTIES);
    expect(Object.isFrozen(EMPTY_PROPERTIES)).toBe(true);
  });

  it('ignores the continuation and spare bits of the flags, as RabbitMQ does', () => {
    expect(decodeBasicProperties(Buffer.from([0, 3]), 0, 2)).toBe(EMPTY_PROPERTIES);
    expect(decodeBasicProperties(Buffer.from([0x10, 1, 2]), 0, 3)).toEqual({ deliveryMode: 2 });
  });

  it('refuses every truncation and trailing octets', () => {
    const raw = ours(ALL);
    for (let n = 0; n < raw.length; n++) {
      expect(() => decodeBasicProperties(raw, 0, n), `${n} octets`).toThrow(new AmqpError('FRAME_ERROR', 'arguments are truncated'));
    }
    const extra = Buffer.concat([raw, Buffer.from([7])]);
    expect(() => decodeBasicProperties(extra, 0, extra.length)).toThrow('1 unexpected octet after the last argument');
  });
});

describe('content headers through the decoder', () => {
  function decode(...frames: Buffer[]): ReturnType<typeof recorder> {
    const r = recorder();
    new AmqpFrameDecoder(r.sink, { frameMax: 4096 }).push(Buffer.concat(frames));
    return r;
  }

  it('hands out decoded properties and the raw bytes as received', () => {
    const raw = theirProps(ALL);
    const r = decode(methodFrame(1, Method.BasicPublish, PUBLISH_ARGS), headerFrame(1, 3, raw), bodyFrame(1, Buffer.from('abc')));
    expect(r.errors).toEqual([]);
    expect(r.events).toEqual([
      {
        kind: 'content',
        channel: 1,
        method: { id: Method.BasicPublish, exchange: '', routingKey: '', mandatory: false, immediate: false },
        properties: ALL,
        raw: raw.toString('hex'),
        body: '616263',
        headroom: 0,
      },
    ]);
  });

  it('a message without properties gets the shared empty ones, and the raw 00 00', () => {
    const seen: [BasicProperties, Buffer][] = [];
    const d = new AmqpFrameDecoder(
      { onMethod() {}, onHeartbeat() {}, onError() {}, onContent: (_c, _m, p, raw) => seen.push([p, raw]) },
      { frameMax: 4096 },
    );
    const msg = Buffer.concat([methodFrame(1, Method.BasicPublish, PUBLISH_ARGS), headerFrame(1, 0)]);
    d.push(msg);
    d.push(msg);
    expect(seen[0]?.[0]).toBe(EMPTY_PROPERTIES);
    expect(seen[0]?.[1]).toBe(seen[1]?.[1]);
    expect(seen[0]?.[1].toString('hex')).toBe('0000');
  });

  it('malformed properties are FRAME_ERROR naming the publish', () => {
    const bad = Buffer.from([0x20, 0, 0, 0, 0, 5, 1, 0x6b, 0x5a, 0, 0]); // headers: table with tag 'Z'
    const r = decode(methodFrame(1, Method.BasicPublish, PUBLISH_ARGS), headerFrame(1, 0, bad));
    expect(r.events).toEqual([
      {
        kind: 'error',
        code: 'FRAME_ERROR',
        replyCode: 501,
        text: "cannot decode the content header's properties: malformed field table: unknown field type 'Z' (0x5a) for key 'k'",
        classId: 60,
        methodId: 40,
        fatal: false,
      },
    ]);
  });

  it('raw properties are forwarded byte for byte by the writer', () => {
    const raw = theirProps(ALL);
    const s = new CaptureSocket();
    const w = new AmqpFrameWriter(s, { frameMax: 4096 });
    w.deliver(1, 'ct', 1, false, 'ex', 'rk', raw, Buffer.from('x'));
    w.flush();
    const r = decode(s.bytes());
    expect(r.events.map((e) => (e.kind === 'content' ? e.raw : e.kind))).toEqual([raw.toString('hex')]);
  });
});
