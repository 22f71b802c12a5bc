import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FrameType, HEARTBEAT_FRAME, Method, PROTOCOL_HEADER, ReplyCode, packValue } from '../../protocol/index.js';
import type { Channel } from '../../src/client/index.js';
import { contentFrame, frame, methodFrame, rawMethodPayload, u16, u32 } from '../helpers/frames.js';
import type { RawClient } from '../helpers/raw.js';
import { useServer, type TestServer } from '../helpers/server.js';
import { Collector, waitFor, within } from '../helpers/wait.js';

/**
 * Every bad input of SPEC §2–§4 against the real daemon: each gets its exact code and message
 * (channel.close or connection.close), and a bystander pair of connections publishing and
 * consuming meanwhile must lose nothing.
 */
const server = useServer();

interface Bystander {
  /** Publishes more, then checks every message so far arrived, in order, exactly once. */
  verify(): Promise<void>;
}

async function bystander(ts: TestServer): Promise<Bystander> {
  const pub = await (await ts.connect()).channel();
  await pub.confirmSelect();
  await pub.declareQueue('bystander');
  const sub = await (await ts.connect()).channel();
  const got = new Collector<string>();
  await sub.consume(
    'bystander',
    (m) => {
      got.push(m.text());
      m.ack();
    },
    { prefetch: 10 },
  );
  let sent = 0;
  const send = (n: number): Promise<void[]> => Promise.all(Array.from({ length: n }, () => pub.publish('', 'bystander', `b${++sent}`)));
  // In flight while the bad input arrives.
  const early = send(20);
  return {
    async verify() {
      await early;
      await send(20);
      const all = await got.take(sent);
      expect(all).toEqual(Array.from({ length: sent }, (_, i) => `b${i + 1}`));
      expect(got.length).toBe(sent);
    },
  };
}

let by: Bystander;
beforeEach(async () => {
  by = await bystander(server());
});
afterEach(async () => {
  await by.verify();
});

async function open(channel = 1): Promise<RawClient> {
  const raw = await server().raw();
  if (channel !== 0) await raw.openChannel(channel);
  return raw;
}

/** A bare socket that has sent the protocol header and read connection.start, but not opened. */
async function started(): Promise<RawClient> {
  const raw = await server().raw({ handshake: false });
  raw.send(PROTOCOL_HEADER);
  await raw.expect(Method.ConnectionStart);
  return raw;
}

/** The connection is closed with exactly this error, and the server drops the socket. */
async function connectionError(raw: RawClient, code: number, text: string, methodId = 0): Promise<void> {
  expect(await within(raw.expectConnectionClose(), `connection.close ${code}`)).toEqual({ code, text, methodId });
}

/** The channel is closed with exactly this error; the connection carries on. */
async function channelError(raw: RawClient, channel: number, code: number, text: string, methodId: number): Promise<void> {
  expect(await within(raw.expectChannelClose(channel), `channel.close ${code}`)).toEqual({ code, text, methodId });
  // Same channel number again, on the same connection.
  await raw.openChannel(channel);
  raw.sendMethod(channel, Method.QueueDeclare, ['after-error']);
  expect((await raw.expect(Method.QueueDeclareOk, channel)).args).toEqual(['after-error', 0, 0]);
}

describe('bytes that are not the protocol (SPEC §1)', () => {
  it.each([
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['a short word', Buffer.from('HELLO')],
    ['an AMQP 0-9-1 header', Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')],
    ['another major version', Buffer.from('SKIFF\x00\x02\x00', 'latin1')],
    ['random bytes', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7])],
  ])('%s before the handshake gets the server header and a close', async (_label, bytes) => {
    const raw = await server().raw({ handshake: false });
    raw.send(bytes);
    await within(raw.ended, 'the server to close');
    expect(Buffer.concat(raw.received)).toEqual(PROTOCOL_HEADER);
    expect(Buffer.from('SKIFF\x00\x01\x00', 'latin1')).toEqual(PROTOCOL_HEADER);
  });

  it('a header in pieces is accepted; another minor version is accepted', async () => {
    const raw = await server().raw({ handshake: false });
    raw.send(Buffer.from('SKI'), Buffer.from('FF\x00\x01\x07', 'latin1'));
    expect((await raw.expect(Method.ConnectionStart, 0)).args.slice(0, 2)).toEqual([1, 0]);
    raw.destroy();
  });

  it('a peer that never closes its side after garbage is still let go', async () => {
    const raw = await server().raw({ handshake: false, allowHalfOpen: true });
    raw.send(Buffer.from('garbage!'));
    // Our side stays open, so only a write can tell us the server has let go (a reset).
    await waitFor(
      () => {
        if (!raw.socket.destroyed) raw.socket.write('?');
        return raw.socket.destroyed;
      },
      'the server to drop the socket',
      10_000,
    );
    expect(Buffer.concat(raw.received)).toEqual(PROTOCOL_HEADER);
  });
});

