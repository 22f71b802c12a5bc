import type amqplib from 'amqplib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeBasicProperties, maxBasicPropertiesSize } from '../../protocol/amqp/methods.generated.js';
import { Method, type BasicProperties } from '../../protocol/amqp/spec.generated.js';
import { AmqpDecimal, AmqpTyped } from '../../protocol/amqp/values.js';
import type { Message } from '../../src/client/index.js';
import { FrameType, Method as NativeMethod, packValue } from '../../protocol/index.js';
import { bodyFrame, headerFrame, methodFrame } from '../helpers/amqp.js';
import { frame, u16, u32 } from '../helpers/frames.js';
import { RawClient } from '../helpers/raw.js';
import { next, startAmqpDaemon, useAmqpDaemon } from '../helpers/amqp-daemon.js';
import { RawAmqp } from '../helpers/amqp-raw.js';
import { spawnDaemon, stopAllDaemons } from '../helpers/cli.js';
import { Collector, waitFor } from '../helpers/wait.js';
import amqplibModule from 'amqplib';

/**
 * One broker, two protocols: messages published over AMQP reach native consumers and the
 * reverse, with every property mapped (README "AMQP 0-9-1 clients": the property mapping);
 * AMQP-to-AMQP keeps the property bytes exactly; headers routing and dead-lettering read AMQP
 * headers; a confirmed persistent message survives kill -9.
 */

const publishArgs = (exchange: string, key: string): Buffer =>
  Buffer.concat([Buffer.from([0, 0, exchange.length]), Buffer.from(exchange), Buffer.from([key.length]), Buffer.from(key), Buffer.from([0])]);

