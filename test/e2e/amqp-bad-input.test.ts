import amqplib from 'amqplib';
import { connect as netConnect } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AMQP_PROTOCOL_HEADER } from '../../protocol/amqp/protocol-header.js';
import { Method } from '../../protocol/amqp/spec.generated.js';
import { bodyFrame, frame, headerFrame, methodFrame } from '../helpers/amqp.js';
import { startAmqpDaemon, type AmqpTestDaemon } from '../helpers/amqp-daemon.js';
import { RawAmqp } from '../helpers/amqp-raw.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Bad input on the AMQP listener: the exact reply code, text and scope RabbitMQ gives, and a
 * bystander connection (with a queue holding a message and a live consumer) unaffected.
 */

let d: AmqpTestDaemon;
let logs: Record<string, unknown>[];
let bystander: amqplib.ChannelModel;
let bch: amqplib.Channel;

beforeEach(async () => {
  logs = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  d = await startAmqpDaemon({ log: pino({ level: 'info' }, sink) });
  bystander = await d.amqplib();
  bch = await bystander.createChannel();
  await bch.assertQueue('bystander', { durable: false });
  bch.sendToQueue('bystander', Buffer.from('kept'));
  await waitFor(() => d.broker.queues.get('bystander')?.messageCount === 1, 'the bystander message');
});

afterEach(async () => {
  // The bystander never noticed: its message is still there and its channel still works.
  const m = await bch.get('bystander', { noAck: true });
  expect(m !== false && m.content.toString()).toBe('kept');
  await bch.deleteQueue('bystander');
  await d.stop();
});

const PUBLISH_ARGS = (exchange: string, key: string, bits = 0): Buffer =>
  Buffer.concat([Buffer.from([0, 0, exchange.length]), Buffer.from(exchange), Buffer.from([key.length]), Buffer.from(key), Buffer.from([bits])]);