describe('malformed frames (SPEC §2): connection errors', () => {
  it('an oversize frame is FRAME_TOO_LARGE, refused from its header', async () => {
    const raw = await open(0);
    raw.send(frame(FrameType.METHOD, 1, Buffer.alloc(0), 0x7ffffff0));
    await connectionError(raw, ReplyCode.FRAME_TOO_LARGE, `FRAME_TOO_LARGE - frame of ${0x7ffffff4} bytes exceeds frameMax 1048576`);
  });

  it('a frame over the negotiated frameMax is FRAME_TOO_LARGE even when small', async () => {
    const raw = await started();
    raw.sendMethod(0, Method.ConnectionOpen, ['guest', 'guest', 4096, 0, 0]);
    expect((await raw.expect(Method.ConnectionOpenOk)).args[0]).toBe(4096);
    await raw.openChannel(1);
    raw.send(contentFrame(1, Method.BasicPublish, ['', 'q'], Buffer.alloc(5000)));
    await connectionError(raw, ReplyCode.FRAME_TOO_LARGE, 'FRAME_TOO_LARGE - frame of 5021 bytes exceeds frameMax 4096');
  });

  it('an oversize frame before connection.open is FRAME_TOO_LARGE against the server frameMax', async () => {
    const raw = await started();
    raw.send(frame(FrameType.METHOD, 0, Buffer.alloc(0), 2_000_000));
    await connectionError(raw, ReplyCode.FRAME_TOO_LARGE, 'FRAME_TOO_LARGE - frame of 2000004 bytes exceeds frameMax 1048576');
  });

  it('an unknown frame type is FRAME_ERROR', async () => {
    const raw = await open(1);
    raw.send(frame(3, 1, Buffer.from([1, 2, 3])));
    await connectionError(raw, ReplyCode.FRAME_ERROR, 'FRAME_ERROR - unknown frame type 3');
  });

  it('a size field smaller than the frame header is FRAME_ERROR', async () => {
    const raw = await open(1);
    raw.send(frame(FrameType.METHOD, 1, Buffer.alloc(0), 2));
    await connectionError(raw, ReplyCode.FRAME_ERROR, 'FRAME_ERROR - frame size 2 is smaller than a frame header');
  });

  it.each([
    ['on channel 1', frame(FrameType.HEARTBEAT, 1, Buffer.alloc(0))],
    ['with a payload', frame(FrameType.HEARTBEAT, 0, Buffer.from([0]))],
  ])('a heartbeat %s is FRAME_ERROR', async (_label, bytes) => {
    const raw = await open(1);
    raw.send(bytes);
    await connectionError(raw, ReplyCode.FRAME_ERROR, 'FRAME_ERROR - heartbeat frame must be empty and on channel 0');
  });

  it('a method frame too short for a method id is FRAME_ERROR', async () => {
    const raw = await open(1);
    raw.send(frame(FrameType.METHOD, 1, Buffer.from([0x32])));
    await connectionError(raw, ReplyCode.FRAME_ERROR, 'FRAME_ERROR - method frame is too short for a method id');
  });

  it('a good heartbeat is accepted', async () => {
    const raw = await open(1);
    raw.send(HEARTBEAT_FRAME);
    raw.sendMethod(1, Method.QueueDeclare, ['hb']);
    await raw.expect(Method.QueueDeclareOk, 1);
    raw.destroy();
  });
});

