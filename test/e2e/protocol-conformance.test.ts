import { describe, expect, it } from 'vitest';
import { FrameType, HEARTBEAT_FRAME, Method, PROTOCOL_HEADER, ReplyCode, packValue } from '../../protocol/index.js';
import { frame, rawMethodPayload, u16, u32 } from '../helpers/frames.js';
import type { RawClient } from '../helpers/raw.js';
import { useServer } from '../helpers/server.js';
import { within } from '../helpers/wait.js';

/**
 * Where the daemon and SPEC.md once disagreed, or SPEC.md was silent: each case asserts what the
 * SPEC now says, against the real daemon over TCP, byte for byte where it matters.
 */
const server = useServer({ heartbeatMs: 60_000 });

async function connectionClose(raw: RawClient): Promise<unknown> {
  return within(raw.expectConnectionClose(), 'connection.close');
}

async function channelClose(raw: RawClient, channel = 1): Promise<unknown> {
  return within(raw.expectChannelClose(channel), 'channel.close');
}

describe('the handshake (SPEC §3.1.1)', () => {
  it('a heartbeat before connection.open is COMMAND_INVALID', async () => {
    const raw = await server().raw({ handshake: false });
    raw.send(PROTOCOL_HEADER);
    await raw.expect(Method.ConnectionStart);
    raw.send(HEARTBEAT_FRAME);
    expect(await connectionClose(raw)).toEqual({ code: ReplyCode.COMMAND_INVALID, text: 'COMMAND_INVALID - heartbeat before connection.open-ok', methodId: 0 });
  });

  it('heartbeatMs 0 from the client turns heartbeats off, though the server offers them', async () => {
    const raw = await server().raw({ handshake: false });
    expect((await raw.handshake({ heartbeatMs: 0 }))[2]).toBe(0);
    raw.destroy();
  });

  it('otherwise the lower heartbeatMs wins', async () => {
    const raw = await server().raw({ handshake: false });
    expect((await raw.handshake({ heartbeatMs: 90_000 }))[2]).toBe(60_000);
    raw.destroy();
  });

  it('a frameMax under 4096 is SYNTAX_ERROR', async () => {
    const raw = await server().raw({ handshake: false });
    raw.send(PROTOCOL_HEADER);
    await raw.expect(Method.ConnectionStart);
    raw.sendMethod(0, Method.ConnectionOpen, ['guest', 'guest', 4095, 0, 0, {}]);
    expect(await connectionClose(raw)).toEqual({
      code: ReplyCode.SYNTAX_ERROR,
      text: 'SYNTAX_ERROR - connection.open: frameMax must be 0 or at least 4096',
      methodId: Method.ConnectionOpen,
    });
  });
});

describe('heartbeats (SPEC §3.1.3)', () => {
  it('a silent peer gets a heartbeat every heartbeatMs / 2 until it is dropped at 2 × heartbeatMs: no heartbeat skipped', async () => {
    const raw = await server().raw({ heartbeatMs: 400 });
    await within(raw.ended, 'the server to drop the silent peer', 10_000);
    // Sent at 200, 400 and 600 ms of silence; the peer is dropped at 800 ms. A server ticking
    // every 200 ms skipped every other one (2 heartbeats) and dropped the peer late.
    expect(raw.heartbeats).toBeGreaterThanOrEqual(3);
    expect(raw.methods.items.map((m) => m.name)).toEqual(['connection.start', 'connection.open-ok']);
  });
});

