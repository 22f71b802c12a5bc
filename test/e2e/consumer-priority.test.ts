import type amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/client/index.js';
import { next, useAmqpDaemon } from '../helpers/amqp-daemon.js';
import { Collector, waitFor } from '../helpers/wait.js';

/**
 * Consumer priorities (`x-priority`, RabbitMQ's meaning): while a higher-priority consumer has
 * room in its prefetch window it gets the queue's messages; lower ones get messages only while
 * every higher one is blocked; equals share round robin.
 */

const closedWith = (code: number, name: string, text: string): RegExp =>
  new RegExp(`${code} \\(${name}\\) with message "${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`);

describe('consumer priorities', () => {
  const d = useAmqpDaemon();

  it('amqplib: the high-priority consumer fills its window first, the low one gets only the overflow', async () => {
    const c = await d().amqplib();
    const admin = await c.createChannel();
    await admin.assertQueue('work', { durable: false });
    const seen: [string, string][] = [];
    const held = { high: [] as amqplib.ConsumeMessage[], low: [] as amqplib.ConsumeMessage[] };
    const consumer = async (name: 'high' | 'low', args: Record<string, unknown>): Promise<amqplib.Channel> => {
      const ch = await c.createChannel();
      await ch.prefetch(2);
      await ch.consume(
        'work',
        (m) => {
          if (m === null) return;
          seen.push([name, m.content.toString()]);
          held[name].push(m);
        },
        { arguments: args },
      );
      return ch;
    };
    // The low one subscribes first: priority, not arrival, decides.
    const low = await consumer('low', {});
    const high = await consumer('high', { 'x-priority': 10 });
    for (let i = 1; i <= 6; i++) admin.sendToQueue('work', Buffer.from(`m${i}`));
    await waitFor(() => seen.length === 4, 'four deliveries');
    expect(seen).toEqual([
      ['high', 'm1'],
      ['high', 'm2'],
      ['low', 'm3'],
      ['low', 'm4'],
    ]);
    expect((await admin.checkQueue('work')).messageCount).toBe(2);
    // Room for the high one again: the next message is its, not the low one's.
    high.ack(held.high[0] as amqplib.Message);
    await waitFor(() => seen.length === 5, 'the fifth delivery');
    expect(seen[4]).toEqual(['high', 'm5']);
    // The high one is full again; room on the low one takes the last.
    low.ack(held.low[0] as amqplib.Message);
    await waitFor(() => seen.length === 6, 'the sixth delivery');
    expect(seen[5]).toEqual(['low', 'm6']);
    high.ackAll();
    low.ackAll();
  });

  it('equal priorities share round robin; a lower one gets nothing while they have room', async () => {
    const c = await d().amqplib();
    const admin = await c.createChannel();
    await admin.assertQueue('work', { durable: false });
    const seen: string[] = [];
    for (const [name, priority] of [['low', -5], ['a', 3], ['b', 3]] as const) {
      const ch = await c.createChannel();
      await ch.consume('work', () => seen.push(name), { noAck: true, arguments: { 'x-priority': priority } });
    }
    for (let i = 0; i < 6; i++) admin.sendToQueue('work', Buffer.from('x'));
    await waitFor(() => seen.length === 6, 'six deliveries');
    expect(seen).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('the native client: the priority option, kept by the listing', async () => {
    const conn = await d().native();
    const ch = await conn.channel();
    await ch.declareQueue('work');
    const seen: [string, string][] = [];
    const held: Message[] = [];
    await ch.consume('work', (m) => seen.push(['low', m.text()]), { prefetch: 1, priority: 1 });
    const ch2 = await conn.channel();
    await ch2.consume(
      'work',
      (m) => {
        seen.push(['high', m.text()]);
        held.push(m);
      },
      { prefetch: 1, priority: 2 },
    );
    const consumers = d().broker.queues.get('work')?.consumers.map((k) => k.priority);
    expect(consumers).toEqual([2, 1]);
    for (const t of ['m1', 'm2']) await ch.publish('', 'work', t);
    await waitFor(() => seen.length === 2, 'two deliveries');
    expect(seen).toEqual([
      ['high', 'm1'],
      ['low', 'm2'],
    ]);
    held[0]?.ack();
  });

  it('bad x-priority: PRECONDITION_FAILED naming the argument, on that channel only', async () => {
    const c = await d().amqplib();
    const ok = await c.createChannel();
    await ok.assertQueue('work', { durable: false });
    for (const [value, shown] of [
      ['banana', "'banana'"],
      [1.5, '1.5'],
      [2 ** 31, String(2 ** 31)],
    ] as const) {
      const bad = await c.createChannel();
      const closed = next<Error>((cb) => bad.once('error', cb));
      await expect(bad.consume('work', () => undefined, { arguments: { 'x-priority': value } })).rejects.toThrow();
      expect((await closed).message).toMatch(
        closedWith(406, 'PRECONDITION-FAILED', `PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'work' in vhost '/': expected a 32-bit integer, got ${shown}`),
      );
    }
    // Unknown consumer arguments are ignored over AMQP, as RabbitMQ ignores them.
    const tag = await ok.consume('work', () => undefined, { arguments: { 'x-unknown': 1, 'x-cancel-on-ha-failover': true } });
    await ok.cancel(tag.consumerTag);
    expect((await ok.checkQueue('work')).consumerCount).toBe(0);
  });

  it('native protocol: a bad x-priority or an unknown consumer argument is PRECONDITION_FAILED', async () => {
    const conn = await d().native();
    const ch = await conn.channel();
    await ch.declareQueue('work');
    await expect(ch.consume('work', () => undefined, { priority: 0.5 })).rejects.toMatchObject({
      replyCode: 406,
      message: "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'work' in vhost '/': expected a 32-bit integer, got 0.5",
    });
  });
});