describe('unknown, misplaced and out-of-state methods (SPEC §3.1): COMMAND_INVALID', () => {
  it.each([0, 1])('an unknown method id on channel %i', async (channel) => {
    const raw = await open(1);
    raw.send(frame(FrameType.METHOD, channel, rawMethodPayload(0x3c99, [0x90])));
    await connectionError(raw, ReplyCode.COMMAND_INVALID, 'COMMAND_INVALID - unknown method 0x3c99', 0x3c99);
  });

  it.each([
    ['basic.deliver', 1, Method.BasicDeliver, ['t', 1, false, '', 'q']],
    ['connection.start', 0, Method.ConnectionStart, [1, 0, {}, ['PLAIN'], 0, 0, 0]],
    ['channel.open-ok', 1, Method.ChannelOpenOk, []],
  ] as const)('a server-only method (%s) sent by a client', async (name, channel, id, args) => {
    const raw = await open(1);
    raw.sendMethod(channel, id, args);
    await connectionError(raw, ReplyCode.COMMAND_INVALID, `COMMAND_INVALID - ${name} is not sent by clients`, id);
  });

  it('a channel method before connection.open', async () => {
    const raw = await started();
    raw.sendMethod(1, Method.ChannelOpen, []);
    await connectionError(raw, ReplyCode.COMMAND_INVALID, 'COMMAND_INVALID - channel.open before connection.open-ok', Method.ChannelOpen);
  });

  it('a channel-0 method other than connection.open before it', async () => {
    const raw = await started();
    raw.sendMethod(0, Method.ConnectionCloseOk, []);
    await connectionError(raw, ReplyCode.COMMAND_INVALID, 'COMMAND_INVALID - expected connection.open, got connection.close-ok', Method.ConnectionCloseOk);
  });

  it('connection.open twice', async () => {
    const raw = await open(0);
    raw.sendMethod(0, Method.ConnectionOpen, ['guest', 'guest', 0, 0, 0]);
    await connectionError(raw, ReplyCode.COMMAND_INVALID, 'COMMAND_INVALID - connection is already open', Method.ConnectionOpen);
  });

  it('a channel method on channel 0', async () => {
    const raw = await open(0);
    raw.sendMethod(0, Method.QueueDeclare, ['q']);
    await connectionError(raw, ReplyCode.COMMAND_INVALID, 'COMMAND_INVALID - queue.declare is not allowed on channel 0', Method.QueueDeclare);
  });

  it('a connection method on a channel', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.ConnectionOpen, ['guest', 'guest', 0, 0, 0]);
    await connectionError(raw, ReplyCode.COMMAND_INVALID, 'COMMAND_INVALID - connection.open is not allowed on a channel', Method.ConnectionOpen);
  });

  it('an unknown exchange type (a connection error, as AMQP)', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.ExchangeDeclare, ['x', 'nope']);
    await connectionError(raw, ReplyCode.COMMAND_INVALID, "COMMAND_INVALID - unknown exchange type 'nope'", Method.ExchangeDeclare);
  });
});

describe('channels that are not open (SPEC §3.2): CHANNEL_ERROR', () => {
  it('a method on a channel never opened', async () => {
    const raw = await open(1);
    raw.sendMethod(5, Method.QueueDeclare, ['q']);
    await connectionError(raw, ReplyCode.CHANNEL_ERROR, 'CHANNEL_ERROR - queue.declare on channel 5, which is not open', Method.QueueDeclare);
  });

  it('a publish on a channel already closed', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.ChannelClose, [200, 'bye', 0]);
    await raw.expect(Method.ChannelCloseOk, 1);
    raw.send(contentFrame(1, Method.BasicPublish, ['', 'q'], 'x'));
    await connectionError(raw, ReplyCode.CHANNEL_ERROR, 'CHANNEL_ERROR - basic.publish on channel 1, which is not open', Method.BasicPublish);
  });

  it('channel.open on an open channel', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.ChannelOpen, []);
    await connectionError(raw, ReplyCode.CHANNEL_ERROR, 'CHANNEL_ERROR - channel 1 is already open', Method.ChannelOpen);
  });

  it('a channel number above channelMax', async () => {
    const raw = await open(0);
    raw.sendMethod(3000, Method.ChannelOpen, []);
    await connectionError(raw, ReplyCode.CHANNEL_ERROR, 'CHANNEL_ERROR - channel 3000 is above channelMax 2047', Method.ChannelOpen);
  });

  it('frames on a channel closed by an error are discarded until close-ok', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.QueuePurge, ['missing']);
    raw.sendMethod(1, Method.QueueDeclare, ['discarded']);
    await raw.expect(Method.ChannelClose, 1);
    raw.sendMethod(1, Method.ChannelCloseOk, []);
    await raw.openChannel(1);
    raw.sendMethod(1, Method.QueueDeclare, ['discarded', true]);
    await raw.expect(Method.ChannelClose, 1);
  });
});

