import { AMQPClient } from '@cloudamqp/amqp-client';
import amqplib from 'amqplib';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpError } from '../../protocol/amqp/errors.js';
import { AmqpFrameDecoder } from '../../protocol/amqp/frame-decoder.js';
import { Method, type BasicProperties } from '../../protocol/amqp/spec.generated.js';
import { AmqpFrameWriter } from '../../protocol/amqp/writer.js';

/**
 * The codec against stock clients over real sockets: a scripted peer built only from the codec
 * (enough of a broker for a handshake, a queue, confirms and a consumer) serves amqplib and
 * @cloudamqp/amqp-client, so each side reads what the other writes — the handshake's tables,
 * properties of every kind, and bodies split over many frames at frame-max 4096.
 */

interface Published {
  routingKey: string;
  properties: BasicProperties;
  body: Buffer;
}

const FRAME_MAX = 4096;
const published: Published[] = [];
const clientProperties: Record<string, unknown>[] = [];

const sockets = new Set<Socket>();

function serve(sock: Socket): void {
  sockets.add(sock);
  sock.on('close', () => sockets.delete(sock));
  const w = new AmqpFrameWriter(sock, { frameMax: FRAME_MAX });
  const confirms = new Map<number, number>();
  const consumers = new Map<string, { channel: number; tag: string }>();
  // messages published before their queue had a consumer: [exchange, raw properties, body]
  const waiting = new Map<string, [string, Buffer, Buffer][]>();
  let deliveryTag = 0;
  const d = new AmqpFrameDecoder(
    {
      onProtocolHeader(check) {
        if (!check.ok) {
          sock.end(check.reply);
          return;
        }
        w.method(0, Method.ConnectionStart, {
          versionMajor: 0,
          versionMinor: 9,
          serverProperties: { product: 'codec test', capabilities: { publisher_confirms: true, 'basic.nack': true, consumer_cancel_notify: true } },
          mechanisms: Buffer.from('PLAIN AMQPLAIN'),
          locales: Buffer.from('en_US'),
        });
      },
      onMethod(ch, m) {
        switch (m.id) {
          case Method.ConnectionStartOk:
            clientProperties.push(m.clientProperties);
            w.method(0, Method.ConnectionTune, { channelMax: 2047, frameMax: FRAME_MAX, heartbeat: 0 });
            break;
          case Method.ConnectionTuneOk:
            w.frameMax = m.frameMax;
            d.frameMax = m.frameMax;
            break;
          case Method.ConnectionOpen:
            w.method(0, Method.ConnectionOpenOk, {});
            break;
          case Method.ConnectionClose:
            w.method(0, Method.ConnectionCloseOk, {});
            w.flush();
            sock.end();
            break;
          case Method.ChannelOpen:
            w.method(ch, Method.ChannelOpenOk, {});
            break;
          case Method.ChannelClose:
            w.method(ch, Method.ChannelCloseOk, {});
            break;
          case Method.ConfirmSelect:
            confirms.set(ch, 0);
            if (!m.noWait) w.method(ch, Method.ConfirmSelectOk, {});
            break;
          case Method.QueueDeclare:
            w.method(ch, Method.QueueDeclareOk, { queue: m.queue, messageCount: 0, consumerCount: 0 });
            break;
          case Method.BasicQos:
            w.method(ch, Method.BasicQosOk, {});
            break;
          case Method.BasicConsume: {
            const tag = m.consumerTag === '' ? `ctag-${consumers.size + 1}` : m.consumerTag;
            consumers.set(m.queue, { channel: ch, tag });
            w.method(ch, Method.BasicConsumeOk, { consumerTag: tag });
            for (const [ex, raw, body] of waiting.get(m.queue) ?? []) w.deliver(ch, tag, ++deliveryTag, false, ex, m.queue, raw, body);
            waiting.delete(m.queue);
            break;
          }
          case Method.BasicAck:
          case Method.BasicCancel:
            break;
          default:
            throw new Error(`the test peer does not handle ${m.id}`);
        }
      },
      onContent(ch, m, properties, raw, body) {
        if (m.id !== Method.BasicPublish) throw new Error('expected a publish');
        published.push({ routingKey: m.routingKey, properties, body: Buffer.from(body) });
        const seq = confirms.get(ch);
        if (seq !== undefined) {
          confirms.set(ch, seq + 1);
          w.ack(ch, seq + 1, false);
        }
        // deliver it back with the property bytes as received
        const c = consumers.get(m.routingKey);
        if (c !== undefined) w.deliver(c.channel, c.tag, ++deliveryTag, false, m.exchange, m.routingKey, raw, body);
        else waiting.set(m.routingKey, [...(waiting.get(m.routingKey) ?? []), [m.exchange, Buffer.from(raw), Buffer.from(body)]]);
      },
      onHeartbeat() {},
      onError(e: AmqpError) {
        w.method(0, Method.ConnectionClose, { replyCode: e.replyCode, replyText: e.replyText, classId: e.classId, methodId: e.methodId });
      },
    },
    { frameMax: FRAME_MAX, expectProtocolHeader: true },
  );
  sock.on('data', (chunk) => d.push(chunk));
  sock.on('error', () => sock.destroy());
}

