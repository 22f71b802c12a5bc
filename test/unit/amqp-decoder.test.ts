import { describe, expect, it } from 'vitest';
import { AmqpFrameDecoder, type AmqpDecoderOptions } from '../../protocol/amqp/frame-decoder.js';
import { Method } from '../../protocol/amqp/spec.generated.js';
import { Random } from '../helpers/random.js';
import { HEARTBEAT_BYTES, amqplibDefs, bodyFrame, frame, headerFrame, methodFrame, recorder, type Event } from '../helpers/amqp.js';

const FRAME_MAX = 4096;
const publish = (channel: number, routingKey = 'rk'): Buffer =>
  amqplibDefs.encodeMethod(Method.BasicPublish, channel, { exchange: 'ex', routingKey, mandatory: true });
const PUBLISH_METHOD = { id: Method.BasicPublish, exchange: 'ex', routingKey: 'rk', mandatory: true, immediate: false };
const PROPS = amqplibDefs.encodeProperties(60, 1, 0, { contentType: 'text/plain', headers: { a: 1 } }).subarray(19, -1);

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const BIG = pattern(9000, 1); // three body frames at frame-max 4096
const FIXTURE: Buffer[] = [
  HEARTBEAT_BYTES,
  amqplibDefs.encodeMethod(Method.ConnectionTuneOk, 0, { channelMax: 2047, frameMax: FRAME_MAX, heartbeat: 60 }),
  amqplibDefs.encodeMethod(Method.QueueDeclare, 1, { queue: 'q', durable: true, arguments: { 'x-message-ttl': 1000, 'x-queue-type': 'classic' } }),
  publish(1),
  headerFrame(1, 5),
  bodyFrame(1, Buffer.from('hello')),
  publish(1),
  headerFrame(1, BIG.length, PROPS),
  bodyFrame(1, BIG.subarray(0, 4088)),
  // another channel's frames may come between this content's frames
  amqplibDefs.encodeMethod(Method.BasicAck, 2, { deliveryTag: 7, multiple: true }),
  publish(2, 'other'),
  headerFrame(2, 0),
  bodyFrame(1, BIG.subarray(4088, 8176)),
  HEARTBEAT_BYTES,
  bodyFrame(1, BIG.subarray(8176)),
  publish(1),
  headerFrame(1, 2),
  bodyFrame(1, Buffer.from('a')),
  bodyFrame(1, Buffer.alloc(0)),
  bodyFrame(1, Buffer.from('b')),
  amqplibDefs.encodeMethod(Method.ChannelClose, 1, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }),
];
const STREAM = Buffer.concat(FIXTURE);

const content = (channel: number, method: object, body: Buffer, raw = '0000', headroom = 0, properties: object = {}): Event =>
  ({ kind: 'content', channel, method, properties: expect.objectContaining(properties), raw, body: body.toString('hex'), headroom }) as Event;

const EXPECTED: Event[] = [
  { kind: 'heartbeat' },
  { kind: 'method', channel: 0, method: { id: Method.ConnectionTuneOk, channelMax: 2047, frameMax: FRAME_MAX, heartbeat: 60 } },
  {
    kind: 'method',
    channel: 1,
    method: {
      id: Method.QueueDeclare,
      queue: 'q',
      passive: false,
      durable: true,
      exclusive: false,
      autoDelete: false,
      noWait: false,
      arguments: { 'x-message-ttl': 1000, 'x-queue-type': 'classic' },
    },
  },
  content(1, PUBLISH_METHOD, Buffer.from('hello')),
  { kind: 'method', channel: 2, method: { id: Method.BasicAck, deliveryTag: 7, multiple: true } },
  content(2, { ...PUBLISH_METHOD, routingKey: 'other' }, Buffer.alloc(0)),
  { kind: 'heartbeat' },
  content(1, PUBLISH_METHOD, BIG, PROPS.toString('hex'), 0, { contentType: 'text/plain', headers: { a: 1 } }),
  content(1, PUBLISH_METHOD, Buffer.from('ab')),
  { kind: 'method', channel: 1, method: { id: Method.ChannelClose, replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 } },
];

function decode(chunks: Buffer[], options: Partial<AmqpDecoderOptions> = {}): { events: Event[]; d: AmqpFrameDecoder; r: ReturnType<typeof recorder> } {
  const r = recorder();
  const d = new AmqpFrameDecoder(r.sink, { frameMax: FRAME_MAX, ...options });
  for (const c of chunks) d.push(c);
  return { events: r.events, d, r };
}