describe('frameMax binds the server too (SPEC §2.1)', () => {
  const FRAME_MAX = 8192;
  const tag = 't'.repeat(255);

  /** A message that fits a publish frame of 8192 but not a deliver frame with a 255-byte tag. */
  async function bigMessage(): Promise<Buffer> {
    const body = Buffer.alloc(FRAME_MAX - 100, 1);
    const pub = await (await server().connect()).channel();
    await pub.declareQueue('big');
    await pub.confirmSelect();
    await pub.publish('', 'big', body);
    return body;
  }

  it('a delivery that would not fit is not sent: CONTENT_TOO_LARGE closes the channel and the message stays queued', async () => {
    const body = await bigMessage();
    const raw = await server().raw({ frameMax: FRAME_MAX });
    await raw.openChannel(1);
    raw.sendMethod(1, Method.BasicConsume, ['big', tag, false]);
    await raw.expect(Method.BasicConsumeOk, 1);
    expect(await channelClose(raw)).toEqual({
      code: ReplyCode.CONTENT_TOO_LARGE,
      text: `CONTENT_TOO_LARGE - basic.deliver of a message of ${body.length} bytes (properties and body) does not fit in frameMax ${FRAME_MAX}`,
      methodId: 0,
    });
    const ch = await (await server().connect()).channel();
    const m = await ch.get('big', { noAck: true });
    expect([m?.body.equals(body), m?.redelivered]).toEqual([true, true]);
    raw.destroy();
  });

  it('a basic.get of such a message, even with noAck, gets the same channel error and leaves it in the queue', async () => {
    const body = await bigMessage();
    const raw = await server().raw({ frameMax: 4096 });
    await raw.openChannel(1);
    raw.sendMethod(1, Method.BasicGet, ['big', true]);
    expect(await channelClose(raw)).toEqual({
      code: ReplyCode.CONTENT_TOO_LARGE,
      text: `CONTENT_TOO_LARGE - basic.get-ok of a message of ${body.length} bytes (properties and body) does not fit in frameMax 4096`,
      methodId: Method.BasicGet,
    });
    const ch = await (await server().connect()).channel();
    expect((await ch.get('big', { noAck: true }))?.body.equals(body)).toBe(true);
    raw.destroy();
  });

  it('every frame the server sends fits: the largest deliver that fits is delivered', async () => {
    const raw = await server().raw({ frameMax: FRAME_MAX });
    await raw.openChannel(1);
    raw.sendMethod(1, Method.QueueDeclare, ['fits']);
    await raw.expect(Method.QueueDeclareOk, 1);
    raw.sendMethod(1, Method.BasicConsume, ['fits', tag, true]);
    await raw.expect(Method.BasicConsumeOk, 1);
    const pub = await (await server().connect()).channel();
    // Deliver frame: 7 header + 2 id + 4 argsSize + args + 4 propsSize + body; the args are
    // [tag (str8: 2 + 255), deliveryTag 1, redelivered, exchange '', routingKey 'fits', persistent].
    const argsBytes = 1 + (2 + 255) + 1 + 1 + 1 + 5 + 1;
    const body = Buffer.alloc(FRAME_MAX - (7 + 2 + 4 + argsBytes + 4), 2);
    await pub.publish('', 'fits', body);
    const d = await raw.expect(Method.BasicDeliver, 1);
    expect(d.content?.subarray(4).equals(body)).toBe(true);
    const sizes: number[] = [];
    const all = Buffer.concat(raw.received);
    for (let off = 0; off + 4 <= all.length; off += all.readUInt32BE(off) + 4) sizes.push(all.readUInt32BE(off) + 4);
    expect(Math.max(...sizes)).toBe(FRAME_MAX);
    raw.destroy();
  });
});

describe('arguments (SPEC §3.2)', () => {
  it('a map with an integer key is SYNTAX_ERROR', async () => {
    const raw = await server().raw();
    await raw.openChannel(1);
    // queue.declare ['q', false, false, false, false, {1: 'x'}]
    raw.send(frame(FrameType.METHOD, 1, rawMethodPayload(Method.QueueDeclare, [0x96, 0xa1, 0x71, 0xc2, 0xc2, 0xc2, 0xc2, 0x81, 0x01, 0xa1, 0x78])));
    expect(await channelClose(raw)).toEqual({
      code: ReplyCode.SYNTAX_ERROR,
      text: 'SYNTAX_ERROR - malformed msgpack in method arguments: map keys must be strings, got the integer 1',
      methodId: Method.QueueDeclare,
    });
    raw.destroy();
  });

  it.each([
    ['nil for a required argument', [0x92, 0xc0, 0xc2], "SYNTAX_ERROR - basic.ack: argument 'deliveryTag' is required"],
    ['a float with a fraction', [0x92, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc2], "SYNTAX_ERROR - basic.ack: argument 'deliveryTag' must be a non-negative integer"],
    ['uint64 max', [0x92, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc2], "SYNTAX_ERROR - basic.ack: argument 'deliveryTag' must be a non-negative integer"],
  ])('%s is SYNTAX_ERROR', async (_what, bytes, text) => {
    const raw = await server().raw();
    await raw.openChannel(1);
    raw.send(frame(FrameType.METHOD, 1, rawMethodPayload(Method.BasicAck, bytes)));
    expect(await channelClose(raw)).toEqual({ code: ReplyCode.SYNTAX_ERROR, text, methodId: Method.BasicAck });
    raw.destroy();
  });

  it('a whole float where an integer is expected reads as that integer', async () => {
    const raw = await server().raw();
    await raw.openChannel(1);
    // basic.qos [1.0, false]
    raw.send(frame(FrameType.METHOD, 1, rawMethodPayload(Method.BasicQos, [0x92, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc2])));
    await raw.expect(Method.BasicQosOk, 1);
    raw.destroy();
  });

  it('malformed arguments on a channel that is not open are SYNTAX_ERROR (connection), not CHANNEL_ERROR', async () => {
    const raw = await server().raw();
    raw.send(frame(FrameType.METHOD, 3, rawMethodPayload(Method.QueueDeclare, [0x91, 0x05])));
    expect(await connectionClose(raw)).toEqual({ code: ReplyCode.SYNTAX_ERROR, text: "SYNTAX_ERROR - queue.declare: argument 'queue' must be a string", methodId: Method.QueueDeclare });
  });
});

