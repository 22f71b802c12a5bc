import { describe, expect, it } from 'vitest';
import type { Channel, Message } from '../../src/client/index.js';
import { NoPersistence } from '../../src/broker/persistence.js';
import type { Message as StoredMessage } from '../../src/broker/message.js';
import type { Queue } from '../../src/broker/queue.js';
import { count, usePolicyServer } from '../helpers/clock-server.js';
import { Collector } from '../helpers/wait.js';

const server = usePolicyServer();

/** A work queue whose dead letters go through exchange `dlx` (direct) to queue `dead`. */
async function setup(ch: Channel, args: Record<string, unknown> = {}, dlrk?: string): Promise<void> {
  await ch.declareExchange('dlx', 'direct');
  await ch.declareQueue('dead');
  await ch.bindQueue('dead', 'dlx', dlrk ?? 'work');
  await ch.declareQueue('work', {
    arguments: { 'x-dead-letter-exchange': 'dlx', ...(dlrk === undefined ? {} : { 'x-dead-letter-routing-key': dlrk }), ...args },
  });
}

describe('dead-lettering (SPEC §3.4.3)', () => {
  it('reject without requeue: republished to the DLX with an x-death record; properties kept', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await setup(ch, {}, 'failed');
    await ch.publish('', 'work', 'job-1', {
      persistent: true,
      priority: 3,
      contentType: 'text/plain',
      messageId: 'id-1',
      headers: { tenant: 'acme' },
    });
    const m = await ch.get('work');
    m?.reject(false);
    const d = await ch.get('dead', { noAck: true });
    expect(d).not.toBeNull();
    const dead = d as Message;
    expect({ body: dead.text(), exchange: dead.exchange, routingKey: dead.routingKey, persistent: dead.persistent, redelivered: dead.redelivered }).toEqual({
      body: 'job-1',
      exchange: 'dlx',
      routingKey: 'failed',
      persistent: true,
      redelivered: false,
    });
    expect(dead.properties).toEqual({
      contentType: 'text/plain',
      messageId: 'id-1',
      headers: {
        tenant: 'acme',
        'x-death': [{ queue: 'work', reason: 'rejected', count: 1, time: clock.now(), exchange: '', 'routing-keys': ['work'] }],
        'x-first-death-queue': 'work',
        'x-first-death-reason': 'rejected',
        'x-first-death-exchange': '',
        'x-last-death-queue': 'work',
        'x-last-death-reason': 'rejected',
        'x-last-death-exchange': '',
      },
    });
  });

  it('nack multiple without requeue dead-letters each; with requeue nothing is dead-lettered', async () => {
    const ch = await server().channel();
    await setup(ch);
    for (const b of ['a', 'b', 'c']) await ch.publish('', 'work', b);
    const got = [await ch.get('work'), await ch.get('work'), await ch.get('work')];
    got[0]?.nack(true);
    got[2]?.nack(false, true);
    expect(await count(ch, 'dead')).toBe(2);
    expect((await ch.get('dead', { noAck: true }))?.text()).toBe('b');
    expect((await ch.get('dead', { noAck: true }))?.text()).toBe('c');
    expect((await ch.get('work', { noAck: true }))?.text()).toBe('a');
  });

  it('expired messages are dead-lettered with reason expired and original-expiration', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await setup(ch, { 'x-message-ttl': 5000 });
    await ch.publish('', 'work', 'tick', { expiration: 250 });
    const at = clock.now();
    clock.advance(251);
    const d = await ch.get('dead', { noAck: true });
    expect(d?.properties.headers?.['x-death']).toEqual([
      { queue: 'work', reason: 'expired', count: 1, time: at + 251, exchange: '', 'routing-keys': ['work'], 'original-expiration': 250 },
    ]);
  });

  it('without a DLX, or with a missing one, rejected messages are dropped', async () => {
    const ch = await server().channel();
    await ch.declareQueue('plain');
    await ch.declareQueue('orphan', { arguments: { 'x-dead-letter-exchange': 'not-declared' } });
    for (const q of ['plain', 'orphan']) {
      await ch.publish('', q, 'x');
      (await ch.get(q))?.reject(false);
      expect(await count(ch, q)).toBe(0);
    }
    expect(server().broker.stats().messagesReady).toBe(0);
  });

  it('a loop with no rejection in it is cut (expired back into itself)', async () => {
    const { clock, broker } = server();
    const ch = await server().channel();
    await ch.declareQueue('loop', { arguments: { 'x-message-ttl': 10, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'loop' } });
    await ch.publish('', 'loop', 'spin');
    clock.advance(11);
    expect(await count(ch, 'loop')).toBe(0);
    expect(broker.queuedBytes).toBe(0);
  });

  it('a retry loop through a rejection goes on, counting in x-death', async () => {
    const { clock } = server();
    const ch = await server().channel();
    // work --reject--> retry (TTL 1 s) --expire--> work
    await ch.declareQueue('work', { arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'retry' } });
    await ch.declareQueue('retry', { arguments: { 'x-message-ttl': 1000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'work' } });
    await ch.publish('', 'work', 'flaky');
    let m: Message | null = null;
    for (let attempt = 1; attempt <= 3; attempt++) {
      m = await ch.get('work');
      expect(m?.text()).toBe('flaky');
      m?.reject(false);
      expect(await ch.get('work')).toBeNull(); // waiting out its delay
      clock.advance(1001);
    }
    m = await ch.get('work', { noAck: true });
    const deaths = m?.properties.headers?.['x-death'] as { queue: string; reason: string; count: number }[];
    expect(deaths.map((d) => [d.queue, d.reason, d.count])).toEqual([
      ['retry', 'expired', 3],
      ['work', 'rejected', 3],
    ]);
  });

  it('x-delivery-limit: past the limit a returned message is dead-lettered (delivery_limit)', async () => {
    const ch = await server().channel();
    await setup(ch, { 'x-delivery-limit': 2 });
    await ch.publish('', 'work', 'poison');
    const seen = new Collector<Message>();
    const consumer = await ch.consume('work', (m) => {
      seen.push(m);
      m.nack(true);
    });
    await seen.take(3);
    const d = await ch.get('dead', { noAck: true });
    expect(d?.properties.headers?.['x-death']).toMatchObject([{ queue: 'work', reason: 'delivery_limit', count: 1 }]);
    await consumer.cancel();
    expect(seen.items.map((m) => m.redelivered)).toEqual([false, true, true]);
    expect(await count(ch, 'work')).toBe(0);
  });

  it('x-delivery-limit counts returns by a closed channel too; without a DLX the message is dropped', async () => {
    const ch = await server().channel();
    await ch.declareQueue('work', { arguments: { 'x-delivery-limit': 0 } });
    await ch.publish('', 'work', 'poison');
    const other = await server().channel();
    expect((await other.get('work'))?.text()).toBe('poison');
    await other.close();
    expect(await count(ch, 'work')).toBe(0);
  });
});