describe('malformed arguments (SPEC §3.2): SYNTAX_ERROR', () => {
  const S = ReplyCode.SYNTAX_ERROR;

  it('malformed msgpack on an open channel closes only that channel', async () => {
    const raw = await open(1);
    raw.send(frame(FrameType.METHOD, 1, rawMethodPayload(Method.QueueDeclare, [0x92, 0xa5, 0x61])));
    await channelError(raw, 1, S, 'SYNTAX_ERROR - method arguments are truncated', Method.QueueDeclare);
  });

  it('arguments that are not an array', async () => {
    const raw = await open(1);
    raw.send(frame(FrameType.METHOD, 1, Buffer.concat([u16(Method.QueueDeclare), packValue({ queue: 'q' })])));
    await channelError(raw, 1, S, 'SYNTAX_ERROR - method arguments are not a msgpack array', Method.QueueDeclare);
  });

  it('a missing argument', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.QueueBind, ['q', 'amq.direct']);
    await channelError(raw, 1, S, 'SYNTAX_ERROR - queue.bind takes 3 to 4 arguments, got 2', Method.QueueBind);
  });

  it('a nil required argument', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.BasicConsume, [null]);
    await channelError(raw, 1, S, "SYNTAX_ERROR - basic.consume: argument 'queue' is required", Method.BasicConsume);
  });

  it('a mistyped argument, named', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.QueueDeclare, ['q', false, 'yes']);
    await channelError(raw, 1, S, "SYNTAX_ERROR - queue.declare: argument 'durable' must be a boolean", Method.QueueDeclare);
  });

  it('an extension type where a map belongs', async () => {
    const raw = await open(1);
    // [queue, exchange, key, <timestamp extension>]
    const args = Buffer.from([0x94, 0xa1, 0x71, 0xaa, ...Buffer.from('amq.direct'), 0xa1, 0x6b, 0xd6, 0xff, 0, 0, 0, 1]);
    raw.send(frame(FrameType.METHOD, 1, rawMethodPayload(Method.QueueBind, args)));
    await channelError(raw, 1, S, 'SYNTAX_ERROR - malformed msgpack in method arguments: extension types are not allowed', Method.QueueBind);
  });

  it('a content frame whose property map runs past its end', async () => {
    const raw = await open(1);
    const args = packValue(['', 'q']);
    raw.send(frame(FrameType.METHOD, 1, Buffer.concat([u16(Method.BasicPublish), u32(args.length), args, u32(99), Buffer.from('xx')])));
    await channelError(raw, 1, S, 'SYNTAX_ERROR - basic.publish: property map runs past the end of the frame', Method.BasicPublish);
  });

  it('malformed arguments on channel 0 are a connection error', async () => {
    const raw = await open(0);
    raw.sendMethod(0, Method.ConnectionClose, ['not a code', 'x']);
    await connectionError(raw, S, "SYNTAX_ERROR - connection.close: argument 'replyCode' must be a non-negative integer", Method.ConnectionClose);
  });

  it('a malformed connection.open is a connection error', async () => {
    const raw = await started();
    raw.sendMethod(0, Method.ConnectionOpen, [1, 'guest', 0, 0, 0]);
    await connectionError(raw, S, "SYNTAX_ERROR - connection.open: argument 'username' must be a string", Method.ConnectionOpen);
  });

  it('malformed arguments on a channel that is not open are a connection error', async () => {
    const raw = await open(1);
    raw.send(frame(FrameType.METHOD, 9, rawMethodPayload(Method.QueueDeclare, [0xc1])));
    await connectionError(raw, S, 'SYNTAX_ERROR - method arguments are not a msgpack array', Method.QueueDeclare);
  });
});

