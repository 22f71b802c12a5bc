import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/client/index.js';
import { count, drain, usePolicyServer } from '../helpers/clock-server.js';
import { Collector, waitFor } from '../helpers/wait.js';

const server = usePolicyServer();

describe('message TTL (SPEC §3.4.2)', () => {
  it('x-message-ttl: a message expires once older than the TTL, and is never delivered', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await ch.declareQueue('ticks', { arguments: { 'x-message-ttl': 1000 } });
    await ch.publish('', 'ticks', 'old-1');
    await ch.publish('', 'ticks', 'old-2');
    clock.advance(500);
    await ch.publish('', 'ticks', 'new');
    clock.advance(500); // old ones are exactly 1000 ms old: not older than the TTL yet
    expect(await count(ch, 'ticks')).toBe(3);
    clock.advance(1);
    expect(await count(ch, 'ticks')).toBe(1);
    expect(await drain(ch, 'ticks')).toEqual(['new']);
  });

  it('expires without any consumer or get (a timer), releasing broker memory', async () => {
    const { clock, broker } = server();
    const ch = await server().channel();
    await ch.declareQueue('q', { arguments: { 'x-message-ttl': 100 } });
    for (let i = 0; i < 100; i++) await ch.publish('', 'q', Buffer.alloc(1000));
    expect(broker.queuedBytes).toBeGreaterThan(100_000);
    clock.advance(101);
    expect(broker.queues.get('q')?.messageCount).toBe(0);
    expect(broker.queuedBytes).toBe(0);
  });

  it('per-message expiration: the lower of message and queue TTL wins', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await ch.declareQueue('long', { arguments: { 'x-message-ttl': 10_000 } });
    await ch.declareQueue('short', { arguments: { 'x-message-ttl': 100 } });
    await ch.publish('', 'long', 'message-ttl-wins', { expiration: 200 });
    await ch.publish('', 'long', 'queue-ttl-applies');
    await ch.publish('', 'short', 'queue-ttl-wins', { expiration: 60_000 });
    clock.advance(101);
    expect(await count(ch, 'short')).toBe(0);
    expect(await count(ch, 'long')).toBe(2);
    clock.advance(100);
    expect(await drain(ch, 'long')).toEqual(['queue-ttl-applies']);
  });

  it('a short-lived message behind a long-lived one is removed on time (no head-of-line)', async () => {
    const { clock, broker } = server();
    const ch = await server().channel();
    await ch.declareQueue('q');
    await ch.publish('', 'q', 'long', { expiration: 60_000 });
    for (let i = 0; i < 1000; i++) void ch.publish('', 'q', `short-${i}`, { expiration: 100 });
    await ch.publish('', 'q', 'forever');
    expect(await count(ch, 'q')).toBe(1002);
    clock.advance(101);
    expect(await count(ch, 'q')).toBe(2);
    expect(broker.queues.get('q')?.readyBytes).toBe(Buffer.byteLength('long') + Buffer.byteLength('forever'));
    // Gone from memory too, not just from the count: the queue's list was compacted.
    expect(broker.queues.get('q')?.ready.length).toBe(2);
    expect(await drain(ch, 'q')).toEqual(['long', 'forever']);
  });

  it('unacked messages do not expire; requeued ones keep their original expiry', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await ch.declareQueue('q', { arguments: { 'x-message-ttl': 1000 } });
    await ch.publish('', 'q', 'held');
    await ch.publish('', 'q', 'kept');
    const held = await ch.get('q');
    clock.advance(500);
    const kept = await ch.get('q');
    clock.advance(2000);
    kept?.ack(); // acking after its TTL is fine: it was delivered in time
    held?.nack(true); // back in the queue, but already past its expiry
    expect(await count(ch, 'q')).toBe(0);
    expect(await ch.get('q')).toBeNull();
  });

  it('x-message-ttl 0: delivered to a waiting consumer, else expired at once', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await ch.declareQueue('now', { arguments: { 'x-message-ttl': 0 } });
    await ch.publish('', 'now', 'nobody-waiting');
    clock.advance(1);
    expect(await count(ch, 'now')).toBe(0);
    const got = new Collector<string>();
    const consumer = await ch.consume('now', (m) => {
      got.push(m.text());
      m.ack();
    });
    await ch.publish('', 'now', 'taken');
    expect(await got.take(1)).toEqual(['taken']);
    await consumer.cancel();
  });

  it('a message that expires while a consumer is busy is skipped, not delivered late', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await ch.declareQueue('q', { arguments: { 'x-message-ttl': 1000 } });
    const got = new Collector<Message>();
    await ch.consume('q', got.push, { prefetch: 1 });
    await ch.publish('', 'q', 'first');
    await ch.publish('', 'q', 'stale');
    const [first] = await got.take(1);
    clock.advance(1001);
    first?.ack();
    await ch.publish('', 'q', 'fresh');
    const [, next] = await got.take(2);
    expect(next?.text()).toBe('fresh');
    next?.ack();
  });
});

describe('queue expiry (x-expires, SPEC §3.4.1)', () => {
  it('an unused queue is deleted; get and re-declare restart the countdown', async () => {
    const { clock, broker } = server();
    const ch = await server().channel();
    await ch.declareQueue('tmp', { arguments: { 'x-expires': 1000 } });
    clock.advance(900);
    await ch.get('tmp');
    clock.advance(900);
    await ch.declareQueue('tmp', { arguments: { 'x-expires': 1000 } });
    clock.advance(900);
    expect(broker.queues.has('tmp')).toBe(true);
    clock.advance(100);
    expect(broker.queues.has('tmp')).toBe(false);
    await expect(ch.declareQueue('tmp', { passive: true })).rejects.toMatchObject({ replyCode: 404 });
  });

  it('a queue with a consumer does not expire; the countdown starts when the last one leaves', async () => {
    const { clock, broker } = server();
    const ch = await server().channel();
    await ch.declareQueue('tmp', { arguments: { 'x-expires': 1000 } });
    const c = await ch.consume('tmp', () => undefined);
    clock.advance(5000);
    expect(broker.queues.has('tmp')).toBe(true);
    await c.cancel();
    clock.advance(999);
    expect(broker.queues.has('tmp')).toBe(true);
    clock.advance(1);
    await waitFor(() => !broker.queues.has('tmp'), 'the queue to expire');
    expect(clock.pending).toBe(0);
  });
});