function errorOf(chunks: Buffer[], options: Partial<AmqpDecoderOptions> = {}): Event {
  const { events } = decode(chunks, options);
  const errors = events.filter((e) => e.kind === 'error');
  expect(errors).toHaveLength(1);
  return errors[0] as Event;
}

describe('framing', () => {
  it('decodes the fixture in one chunk', () => {
    const { events, d } = decode([STREAM]);
    expect(events).toEqual(EXPECTED);
    expect(d.midFrame).toBe(false);
    expect(d.pendingBodyBytes).toBe(0);
  });

  it('at every split point', () => {
    for (let i = 1; i < STREAM.length; i++) {
      const { events, d } = decode([STREAM.subarray(0, i), STREAM.subarray(i)]);
      expect(events, `split at ${i}`).toEqual(EXPECTED);
      expect(d.midFrame).toBe(false);
    }
  });

  it('one byte at a time', () => {
    expect(decode(Array.from(STREAM, (b) => Buffer.from([b]))).events).toEqual(EXPECTED);
  });

  it('with every frame header split over three reads', () => {
    const chunks: Buffer[] = [];
    for (const f of FIXTURE) chunks.push(f.subarray(0, 2), f.subarray(2, 4), f.subarray(4, 7), f.subarray(7));
    expect(decode(chunks).events).toEqual(EXPECTED);
  });

  it('at random splits (seeded)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = new Random(seed);
      expect(decode(rnd.splits(STREAM, rnd.int(1, 600))).events, `seed ${seed}`).toEqual(EXPECTED);
    }
  });

  it('accepts a payload of exactly frame-max, as RabbitMQ (which allows 8 octets of slack)', () => {
    const { events } = decode([publish(1), headerFrame(1, FRAME_MAX), bodyFrame(1, pattern(FRAME_MAX, 3))]);
    expect(events).toEqual([content(1, PUBLISH_METHOD, pattern(FRAME_MAX, 3))]);
  });

  it('reads frame-max anew for each frame (after tune-ok)', () => {
    const r = recorder();
    const d = new AmqpFrameDecoder(r.sink, { frameMax: FRAME_MAX });
    d.frameMax = 131072;
    d.push(Buffer.concat([publish(1), headerFrame(1, 100_000), bodyFrame(1, pattern(100_000, 4))]));
    expect(r.events).toEqual([content(1, PUBLISH_METHOD, pattern(100_000, 4))]);
  });
});

describe('bodies are copied at most once', () => {
  it('a body in one frame inside one chunk is a view of the chunk', () => {
    const chunk = Buffer.concat([publish(1), headerFrame(1, 5), bodyFrame(1, Buffer.from('hello'))]);
    const { r } = decode([chunk]);
    const body = r.bodies[0] as Buffer;
    expect(body.buffer).toBe(chunk.buffer);
    expect(body.byteOffset).toBe(chunk.byteOffset + chunk.length - 6);
  });

  it('a body over several frames is assembled into one buffer, with the headroom asked for', () => {
    const chunk = Buffer.concat([publish(1), headerFrame(1, BIG.length, PROPS), ...[0, 4088, 8176].map((a) => bodyFrame(1, BIG.subarray(a, a + 4088)))]);
    const seen: number[] = [];
    const { r } = decode([chunk], {
      bodyHeadroom: (raw, props) => {
        seen.push(raw.length, Object.keys(props.headers ?? {}).length);
        return 5 + raw.length;
      },
    });
    const body = r.bodies[0] as Buffer;
    expect(body.equals(BIG)).toBe(true);
    expect(body.buffer).not.toBe(chunk.buffer);
    expect(seen).toEqual([PROPS.length, 1]);
    expect(r.events[0]).toMatchObject({ kind: 'content', headroom: 5 + PROPS.length });
    // the headroom is in the same allocation, just before the body
    expect(new Uint8Array(body.buffer).length).toBeGreaterThanOrEqual(body.byteOffset);
    expect(body.byteOffset).toBeGreaterThanOrEqual(5 + PROPS.length);
  });

  it('a body frame straddling chunks goes straight into the body buffer', () => {
    const body = pattern(3000, 9);
    const all = Buffer.concat([publish(1), headerFrame(1, body.length), bodyFrame(1, body)]);
    const r = recorder();
    const d = new AmqpFrameDecoder(r.sink, { frameMax: FRAME_MAX });
    d.push(all.subarray(0, all.length - 1000));
    expect(d.midFrame).toBe(true);
    expect(d.pendingBodyBytes).toBe(body.length);
    d.push(all.subarray(all.length - 1000));
    expect(d.pendingBodyBytes).toBe(0);
    expect((r.bodies[0] as Buffer).equals(body)).toBe(true);
  });
});