describe('AMQP ↔ native', () => {
  const d = useAmqpDaemon();

  it('an AMQP message reaches a native consumer with every property mapped', async () => {
    const native = await d().native();
    const nch = await native.channel();
    await nch.declareQueue('interop.a2n');
    const got = new Collector<Message>();
    await nch.consume('interop.a2n', (m) => got.push(m), { noAck: true });
    const c = await d().amqplib();
    const ch = await c.createChannel();
    ch.sendToQueue('interop.a2n', Buffer.from('from amqp'), {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers: { s: 'text', i: 42, neg: -7, big: 2 ** 40, f: 1.5, t: true, nested: { a: [1, 'two', false] }, bytes: Buffer.from([1, 2, 3]), none: null, ts: { '!': 'timestamp', value: 1_700_000_000 } },
      persistent: true,
      priority: 4,
      correlationId: 'corr-1',
      replyTo: 'replies',
      expiration: '60000',
      messageId: 'msg-1',
      timestamp: 1_700_000_123,
      type: 'order.created',
      userId: 'guest',
      appId: 'amqplib-app',
    });
    const [m] = await got.take(1);
    expect(m?.body.toString()).toBe('from amqp');
    expect(m?.persistent).toBe(true);
    expect(m?.properties).toEqual({
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers: { s: 'text', i: 42, neg: -7, big: 2 ** 40, f: 1.5, t: true, nested: { a: [1, 'two', false] }, bytes: Buffer.from([1, 2, 3]), none: null, ts: 1_700_000_000_000 },
      correlationId: 'corr-1',
      replyTo: 'replies',
      messageId: 'msg-1',
      timestamp: 1_700_000_123_000,
      type: 'order.created',
      userId: 'guest',
      appId: 'amqplib-app',
    });
    await nch.deleteQueue('interop.a2n');
  });

  it('a native message reaches an AMQP consumer with every property and flag mapped', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    await ch.assertQueue('interop.n2a', { arguments: { 'x-max-priority': 9 } });
    const got = new Collector<amqplib.ConsumeMessage>();
    await ch.consume('interop.n2a', (m) => m !== null && got.push(m), { noAck: true });
    const native = await d().native();
    const nch = await native.channel();
    await nch.publish('', 'interop.n2a', 'from native', {
      contentType: 'text/plain',
      contentEncoding: 'identity',
      headers: { s: 'v', n: 7, f: 2.25, b: false, list: [1, 2], map: { k: 'v' }, raw: Buffer.from('xy') },
      messageId: 'n-1',
      correlationId: 'c-1',
      replyTo: 'r',
      timestamp: 1_700_000_000_999,
      type: 't',
      appId: 'native-app',
      userId: 'guest',
      persistent: true,
      priority: 3,
      expiration: 60_000,
    });
    const [m] = await got.take(1);
    expect(m?.content.toString()).toBe('from native');
    expect(m?.properties).toMatchObject({
      contentType: 'text/plain',
      contentEncoding: 'identity',
      headers: { s: 'v', n: 7, f: 2.25, b: false, list: [1, 2], map: { k: 'v' }, raw: Buffer.from('xy') },
      deliveryMode: 2,
      priority: 3,
      correlationId: 'c-1',
      replyTo: 'r',
      expiration: '60000',
      messageId: 'n-1',
      timestamp: 1_700_000_000,
      type: 't',
      userId: 'guest',
      appId: 'native-app',
    });
    await ch.deleteQueue('interop.n2a');
  });

  it('AMQP to AMQP forwards the property bytes untouched, types and all', async () => {
    const props: BasicProperties = {
      contentType: 'x/y',
      headers: {
        i8: new AmqpTyped('b', -5),
        u8: new AmqpTyped('B', 200),
        i16: new AmqpTyped('s', -300),
        u16: new AmqpTyped('u', 60000),
        u32: new AmqpTyped('i', 4_000_000_000),
        f32: new AmqpTyped('f', 0.5),
        dec: new AmqpDecimal(2, 12345),
        ts: new AmqpTyped('T', 1_700_000_000),
        arr: [new AmqpTyped('s', 1), 'x'],
        bytes: new AmqpTyped('x', Buffer.from([9])),
        v: null,
      },
      deliveryMode: 1,
      clusterId: 'kept',
    };
    const raw = Buffer.alloc(maxBasicPropertiesSize(props));
    const n = encodeBasicProperties(raw, 0, props);
    const bytes = raw.subarray(0, n);
    const c = await RawAmqp.open(d().amqpPort);
    await c.channel(1);
    c.method(1, Method.QueueDeclare, { queue: 'interop.raw', passive: false, durable: false, exclusive: true, autoDelete: false, noWait: false, arguments: {} });
    await c.nextMethod(Method.QueueDeclareOk, 1);
    c.send(Buffer.concat([methodFrame(1, Method.BasicPublish, publishArgs('', 'interop.raw')), headerFrame(1, 4, bytes), bodyFrame(1, Buffer.from('body'))]));
    await waitFor(() => d().broker.queues.get('interop.raw')?.messageCount === 1, 'the message');
    c.method(1, Method.BasicGet, { queue: 'interop.raw', noAck: true });
    for (;;) {
      const e = await c.next();
      if (e?.kind !== 'content') continue;
      expect([e.raw, Buffer.from(e.body, 'hex').toString()]).toEqual([bytes.toString('hex'), 'body']);
      break;
    }
    c.destroy();
  });

  it('the native listener refuses properties starting 0xC1 (the stored form of AMQP properties) with PRECONDITION_FAILED', async () => {
    const raw = await RawClient.connect(d().daemon.port);
    await raw.handshake();
    await raw.openChannel(1);
    const args = packValue(['', 'interop.none']);
    raw.send(frame(FrameType.METHOD, 1, Buffer.concat([u16(NativeMethod.BasicPublish), u32(args.length), args, u32(3), Buffer.from([0xc1, 0, 0]), Buffer.from('body')])));
    expect(await raw.expectChannelClose(1)).toEqual({
      code: 406,
      text: 'PRECONDITION_FAILED - message properties must be a msgpack map: a first byte 0xC1 is reserved',
      methodId: NativeMethod.BasicPublish,
    });
    raw.destroy();
  });

  it('the headers exchange routes AMQP and native messages by their headers', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.headers', '', { 'x-match': 'all', format: 'pdf', size: 3 });
    ch.publish('amq.headers', '', Buffer.from('amqp yes'), { headers: { format: 'pdf', size: 3 } });
    ch.publish('amq.headers', '', Buffer.from('amqp no'), { headers: { format: 'pdf', size: 4 } });
    const nch = await (await d().native()).channel();
    await nch.publish('amq.headers', '', 'native yes', { headers: { format: 'pdf', size: 3 } });
    await waitFor(() => d().broker.queues.get(queue)?.messageCount === 2, 'two routed messages');
    const a = await ch.get(queue, { noAck: true });
    const b = await ch.get(queue, { noAck: true });
    expect([a !== false && a.content.toString(), b !== false && b.content.toString()].sort()).toEqual(['amqp yes', 'native yes']);
  });

  it('dead-lettering an AMQP message records x-death in AMQP headers, keeps the others, drops expiration', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    await ch.assertQueue('dl.target', { exclusive: true });
    await ch.assertQueue('dl.source', { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dl.target' } });
    ch.sendToQueue('dl.source', Buffer.from('doomed'), { headers: { keep: 'me' }, expiration: '60000', messageId: 'd-1' });
    await waitFor(() => d().broker.queues.get('dl.source')?.messageCount === 1, 'the message');
    const m = await ch.get('dl.source');
    ch.reject(m as amqplib.Message, false);
    await waitFor(() => d().broker.queues.get('dl.target')?.messageCount === 1, 'the dead letter');
    const dl = await ch.get('dl.target', { noAck: true });
    expect(dl !== false && dl.content.toString()).toBe('doomed');
    const p = (dl as amqplib.GetMessage).properties;
    expect(p.messageId).toBe('d-1');
    expect(p.expiration).toBeUndefined();
    const h = p.headers as Record<string, unknown>;
    expect(h['keep']).toBe('me');
    expect(h['x-first-death-reason']).toBe('rejected');
    expect(h['x-first-death-queue']).toBe('dl.source');
    const [death] = h['x-death'] as Record<string, unknown>[];
    expect(death).toMatchObject({ queue: 'dl.source', reason: 'rejected', count: 1, exchange: '', 'routing-keys': ['dl.source'], 'original-expiration': '60000' });
    expect((death?.['time'] as { '!': string })['!']).toBe('timestamp');
  });
});