/** The store interface as the broker drives it, recorded: what a durable store would be told. */
class RecordingPersistence extends NoPersistence {
  readonly calls: string[] = [];
  override messageEnqueued(q: Queue, m: StoredMessage): void {
    this.calls.push(`enqueued ${q.name} ${m.body.toString()}`);
  }
  override messageRemoved(q: Queue, m: StoredMessage): void {
    this.calls.push(`removed ${q.name} ${m.body.toString()}`);
  }
}

describe('dead-lettering and the store (durability contract)', () => {
  const durable = usePolicyServer({ persistence: () => new RecordingPersistence() });

  it('a persistent message dead-lettered into a durable queue is stored there before it leaves the first', async () => {
    const ch = await durable().channel();
    await ch.declareExchange('dlx', 'fanout', { durable: true });
    await ch.declareQueue('dead', { durable: true });
    await ch.declareQueue('transient-dead');
    await ch.bindQueue('dead', 'dlx');
    await ch.bindQueue('transient-dead', 'dlx');
    await ch.declareQueue('work', { durable: true, arguments: { 'x-dead-letter-exchange': 'dlx', 'x-message-ttl': 100 } });
    await ch.publish('', 'work', 'rejected', { persistent: true });
    await ch.publish('', 'work', 'expired', { persistent: true });
    (await ch.get('work'))?.reject(false);
    await ch.declareQueue('work', { passive: true }); // the reject is in before time moves
    durable().clock.advance(101);
    await ch.declareQueue('work', { passive: true });
    expect((durable().broker.persistence as RecordingPersistence).calls).toEqual([
      'enqueued work rejected',
      'enqueued work expired',
      'enqueued dead rejected',
      'removed work rejected',
      'enqueued dead expired',
      'removed work expired',
    ]);
  });
});