describe('frame errors', () => {
  it('a frame over frame-max is FRAME_ERROR as soon as its header is read, and nothing more is read', () => {
    const { events, d } = decode([frame(1, 1, Buffer.alloc(0), { size: FRAME_MAX + 1 }).subarray(0, 7), HEARTBEAT_BYTES]);
    expect(events).toEqual([
      { kind: 'error', code: 'FRAME_ERROR', replyCode: 501, text: `type 1, all octets = <<>>: {frame_too_large,${FRAME_MAX + 1},4088}`, classId: 0, methodId: 0, fatal: true },
    ]);
    expect(d.failed).toBe(true);
  });

  it('a huge size field allocates nothing', () => {
    const { events } = decode([Buffer.from([1, 0, 1, 0xff, 0xff, 0xff, 0xff])], { frameMax: 0x7fff_ffff });
    expect(events.map((e) => (e.kind === 'error' ? e.text : e.kind))).toEqual(['type 1, all octets = <<>>: {frame_too_large,4294967295,2147483639}']);
  });

  it('a bad frame end is fatal, whether the frame came whole, in pieces or as a streamed body', () => {
    const bad = frame(1, 0, Buffer.from([0, 10, 0, 51]), { end: 0x41 });
    const text = 'type 1, all octets = <<0,10,0,51>>: {invalid_frame_end_marker,65}';
    for (const chunks of [[bad], [bad.subarray(0, 5), bad.subarray(5)], Array.from(bad, (b) => Buffer.from([b]))]) {
      expect(errorOf([...chunks, HEARTBEAT_BYTES])).toEqual({ kind: 'error', code: 'FRAME_ERROR', replyCode: 501, text, classId: 0, methodId: 0, fatal: true });
    }
    const streamed = Buffer.concat([publish(1), headerFrame(1, 20), frame(3, 1, Buffer.from('ABCDEFGHIJKLMNOPQRST'), { end: 0 })]);
    expect(errorOf([streamed.subarray(0, streamed.length - 5), streamed.subarray(streamed.length - 5)])).toMatchObject({
      text: 'type 3, first 16 octets = <<"ABCDEFGHIJKLMNOP">>: {invalid_frame_end_marker,0}',
      fatal: true,
    });
  });

  it('an unknown frame type is FRAME_ERROR naming it', () => {
    expect(errorOf([frame(5, 1, Buffer.from([1, 2]))])).toEqual({
      kind: 'error',
      code: 'FRAME_ERROR',
      replyCode: 501,
      text: 'type 5, all octets = <<1,2>>: unknown_frame',
      classId: 0,
      methodId: 0,
      fatal: false,
    });
  });

  it('malformed heartbeat, method and header frames', () => {
    expect(errorOf([frame(8, 0, Buffer.from([0]))])).toMatchObject({ code: 'FRAME_ERROR', text: 'type 8, all octets = <<0>>: unknown_frame' });
    expect(errorOf([frame(1, 1, Buffer.from([0, 60, 0]))])).toMatchObject({ code: 'FRAME_ERROR', text: 'type 1, all octets = <<0,60,0>>: unknown_frame' });
    expect(errorOf([publish(1), frame(2, 1, Buffer.alloc(11))])).toMatchObject({ code: 'FRAME_ERROR', text: 'type 2, all octets = <<0,0,0,0,0,0,0,0,0,0,0>>: unknown_frame' });
  });

  it('a heartbeat on a channel other than 0 is UNEXPECTED_FRAME', () => {
    expect(errorOf([frame(8, 3, Buffer.alloc(0))])).toEqual({
      kind: 'error',
      code: 'UNEXPECTED_FRAME',
      replyCode: 505,
      text: 'type 8, all octets = <<>>',
      classId: 0,
      methodId: 0,
      fatal: false,
    });
  });

  it('content frames on channel 0 are UNEXPECTED_FRAME', () => {
    expect(errorOf([headerFrame(0, 1)])).toMatchObject({ code: 'UNEXPECTED_FRAME', text: 'type 2, all octets = <<0,60,0,0,0,0,0,0,0,0,0,1,0,0>>' });
    expect(errorOf([bodyFrame(0, Buffer.from('x'))])).toMatchObject({ code: 'UNEXPECTED_FRAME', text: 'type 3, all octets = <<"x">>' });
  });
});