describe('flow control over AMQP', () => {
  it('connection.blocked when an alarm is raised and connection.unblocked when it clears', async () => {
    const small = await startAmqpDaemon({ memoryHighWatermark: 64 * 1024 });
    try {
      const c = await small.amqplib();
      const ch = await c.createChannel();
      await ch.assertQueue('fill');
      const blocked = next<string>((cb) => c.once('blocked', cb));
      for (let i = 0; i < 100; i++) ch.sendToQueue('fill', Buffer.alloc(1024));
      expect(await blocked).toBe('memory high watermark');
      const unblocked = next<void>((cb) => c.once('unblocked', cb));
      const other = await (await small.amqplib()).createChannel();
      await other.purgeQueue('fill');
      await unblocked;
      await other.deleteQueue('fill');
    } finally {
      await small.stop();
    }
  });
});

describe('durability over AMQP', () => {
  afterAll(() => stopAllDaemons());

  it('a confirmed persistent message in a durable queue survives kill -9, properties intact', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'skiff-amqp-crash-'));
    const first = await spawnDaemon([], { dataDir });
    const c = await amqplibModule.connect(`amqp://guest:guest@127.0.0.1:${first.amqpPort}`);
    c.on('error', () => undefined);
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('survivor', { durable: true });
    ch.sendToQueue('survivor', Buffer.from('kept through a crash'), { persistent: true, messageId: 'p-1', headers: { n: 1 } });
    await ch.waitForConfirms();
    await first.stop('SIGKILL').catch(() => undefined);
    const second = await spawnDaemon([], { dataDir });
    try {
      const c2 = await amqplibModule.connect(`amqp://guest:guest@127.0.0.1:${second.amqpPort}`);
      const ch2 = await c2.createChannel();
      const m = await ch2.get('survivor', { noAck: true });
      expect(m !== false && [m.content.toString(), m.properties.messageId, m.properties.headers, m.properties.deliveryMode]).toEqual(['kept through a crash', 'p-1', { n: 1 }, 2]);
      await c2.close();
    } finally {
      await second.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