describe('names and tags share the 255-byte limit (SPEC §3)', () => {
  it('a 256-byte consumer tag is PRECONDITION_FAILED, as a 256-byte queue name is', async () => {
    const raw = await server().raw();
    await raw.openChannel(1);
    raw.sendMethod(1, Method.QueueDeclare, ['q']);
    await raw.expect(Method.QueueDeclareOk, 1);
    raw.sendMethod(1, Method.BasicConsume, ['q', 't'.repeat(256)]);
    expect(await channelClose(raw)).toEqual({ code: ReplyCode.PRECONDITION_FAILED, text: 'PRECONDITION_FAILED - consumer tag is longer than 255 bytes', methodId: Method.BasicConsume });
    raw.sendMethod(1, Method.ChannelOpen, []);
    await raw.expect(Method.ChannelOpenOk, 1);
    raw.sendMethod(1, Method.QueueDeclare, ['q'.repeat(256)]);
    expect(await channelClose(raw)).toEqual({ code: ReplyCode.PRECONDITION_FAILED, text: 'PRECONDITION_FAILED - queue name is longer than 255 bytes', methodId: Method.QueueDeclare });
    raw.destroy();
  });

  it('a 255-byte consumer tag is accepted', async () => {
    const ch = await (await server().connect()).channel();
    await ch.declareQueue('q');
    const c = await ch.consume('q', () => undefined, { tag: 't'.repeat(255) });
    expect(c.tag).toBe('t'.repeat(255));
  });

  it('an over-long name anywhere but a declare is NOT_FOUND: nothing can have it', async () => {
    const ch = await (await server().connect()).channel();
    await ch.confirmSelect();
    await expect(ch.publish('x'.repeat(300), 'k', 'm')).rejects.toMatchObject({ code: 'NOT_FOUND', message: `NOT_FOUND - no exchange '${'x'.repeat(300)}' in vhost '/'` });
  });
});

describe('built-in amq.* exchanges, as RabbitMQ (SPEC §3)', () => {
  it('re-declaring one with its own attributes is declare-ok; with others PRECONDITION_FAILED; a new amq.* name ACCESS_REFUSED', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareExchange('amq.direct', 'direct', { durable: true });
    await expect(ch.declareExchange('amq.direct', 'direct', { durable: false })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      replyCode: 406,
      message: "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in vhost '/': received 'false' but current is 'true'",
    });
    const again = await conn.channel();
    await expect(again.declareExchange('amq.mine', 'direct')).rejects.toMatchObject({
      code: 'ACCESS_REFUSED',
      replyCode: 403,
      message: "ACCESS_REFUSED - exchange name 'amq.mine' contains reserved prefix 'amq.*'",
    });
  });
});