let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `amqp://guest:guest@127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const BIG = Buffer.alloc(20_000);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7) & 0xff;

describe('amqplib', () => {
  it('handshake, confirms, every property and a body over many frames, both ways', async () => {
    published.length = 0;
    const conn = await amqplib.connect(url);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('q.amqplib', { durable: true, arguments: { 'x-message-ttl': 60_000 } });
    const got = new Promise<amqplib.ConsumeMessage>((resolve) => {
      void ch.consume('q.amqplib', (msg) => msg !== null && resolve(msg), { noAck: true });
    });
    const headers = { s: 'str', n: 42, neg: -7, f: 2.5, yes: true, nil: null, arr: [1, 'a'], tab: { k: 'v' }, buf: Buffer.from([1, 2]) };
    await new Promise<void>((resolve, reject) =>
      ch.publish(
        '',
        'q.amqplib',
        BIG,
        {
          contentType: 'application/octet-stream',
          contentEncoding: 'identity',
          headers,
          deliveryMode: 2,
          priority: 4,
          correlationId: 'corr',
          replyTo: 'reply.q',
          expiration: '60000',
          messageId: 'id-1',
          timestamp: 1_700_000_000,
          type: 'kind',
          userId: 'guest',
          appId: 'tests',
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    const msg = await got;
    expect(msg.content.equals(BIG)).toBe(true);
    expect(msg.properties).toMatchObject({ contentType: 'application/octet-stream', deliveryMode: 2, priority: 4, messageId: 'id-1', timestamp: 1_700_000_000, userId: 'guest' });
    expect(msg.properties.headers).toEqual(headers);
    expect(published).toHaveLength(1);
    expect(published[0]?.properties).toMatchObject({ expiration: '60000', appId: 'tests', headers });
    expect(published[0]?.body.equals(BIG)).toBe(true);
    expect(clientProperties.at(-1)).toMatchObject({ product: 'amqplib', capabilities: { publisher_confirms: true } });
    await conn.close();
  });
});

describe('@cloudamqp/amqp-client', () => {
  it('handshake, confirms, properties and a body over many frames, both ways', async () => {
    published.length = 0;
    const client = new AMQPClient(url);
    const conn = await client.connect();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.queueDeclare('q.cloudamqp', { durable: true });
    const got = new Promise<{ body: Uint8Array | null; properties: Record<string, unknown> }>((resolve) => {
      void ch.basicConsume('q.cloudamqp', { noAck: true }, (msg) => resolve({ body: msg.body, properties: msg.properties as Record<string, unknown> }));
    });
    await ch.basicPublish('', 'q.cloudamqp', BIG, { contentType: 'text/plain', headers: { big: 2 ** 40, s: 'x', b: false }, deliveryMode: 2, messageId: 'm-2' });
    const msg = await got;
    expect(Buffer.from(msg.body as Uint8Array).equals(BIG)).toBe(true);
    expect(msg.properties).toMatchObject({ contentType: 'text/plain', deliveryMode: 2, messageId: 'm-2', headers: { big: 2 ** 40, s: 'x', b: false } });
    expect(published[0]?.properties.headers).toEqual({ big: 2 ** 40, s: 'x', b: false });
    expect(clientProperties.at(-1)).toMatchObject({ product: 'amqp-client.js', capabilities: { publisher_confirms: true } });
    await conn.close();
  });
});