describe('protocol headers', () => {
  it('the native header on the AMQP port gets the AMQP 0-9-1 header back and a warning naming the protocol', async () => {
    const s = netConnect({ port: d.amqpPort, host: '127.0.0.1' });
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    s.write(Buffer.from([0x53, 0x4b, 0x49, 0x46, 0x46, 0, 1, 0]));
    await new Promise((r) => s.on('close', r));
    expect(Buffer.concat(got)).toEqual(AMQP_PROTOCOL_HEADER);
    const line = logs.find((l) => l['tried'] === 'Skiff native protocol 1.0');
    expect(line).toMatchObject({ level: 40, msg: 'refused a client speaking Skiff native protocol 1.0: this port speaks AMQP 0-9-1' });
  });

  it('AMQP 1.0 on the AMQP port gets the 0-9-1 header back', async () => {
    const s = netConnect({ port: d.amqpPort, host: '127.0.0.1' });
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    s.write(Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'));
    await new Promise((r) => s.on('close', r));
    expect(Buffer.concat(got)).toEqual(AMQP_PROTOCOL_HEADER);
    expect(logs.some((l) => l['tried'] === 'AMQP 1.0')).toBe(true);
  });

  it('an AMQP client on the native port gets the Skiff header back and a warning naming AMQP 0-9-1', async () => {
    const s = netConnect({ port: d.daemon.port, host: '127.0.0.1' });
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    s.write(AMQP_PROTOCOL_HEADER);
    await new Promise((r) => s.on('close', r));
    expect(Buffer.concat(got).subarray(0, 6).toString('latin1')).toBe('SKIFF\0');
    expect(logs.find((l) => l['tried'] === 'AMQP 0-9-1')).toMatchObject({ level: 40, msg: 'refused a client speaking AMQP 0-9-1: this port speaks the Skiff native protocol' });
    // and amqplib's own error, where it used to be "Frame size 1178992641 exceeds maxFrameSize"
    await expect(amqplib.connect(`amqp://guest:guest@127.0.0.1:${d.daemon.port}`)).rejects.toThrow();
  });
});

describe('connection errors', () => {
  it('a frame over frame_max: 501 FRAME_ERROR, and the connection is closed', async () => {
    const c = await RawAmqp.open(d.amqpPort, { frameMax: 4096 });
    c.send(frame(1, 1, Buffer.alloc(5000)));
    expect(await c.connectionClose()).toEqual([501, 'FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,5000,4088}', 0, 0]);
    await c.closed;
  });

  it('an unknown class/method: 540 NOT_IMPLEMENTED', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    c.send(methodFrame(1, 0x00630001));
    expect(await c.connectionClose()).toEqual([540, 'NOT_IMPLEMENTED - unknown method: class 99, method 1', 99, 1]);
  });

  it('a malformed field table: 501 FRAME_ERROR naming the method', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    // queue.declare 'q', no bits, then a table whose length runs past the frame
    c.send(methodFrame(1, Method.QueueDeclare, [0, 0, 1, 0x71, 0, 0, 0, 0, 50, 1, 0x61]));
    const [code, text, classId, methodId] = await c.connectionClose();
    expect([code, classId, methodId]).toEqual([501, 50, 10]);
    expect(text).toMatch(/^FRAME_ERROR - cannot decode queue\.declare: /);
  });

  it('content frames without a method: 505 UNEXPECTED_FRAME', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    c.send(headerFrame(1, 3));
    expect(await c.connectionClose()).toEqual([505, 'UNEXPECTED_FRAME - expected method frame, got non method frame instead', 0, 0]);
  });

  it('a body larger than its header said: 501 FRAME_ERROR', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    c.send(Buffer.concat([methodFrame(1, Method.BasicPublish, PUBLISH_ARGS('', 'bystander')), headerFrame(1, 3), bodyFrame(1, Buffer.from('toolong'))]));
    expect(await c.connectionClose()).toEqual([501, 'FRAME_ERROR - content body frame exceeds remaining content size', 60, 40]);
    expect(d.broker.queues.get('bystander')?.messageCount).toBe(1);
  });

  it('a method before the body is complete: 505 UNEXPECTED_FRAME', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    c.send(Buffer.concat([methodFrame(1, Method.BasicPublish, PUBLISH_ARGS('', 'bystander')), headerFrame(1, 10), bodyFrame(1, Buffer.from('abc')), methodFrame(1, Method.ChannelClose, [0, 200, 0, 0, 0, 0, 0])]));
    expect(await c.connectionClose()).toEqual([505, 'UNEXPECTED_FRAME - expected content body, got non content body frame instead', 60, 40]);
  });

  it('a method on a channel that is not open: 504 CHANNEL_ERROR', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    c.method(3, Method.QueueDeclare, { queue: 'x', passive: false, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: {} });
    expect(await c.connectionClose()).toEqual([504, "CHANNEL_ERROR - expected 'channel.open'", 50, 10]);
  });

  it('content on a channel that is not open: 504 CHANNEL_ERROR (found by the daemon fuzz)', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    c.send(Buffer.concat([methodFrame(4, Method.BasicPublish, PUBLISH_ARGS('', 'bystander')), headerFrame(4, 1), bodyFrame(4, Buffer.from('x'))]));
    expect(await c.connectionClose()).toEqual([504, "CHANNEL_ERROR - expected 'channel.open'", 60, 40]);
  });

  it('a second channel.open: 504 CHANNEL_ERROR', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    c.method(1, Method.ChannelOpen, {});
    expect(await c.connectionClose()).toEqual([504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10]);
  });

  it('a channel number above channel_max: 530 NOT_ALLOWED', async () => {
    const c = await RawAmqp.open(d.amqpPort, { channelMax: 5 });
    c.method(6, Method.ChannelOpen, {});
    expect(await c.connectionClose()).toEqual([530, 'NOT_ALLOWED - channel 6 is above the negotiated channel_max (5)', 20, 10]);
  });

  it('tune-ok with frame_max under 4096: 530 NOT_ALLOWED', async () => {
    const c = await RawAmqp.connect(d.amqpPort);
    c.send(AMQP_PROTOCOL_HEADER);
    await c.nextMethod(Method.ConnectionStart);
    c.method(0, Method.ConnectionStartOk, { clientProperties: {}, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' });
    await c.nextMethod(Method.ConnectionTune);
    c.method(0, Method.ConnectionTuneOk, { channelMax: 0, frameMax: 1024, heartbeat: 0 });
    expect(await c.connectionClose()).toEqual([530, 'NOT_ALLOWED - frame_max=1024 < 4096 min size', 10, 31]);
  });

  it('an unknown SASL mechanism: 503 COMMAND_INVALID', async () => {
    const c = await RawAmqp.connect(d.amqpPort);
    c.send(AMQP_PROTOCOL_HEADER);
    await c.nextMethod(Method.ConnectionStart);
    c.method(0, Method.ConnectionStartOk, { clientProperties: {}, mechanism: 'EXTERNAL', response: Buffer.alloc(0), locale: 'en_US' });
    expect(await c.connectionClose()).toEqual([503, "COMMAND_INVALID - unknown authentication mechanism 'EXTERNAL'", 10, 11]);
  });

  it('basic.publish with immediate: 540 NOT_IMPLEMENTED', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    c.send(Buffer.concat([methodFrame(1, Method.BasicPublish, PUBLISH_ARGS('', 'bystander', 2)), headerFrame(1, 0)]));
    expect(await c.connectionClose()).toEqual([540, 'NOT_IMPLEMENTED - immediate=true', 60, 40]);
  });

  it('basic.qos with prefetch_size: 540 NOT_IMPLEMENTED', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    c.method(1, Method.BasicQos, { prefetchSize: 10, prefetchCount: 1, global: false });
    expect(await c.connectionClose()).toEqual([540, 'NOT_IMPLEMENTED - prefetch_size!=0 (10)', 60, 10]);
  });

  it('a silent client past two heartbeat intervals is dropped', async () => {
    const c = await RawAmqp.open(d.amqpPort, { heartbeat: 1 });
    await c.closed;
    expect(logs.some((l) => l['msg'] === 'missed heartbeats from client, timeout: 1s')).toBe(true);
    await waitFor(() => d.broker.sessions.size === 1, 'the dropped session to go');
  });
});