describe('missing things and failed preconditions: channel errors', () => {
  it.each<[string, number, unknown[], number, string]>([
    ['publish to a missing exchange', Method.BasicPublish, ['nope', 'k'], ReplyCode.NOT_FOUND, "NOT_FOUND - no exchange 'nope' in vhost '/'"],
    ['consume from a missing queue', Method.BasicConsume, ['nope'], ReplyCode.NOT_FOUND, "NOT_FOUND - no queue 'nope' in vhost '/'"],
    ['get from a missing queue', Method.BasicGet, ['nope'], ReplyCode.NOT_FOUND, "NOT_FOUND - no queue 'nope' in vhost '/'"],
    ['purge a missing queue', Method.QueuePurge, ['nope'], ReplyCode.NOT_FOUND, "NOT_FOUND - no queue 'nope' in vhost '/'"],
    ['bind a missing queue', Method.QueueBind, ['nope', 'amq.direct', 'k'], ReplyCode.NOT_FOUND, "NOT_FOUND - no queue 'nope' in vhost '/'"],
    ['bind to a missing exchange', Method.QueueBind, ['bystander', 'nope', 'k'], ReplyCode.NOT_FOUND, "NOT_FOUND - no exchange 'nope' in vhost '/'"],
    ['passive declare of a missing exchange', Method.ExchangeDeclare, ['nope', 'direct', true], ReplyCode.NOT_FOUND, "NOT_FOUND - no exchange 'nope' in vhost '/'"],
    ['passive declare of a missing queue', Method.QueueDeclare, ['nope', true], ReplyCode.NOT_FOUND, "NOT_FOUND - no queue 'nope' in vhost '/'"],
    ['re-declare with other attributes', Method.QueueDeclare, ['bystander', false, true], ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'bystander' in vhost '/': received 'true' but current is 'false'"],
    ['ack of an unknown delivery tag', Method.BasicAck, [42], ReplyCode.PRECONDITION_FAILED, 'PRECONDITION_FAILED - ack: unknown delivery tag 42'],
    ['delete ifUnused of a queue in use', Method.QueueDelete, ['bystander', true], ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - queue 'bystander' in use"],
    ['an unknown queue argument', Method.QueueDeclare, ['q', false, false, false, false, { 'x-nonsense': 1 }], ReplyCode.PRECONDITION_FAILED, "PRECONDITION_FAILED - unknown queue argument 'x-nonsense'"],
    ['a reserved queue name', Method.QueueDeclare, ['amq.mine'], ReplyCode.ACCESS_REFUSED, "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'"],
    ['delete the default exchange', Method.ExchangeDelete, [''], ReplyCode.ACCESS_REFUSED, 'ACCESS_REFUSED - operation not permitted on the default exchange'],
    ['exclusive consume of a queue with consumers', Method.BasicConsume, ['bystander', '', false, true], ReplyCode.ACCESS_REFUSED, "ACCESS_REFUSED - cannot obtain exclusive access to queue 'bystander': it has consumers"],
  ])('%s', async (_label, id, args, code, text) => {
    const raw = await open(1);
    if (id === Method.BasicPublish) raw.send(contentFrame(1, id, args, 'body'));
    else raw.sendMethod(1, id, args);
    await channelError(raw, 1, code, text, id);
  });

  it("another connection's exclusive queue is RESOURCE_LOCKED", async () => {
    const owner = await open(1);
    owner.sendMethod(1, Method.QueueDeclare, ['locked', false, false, true]);
    await owner.expect(Method.QueueDeclareOk);
    const raw = await open(1);
    raw.sendMethod(1, Method.BasicGet, ['locked']);
    await channelError(raw, 1, ReplyCode.RESOURCE_LOCKED, "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'locked' in vhost '/'", Method.BasicGet);
  });

  it('a reused consumer tag is NOT_ALLOWED (a connection error, as AMQP)', async () => {
    const raw = await open(1);
    raw.sendMethod(1, Method.BasicConsume, ['bystander', 'dup']);
    await raw.expect(Method.BasicConsumeOk);
    raw.sendMethod(1, Method.BasicConsume, ['bystander', 'dup']);
    await connectionError(raw, ReplyCode.NOT_ALLOWED, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'", Method.BasicConsume);
  });

  it('the unacked messages of a channel closed by an error go back to their queue', async () => {
    const ts = server();
    const raw = await open(1);
    raw.sendMethod(1, Method.QueueDeclare, ['held']);
    raw.send(contentFrame(1, Method.BasicPublish, ['', 'held'], 'precious'));
    raw.sendMethod(1, Method.BasicConsume, ['held', 'c']);
    await raw.expect(Method.QueueDeclareOk, 1);
    await raw.expect(Method.BasicConsumeOk, 1);
    expect((await raw.expect(Method.BasicDeliver, 1)).args.slice(0, 3)).toEqual(['c', 1, false]);
    raw.sendMethod(1, Method.BasicAck, [99]);
    await raw.expect(Method.ChannelClose, 1);
    expect(ts.broker.queues.get('held')?.messageCount).toBe(1);
    const ch: Channel = await (await ts.connect()).channel();
    const m = await ch.get('held', { noAck: true });
    expect([m?.text(), m?.redelivered]).toEqual(['precious', true]);
  });
});