describe('content assembly errors (RabbitMQ’s texts)', () => {
  const unexpected = (text: string, classId = 0, methodId = 0): Event => ({
    kind: 'error',
    code: 'UNEXPECTED_FRAME',
    replyCode: 505,
    text,
    classId,
    methodId,
    fatal: false,
  });

  it('a content header without a method', () => {
    expect(errorOf([headerFrame(1, 1)])).toEqual(unexpected('expected method frame, got non method frame instead'));
  });

  it('a body frame without a method', () => {
    expect(errorOf([bodyFrame(1, Buffer.from('x'))])).toEqual(unexpected('expected method frame, got non method frame instead'));
  });

  it('a body frame without a header', () => {
    expect(errorOf([publish(1), bodyFrame(1, Buffer.from('x'))])).toEqual(
      unexpected('expected content header for class 60, got non content header frame instead', 60, 40),
    );
  });

  it('a method frame instead of the header', () => {
    expect(errorOf([publish(1), publish(1)])).toEqual(unexpected('expected content header for class 60, got non content header frame instead', 60, 40));
  });

  it('a header of another class, or with a weight', () => {
    expect(errorOf([publish(1), headerFrame(1, 1, Buffer.alloc(2), 50)])).toEqual(
      unexpected('expected content header for class 60, got one for class 50 instead', 60, 40),
    );
    expect(errorOf([publish(1), headerFrame(1, 1, Buffer.alloc(2), 60, 1)])).toEqual(
      unexpected('expected content header for class 60, got non content header frame instead', 60, 40),
    );
  });

  it('a method frame arriving mid-content', () => {
    expect(errorOf([publish(1), headerFrame(1, 10), bodyFrame(1, Buffer.from('12345')), publish(1)])).toEqual(
      unexpected('expected content body, got non content body frame instead', 60, 40),
    );
    expect(errorOf([publish(1), headerFrame(1, 10), headerFrame(1, 10)])).toEqual(unexpected('expected content body, got non content body frame instead', 60, 40));
    // refused for where it is, before its (here truncated) arguments are read, as RabbitMQ
    expect(errorOf([publish(1), headerFrame(1, 10), methodFrame(1, Method.QueueDeclare, [1])])).toEqual(
      unexpected('expected content body, got non content body frame instead', 60, 40),
    );
  });

  it('body frames larger than the size the header gave', () => {
    expect(errorOf([publish(1), headerFrame(1, 3), bodyFrame(1, Buffer.from('1234'))])).toEqual({
      kind: 'error',
      code: 'FRAME_ERROR',
      replyCode: 501,
      text: 'content body frame exceeds remaining content size',
      classId: 60,
      methodId: 40,
      fatal: false,
    });
    expect(errorOf([publish(1), headerFrame(1, 5), bodyFrame(1, Buffer.from('123')), bodyFrame(1, Buffer.from('456'))])).toMatchObject({
      text: 'content body frame exceeds remaining content size',
    });
  });

  it('a body size over the maximum, checked before any body arrives', () => {
    expect(errorOf([publish(1), headerFrame(1, 1025)], { maxBodySize: 1024 })).toEqual({
      kind: 'error',
      code: 'FRAME_ERROR',
      replyCode: 501,
      text: 'content body size 1025 exceeds maximum allowed size 1024',
      classId: 60,
      methodId: 40,
      fatal: false,
    });
    expect(errorOf([publish(1), headerFrame(1, 2n ** 64n - 1n)])).toMatchObject({
      text: `content body size 18446744073709551615 exceeds maximum allowed size ${128 * 1024 * 1024}`,
    });
  });

  it('content on channel 0 is not assembled: the method goes to the front end, as in RabbitMQ', () => {
    const { events } = decode([publish(0)]);
    expect(events).toEqual([{ kind: 'method', channel: 0, method: PUBLISH_METHOD }]);
  });
});