describe('channel errors close only their channel', () => {
  it('NOT_FOUND, PRECONDITION_FAILED for expiration and user_id; the connection and its other channels carry on', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    await c.channel(2);
    c.method(1, Method.BasicGet, { queue: 'missing', noAck: true });
    expect(await c.channelClose(1)).toEqual([404, "NOT_FOUND - no queue 'missing' in vhost '/'", 60, 70]);
    // publish with expiration 'soon' (flags: expiration 0x0100)
    const props = Buffer.concat([Buffer.from([0x01, 0x00, 4]), Buffer.from('soon')]);
    c.send(Buffer.concat([methodFrame(2, Method.BasicPublish, PUBLISH_ARGS('', 'bystander')), headerFrame(2, 1, props), bodyFrame(2, Buffer.from('x'))]));
    expect(await c.channelClose(2)).toEqual([406, "PRECONDITION_FAILED - invalid expiration 'soon': no_integer", 60, 40]);
    await c.channel(1);
    const user = Buffer.concat([Buffer.from([0x00, 0x10, 5]), Buffer.from('alice')]);
    c.send(Buffer.concat([methodFrame(1, Method.BasicPublish, PUBLISH_ARGS('', 'bystander')), headerFrame(1, 1, user), bodyFrame(1, Buffer.from('x'))]));
    expect(await c.channelClose(1)).toEqual([406, "PRECONDITION_FAILED - user_id property set to 'alice' but authenticated user was 'guest'", 60, 40]);
    await c.channel(1);
    c.send(Buffer.concat([methodFrame(1, Method.BasicPublish, PUBLISH_ARGS('nowhere', 'k')), headerFrame(1, 0)]));
    // frames on a channel being closed are dropped until its close-ok
    c.method(1, Method.QueueDeclare, { queue: 'dropped', passive: false, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: {} });
    expect(await c.channelClose(1)).toEqual([404, "NOT_FOUND - no exchange 'nowhere' in vhost '/'", 60, 40]);
    expect(d.broker.queues.has('dropped')).toBe(false);
    await c.channel(3);
    c.method(3, Method.ExchangeDeclare, { exchange: 'e', type: 'nonsense', passive: false, durable: false, autoDelete: false, internal: false, noWait: false, arguments: {} });
    expect(await c.connectionClose()).toEqual([503, "COMMAND_INVALID - unknown exchange type 'nonsense'", 40, 10]);
    expect(d.broker.queues.get('bystander')?.messageCount).toBe(1);
  });

  it('channel.flow active=false is NOT_IMPLEMENTED (RabbitMQ 3.x)', async () => {
    const c = await RawAmqp.open(d.amqpPort);
    await c.channel(1);
    c.method(1, Method.ChannelFlow, { active: false });
    expect(await c.connectionClose()).toEqual([540, 'NOT_IMPLEMENTED - active=false', 20, 20]);
  });
});