describe('closing (SPEC §3.1.2)', () => {
  it('connection.close and channel.close may omit methodId', async () => {
    const raw = await server().raw();
    await raw.openChannel(1);
    raw.sendMethod(1, Method.ChannelClose, [200, 'bye']);
    await raw.expect(Method.ChannelCloseOk, 1);
    raw.sendMethod(0, Method.ConnectionClose, [200, 'bye']);
    await raw.expect(Method.ConnectionCloseOk, 0);
    await within(raw.ended, 'the socket to close');
  });

  it('an unsolicited close-ok is ignored, on channel 0 and on a channel', async () => {
    const raw = await server().raw();
    await raw.openChannel(1);
    raw.sendMethod(0, Method.ConnectionCloseOk, []);
    raw.sendMethod(1, Method.ChannelCloseOk, []);
    raw.sendMethod(1, Method.QueueDeclare, ['still-open']);
    await raw.expect(Method.QueueDeclareOk, 1);
    raw.destroy();
  });

  it('a close crossing the server’s close counts as its close-ok', async () => {
    const raw = await server().raw();
    raw.send(frame(FrameType.METHOD, 0, rawMethodPayload(0x0a99, [0x90])));
    await raw.expect(Method.ConnectionClose, 0);
    raw.sendMethod(0, Method.ConnectionClose, [200, 'me too', 0]);
    await within(raw.ended, 'the server to close the socket');
  });
});

describe('basic (SPEC §3.5)', () => {
  it('basic.cancel of a tag that is no consumer is cancel-ok with that tag', async () => {
    const raw = await server().raw();
    await raw.openChannel(1);
    raw.sendMethod(1, Method.BasicCancel, ['nobody']);
    expect((await raw.expect(Method.BasicCancelOk, 1)).args).toEqual(['nobody']);
    raw.destroy();
  });

  it('ack multiple above the highest delivered tag is PRECONDITION_FAILED and settles nothing', async () => {
    const ch = await (await server().connect()).channel();
    await ch.declareQueue('q');
    await ch.publish('', 'q', 'm');
    const raw = await server().raw();
    await raw.openChannel(1);
    raw.sendMethod(1, Method.BasicGet, ['q', false]);
    await raw.expect(Method.BasicGetOk, 1);
    raw.sendMethod(1, Method.BasicAck, [5, true]);
    expect(await channelClose(raw)).toEqual({ code: ReplyCode.PRECONDITION_FAILED, text: 'PRECONDITION_FAILED - ack: unknown delivery tag 5', methodId: Method.BasicAck });
    // Nothing was settled: the channel's close put the message back.
    expect((await ch.get('q', { noAck: true }))?.redelivered).toBe(true);
    raw.destroy();
  });

  it('publishing to another connection’s exclusive queue is allowed; consuming from it is RESOURCE_LOCKED', async () => {
    const owner = await (await server().connect()).channel();
    await owner.declareQueue('mine', { exclusive: true });
    const other = await (await server().connect()).channel();
    await other.confirmSelect();
    await other.publish('', 'mine', 'for the owner', { mandatory: true });
    expect((await owner.get('mine', { noAck: true }))?.text()).toBe('for the owner');
    await expect(other.get('mine')).rejects.toMatchObject({ code: 'RESOURCE_LOCKED' });
  });

  it('publishing to an internal exchange is ACCESS_REFUSED', async () => {
    const ch = await (await server().connect()).channel();
    await ch.declareExchange('inner', 'fanout', { internal: true });
    await ch.confirmSelect();
    await expect(ch.publish('inner', '', 'm')).rejects.toMatchObject({ code: 'ACCESS_REFUSED', message: "ACCESS_REFUSED - cannot publish to internal exchange 'inner'" });
  });
});

describe('properties are opaque (SPEC §3.3)', () => {
  it('bytes that are not a msgpack map are forwarded as received', async () => {
    const raw = await server().raw();
    await raw.openChannel(1);
    raw.sendMethod(1, Method.QueueDeclare, ['opaque']);
    await raw.expect(Method.QueueDeclareOk, 1);
    // Two msgpack values (-1, 0), not a map; a first byte 0xc1 is reserved for AMQP-published content.
    const props = Buffer.from([0xff, 0x00]);
    const args = packValue(['', 'opaque']);
    raw.send(frame(FrameType.METHOD, 1, Buffer.concat([u16(Method.BasicPublish), u32(args.length), args, u32(props.length), props, Buffer.from('body')])));
    raw.sendMethod(1, Method.BasicGet, ['opaque', true]);
    const got = await raw.expect(Method.BasicGetOk, 1);
    expect(got.content?.equals(Buffer.concat([Buffer.from([0, 0, 0, 2]), props, Buffer.from('body')]))).toBe(true);
    raw.destroy();
  });
});
