import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Channel, Connection, Message } from '../../src/client/index.js';
import { Collector, waitFor } from '../helpers/wait.js';
import { freshDataDir, removeDataDirs, startDurable, storedMessageCount, type DurableDaemon } from '../helpers/durable.js';

beforeEach(() => {
  expect.hasAssertions();
});
afterAll(removeDataDirs);

/** Pulls every ready message of a queue with basic.get, acking none. */
async function drain(ch: Channel, queue: string): Promise<Message[]> {
  const out: Message[] = [];
  for (let m = await ch.get(queue); m !== null; m = await ch.get(queue)) out.push(m);
  return out;
}

async function notFound(conn: Connection, check: (ch: Channel) => Promise<unknown>): Promise<unknown> {
  const ch = await conn.channel();
  return check(ch).then(
    () => 'found',
    (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
  );
}

describe('graceful restart on the same data directory', () => {
  it('brings back durable topology and persistent messages, not transient ones; unacked come back redelivered', async () => {
    const dataDir = freshDataDir();
    let d: DurableDaemon = await startDurable(dataDir);
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareExchange('dx', 'direct', { durable: true });
    await ch.declareExchange('tx', 'fanout', { durable: false });
    await ch.declareExchange('up', 'fanout', { durable: true });
    await ch.declareQueue('dq', { durable: true, arguments: { 'x-max-length': 1000, 'x-dead-letter-exchange': 'dx' } });
    await ch.declareQueue('tq', { durable: false });
    await ch.bindQueue('dq', 'dx', 'a');
    await ch.bindQueue('tq', 'dx', 'a');
    await ch.bindQueue('dq', 'tx');
    await ch.bindQueue('dq', 'amq.direct', 'k');
    await ch.bindExchange('dx', 'up', 'a');
    await ch.confirmSelect();
    for (let i = 0; i < 6; i++) await ch.publish('dx', 'a', `p${i}`, { persistent: true, messageId: `m${i}` });
    await ch.publish('dx', 'a', 'transient', { persistent: false });
    // Two delivered and left unacked when the daemon stops.
    const consumer = await conn.channel();
    const seen = new Collector<Message>();
    await consumer.consume('dq', seen.push, { prefetch: 2 });
    const [first, second] = await seen.take(2);
    expect([first?.text(), second?.text(), first?.redelivered]).toEqual(['p0', 'p1', false]);
    await d.stop();

    d = await startDurable(dataDir);
    const after = await d.connect();
    const check = await after.channel();
    await check.declareExchange('dx', 'direct', { durable: true, passive: true });
    expect(await check.declareQueue('dq', { durable: true, passive: true })).toEqual({ queue: 'dq', messageCount: 6, consumerCount: 0 });
    expect(await notFound(after, (c) => c.declareExchange('tx', 'fanout', { passive: true }))).toEqual({
      code: 'NOT_FOUND',
      message: "NOT_FOUND - no exchange 'tx' in vhost '/'",
    });
    expect(await notFound(after, (c) => c.declareQueue('tq', { passive: true }))).toEqual({
      code: 'NOT_FOUND',
      message: "NOT_FOUND - no queue 'tq' in vhost '/'",
    });
    const broker = d.daemon.broker;
    expect(broker.queues.get('dq')?.arguments).toEqual({ 'x-max-length': 1000, 'x-dead-letter-exchange': 'dx' });
    expect(broker.bindings().filter((b) => b.queue === 'dq').map((b) => `${b.exchange}/${b.routingKey}`).sort()).toEqual(['amq.direct/k', 'dx/a']);
    expect([...(broker.exchanges.get('up')?.exchangeBindings() ?? [])]).toEqual([{ source: 'up', destination: 'dx', routingKey: 'a', arguments: {} }]);
    // Order kept; the two that were delivered come first, redelivered, with their count.
    const ready = [...(broker.queues.get('dq')?.ready ?? [])].map((m) => m.deliveryCount);
    expect(ready).toEqual([1, 1, 0, 0, 0, 0]);
    const back = await drain(check, 'dq');
    expect(back.map((m) => [m.text(), m.redelivered, m.properties.messageId])).toEqual([
      ['p0', true, 'm0'],
      ['p1', true, 'm1'],
      ['p2', false, 'm2'],
      ['p3', false, 'm3'],
      ['p4', false, 'm4'],
      ['p5', false, 'm5'],
    ]);
    // Routing survives: the restored exchange-to-exchange binding and queue binding deliver.
    await check.confirmSelect();
    await check.publish('up', 'a', 'via-up', { persistent: true });
    await waitFor(() => broker.queues.get('dq')?.messageCount === 1, 'the message routed through up -> dx -> dq');
    check.ack(0, true);
    await d.stop();
  });

  it('never writes a message published and acked within one checkpoint interval', async () => {
    const dataDir = freshDataDir();
    const d = await startDurable(dataDir, { checkpointIntervalMs: 600_000 });
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareQueue('work', { durable: true });
    await ch.declareQueue('kept', { durable: true });
    for (let i = 0; i < 200; i++) await ch.publish('', 'work', `job${i}`, { persistent: true });
    await ch.publish('', 'kept', 'stays', { persistent: true });
    const store = d.daemon.store;
    await waitFor(() => (store?.stats().pendingBytes ?? 0) > 0 && (store?.stats().checkpointLagMs ?? 0) > 0, 'unwritten changes to show');
    const consumer = await conn.channel();
    const seen = new Collector<Message>();
    await consumer.consume('work', (m) => {
      m.ack();
      seen.push(m);
    });
    await seen.take(200);
    await waitFor(() => d.daemon.broker.stats().messagesUnacked === 0, 'every ack to arrive');
    expect(store?.stats().checkpoints).toBe(0);
    await d.stop();
    // The final checkpoint wrote the topology and the one message still in a queue; the 200
    // published and acked in between never reached a file, not even as insert-then-delete.
    expect(store?.stats().written).toEqual({ messages: 1, updates: 0, removals: 0 });
    expect(storedMessageCount(dataDir)).toBe(1);
  });

  it('a queue deleted and declared again does not get the old incarnation’s messages back', async () => {
    const dataDir = freshDataDir();
    let d = await startDurable(dataDir);
    const ch = await (await d.connect()).channel();
    await ch.confirmSelect();
    await ch.declareExchange('gone', 'fanout', { durable: true });
    await ch.declareQueue('rq', { durable: true });
    await ch.bindQueue('rq', 'gone');
    for (let i = 0; i < 5; i++) await ch.publish('', 'rq', `old${i}`, { persistent: true });
    await ch.deleteQueue('rq');
    await ch.deleteExchange('gone');
    await ch.declareQueue('rq', { durable: true });
    await ch.publish('', 'rq', 'new0', { persistent: true });
    await d.stop();

    d = await startDurable(dataDir);
    const after = await (await d.connect()).channel();
    expect((await drain(after, 'rq')).map((m) => m.text())).toEqual(['new0']);
    expect(d.daemon.broker.exchanges.has('gone')).toBe(false);
    expect(d.daemon.broker.bindings().filter((b) => b.queue === 'rq')).toEqual([]);
    await d.stop();
  });

  it('keeps headers-exchange bindings apart by their arguments, and unbinds only the one asked for', async () => {
    const dataDir = freshDataDir();
    let d = await startDurable(dataDir);
    const ch = await (await d.connect()).channel();
    await ch.declareExchange('hx', 'headers', { durable: true });
    await ch.declareQueue('hq', { durable: true });
    await ch.bindQueue('hq', 'hx', '', { 'x-match': 'all', kind: 'a' });
    await ch.bindQueue('hq', 'hx', '', { 'x-match': 'any', kind: 'b', bin: Buffer.from([0, 1, 2]) });
    await ch.bindQueue('hq', 'hx', '', { kind: 'c', 'x-match': 'all' });
    await ch.unbindQueue('hq', 'hx', '', { 'x-match': 'all', kind: 'c' });
    await d.stop();

    d = await startDurable(dataDir);
    const args = d.daemon.broker.bindings().filter((b) => b.exchange === 'hx').map((b) => b.arguments);
    expect(args).toEqual([
      { 'x-match': 'all', kind: 'a' },
      { 'x-match': 'any', kind: 'b', bin: Buffer.from([0, 1, 2]) },
    ]);
    await d.stop();
  });
});