describe('after an error', () => {
  it('only channel 0’s connection.close and close-ok get through', () => {
    const closeOk = amqplibDefs.encodeMethod(Method.ConnectionCloseOk, 0, {});
    const { events, d } = decode([
      headerFrame(1, 1),
      publish(1),
      headerFrame(1, 1),
      bodyFrame(1, Buffer.from('x')),
      frame(9, 1, Buffer.alloc(0)),
      HEARTBEAT_BYTES,
      amqplibDefs.encodeMethod(Method.ChannelOpen, 0, {}),
      methodFrame(0, (60 << 16) | 99),
      closeOk,
    ]);
    expect(d.closing).toBe(true);
    expect(d.failed).toBe(false);
    expect(events).toEqual([
      { kind: 'error', code: 'UNEXPECTED_FRAME', replyCode: 505, text: 'expected method frame, got non method frame instead', classId: 0, methodId: 0, fatal: false },
      { kind: 'method', channel: 0, method: { id: Method.ConnectionCloseOk } },
    ]);
  });

  it('startClosing does the same for an error the front end raised, and drops content in assembly', () => {
    const r = recorder();
    const d = new AmqpFrameDecoder(r.sink, { frameMax: FRAME_MAX });
    d.push(Buffer.concat([publish(1), headerFrame(1, 10), bodyFrame(1, Buffer.from('12345'))]));
    expect(d.pendingBodyBytes).toBe(10);
    d.startClosing();
    expect(d.pendingBodyBytes).toBe(0);
    d.push(Buffer.concat([bodyFrame(1, Buffer.from('67890')), amqplibDefs.encodeMethod(Method.ConnectionClose, 0, { replyCode: 200, replyText: '', classId: 0, methodId: 0 })]));
    expect(r.events.map((e) => (e.kind === 'method' ? e.method.id : e.kind))).toEqual([Method.ConnectionClose]);
  });

  it('startClosing in the middle of a body frame skips the rest of it', () => {
    const r = recorder();
    const d = new AmqpFrameDecoder(r.sink, { frameMax: FRAME_MAX });
    const all = Buffer.concat([publish(1), headerFrame(1, 3000), bodyFrame(1, pattern(3000, 5)), amqplibDefs.encodeMethod(Method.ConnectionCloseOk, 0, {})]);
    d.push(all.subarray(0, 200));
    d.startClosing();
    d.push(all.subarray(200));
    expect(r.events).toEqual([{ kind: 'method', channel: 0, method: { id: Method.ConnectionCloseOk } }]);
    expect([d.pendingBodyBytes, d.midFrame, d.failed]).toEqual([0, false, false]);
  });
});

describe('protocol header', () => {
  const header = (...b: number[]): Buffer => Buffer.from([0x41, 0x4d, 0x51, 0x50, ...b]);

  it('AMQP 0-9-1 then frames, however the bytes are split', () => {
    const all = Buffer.concat([header(0, 0, 9, 1), HEARTBEAT_BYTES]);
    for (let i = 1; i < all.length; i++) {
      const checks: unknown[] = [];
      const r = recorder();
      const d = new AmqpFrameDecoder({ ...r.sink, onProtocolHeader: (c) => checks.push(c) }, { frameMax: FRAME_MAX, expectProtocolHeader: true });
      d.push(all.subarray(0, i));
      d.push(all.subarray(i));
      expect(checks).toEqual([{ ok: true, protocol: 'AMQP 0-9-1' }]);
      expect(r.events).toEqual([{ kind: 'heartbeat' }]);
    }
  });

  it('AMQP 0-9 (1 1 0 9) is served as 0-9-1, as RabbitMQ does', () => {
    const checks: unknown[] = [];
    new AmqpFrameDecoder({ ...recorder().sink, onProtocolHeader: (c) => checks.push(c) }, { frameMax: FRAME_MAX, expectProtocolHeader: true }).push(header(1, 1, 0, 9));
    expect(checks).toEqual([{ ok: true, protocol: 'AMQP 0-9' }]);
  });

  it('another header gets the 0-9-1 header as the reply, and the decoder stops', () => {
    const checks: { ok: boolean; protocol: string; reply?: Buffer }[] = [];
    const r = recorder();
    const d = new AmqpFrameDecoder({ ...r.sink, onProtocolHeader: (c) => checks.push(c) }, { frameMax: FRAME_MAX, expectProtocolHeader: true });
    d.push(Buffer.concat([Buffer.from('SKIFF\0\x01\x00', 'latin1'), HEARTBEAT_BYTES]));
    expect(checks.map((c) => [c.ok, c.protocol, c.reply?.toString('hex')])).toEqual([[false, 'Skiff native protocol 1.0', '414d515000000901']]);
    expect(d.failed).toBe(true);
    expect(r.events).toEqual([]);
  });
});
