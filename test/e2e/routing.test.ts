import { describe, expect, it } from 'vitest';
import type { Message, ReturnedMessage } from '../../src/client/index.js';
import { ReplyCode } from '../../src/client/index.js';
import { useServer } from '../helpers/server.js';
import { Collector } from '../helpers/wait.js';

const server = useServer();

describe('routing over TCP with the real client', () => {
  it('direct exchange: exact key match', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareExchange('orders', 'direct');
    await ch.declareQueue('eu');
    await ch.declareQueue('us');
    await ch.bindQueue('eu', 'orders', 'eu');
    await ch.bindQueue('us', 'orders', 'us');
    await ch.confirmSelect();
    for (const key of ['eu', 'us', 'eu', 'asia']) await ch.publish('orders', key, `order for ${key}`);
    expect((await ch.declareQueue('eu', { passive: true })).messageCount).toBe(2);
    expect((await ch.get('us'))?.text()).toBe('order for us');
    expect(await ch.get('us')).toBeNull();
  });

  it('fanout exchange: a copy to each of many queues', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareExchange('ticks', 'fanout');
    const queues: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { queue } = await ch.declareQueue('', { exclusive: true });
      await ch.bindQueue(queue, 'ticks');
      queues.push(queue);
    }
    await ch.confirmSelect();
    await ch.publish('ticks', 'ignored', 'EURUSD 1.0842');
    for (const q of queues) expect((await ch.get(q, { noAck: true }))?.text(), q).toBe('EURUSD 1.0842');
  });

  it('default exchange: routes to the queue named by the key', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareQueue('jobs');
    await ch.confirmSelect();
    await ch.publish('', 'jobs', 'job 1');
    await ch.publish('', 'no-such-queue', 'lost');
    const m = await ch.get('jobs');
    expect([m?.text(), m?.exchange, m?.routingKey, m?.messageCount]).toEqual(['job 1', '', 'jobs', 0]);
    m?.ack();
  });

  it('carries properties and body bytes unchanged', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareQueue('q');
    const body = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    const props = {
      contentType: 'application/octet-stream',
      contentEncoding: 'identity',
      headers: { 'x-trace': 'abc', attempt: 3, nested: { ok: true } },
      messageId: 'm-1',
      correlationId: 'c-1',
      replyTo: 'replies',
      timestamp: 1_700_000_000_123,
      type: 'blob',
      appId: 'tests',
      userId: 'guest',
    };
    await ch.confirmSelect();
    await ch.publish('', 'q', body, { ...props, persistent: true });
    await ch.publish('', 'q', '');
    const m = (await ch.get('q', { noAck: true })) as Message;
    expect(m.body.equals(body)).toBe(true);
    expect(m.properties).toEqual(props);
    expect(m.persistent).toBe(true);
    const empty = (await ch.get('q', { noAck: true })) as Message;
    expect([empty.body.length, empty.properties, empty.persistent]).toEqual([0, {}, false]);
  });

  it('a message larger than frameMax is refused by the client before sending', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await expect(ch.publish('', 'q', Buffer.alloc(conn.frameMax))).rejects.toMatchObject({
      code: 'ERR_BODY_TOO_LARGE',
      message: `message of ${conn.frameMax} bytes does not fit in a frame (frameMax ${conn.frameMax})`,
    });
    await ch.declareQueue('still-fine');
  });

  it('mandatory: an unroutable message comes back with basic.return, then is confirmed', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    const returns = new Collector<ReturnedMessage>();
    ch.onReturn(returns.push);
    await ch.confirmSelect();
    await ch.publish('amq.direct', 'nobody', 'come back', { mandatory: true, messageId: 'r1' });
    await ch.publish('amq.direct', 'nobody', 'dropped silently');
    const [r] = await returns.take(1);
    expect([r?.code, r?.replyCode, r?.text, r?.exchange, r?.routingKey, r?.message.text(), r?.message.properties.messageId]).toEqual([
      'NO_ROUTE',
      ReplyCode.NO_ROUTE,
      'NO_ROUTE',
      'amq.direct',
      'nobody',
      'come back',
      'r1',
    ]);
    expect(returns.length).toBe(1);
  });

  it('queue declare-ok, purge and delete report counts', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareQueue('q');
    await ch.confirmSelect();
    for (let i = 0; i < 3; i++) await ch.publish('', 'q', `m${i}`);
    await ch.consume('q', () => undefined, { prefetch: 1 });
    expect(await ch.declareQueue('q')).toEqual({ queue: 'q', messageCount: 2, consumerCount: 1 });
    expect(await ch.purgeQueue('q')).toBe(2);
    await ch.publish('', 'q', 'last');
    // The consumer still holds m0 unacked: not counted, as AMQP.
    expect(await ch.deleteQueue('q')).toBe(1);
  });

  it('unbind stops routing', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareExchange('x', 'direct');
    await ch.declareQueue('q');
    await ch.bindQueue('q', 'x', 'k');
    await ch.unbindQueue('q', 'x', 'k');
    await ch.confirmSelect();
    await ch.publish('x', 'k', 'nowhere');
    expect((await ch.declareQueue('q', { passive: true })).messageCount).toBe(0);
  });
});
