import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Channel, Connection, Message } from '../../src/client/index.js';
import type { Queue } from '../../src/broker/queue.js';
import { Collector, waitFor } from '../helpers/wait.js';
import { freshDataDir, removeDataDirs, startDurable, storedMessageCount, type DurableDaemon } from '../helpers/durable.js';

/**
 * Backlogs longer than memory (issue 13): durable queues with a tiny memory budget keep their
 * persistent messages on disk and page them in, and every queue semantic holds across the
 * messages that were paged.
 */

beforeEach(() => {
  expect.hasAssertions();
});
afterAll(removeDataDirs);

const KiB = 1024;
/** A budget of a few hundred small messages per queue, so a few thousand are mostly on disk. */
const TINY = { queueMemoryBudget: 64 * KiB, totalQueueMemoryBudget: 256 * KiB, checkpointIntervalMs: 20 };

function queue(d: DurableDaemon, name: string): Queue {
  const q = d.daemon.broker.queues.get(name);
  if (q === undefined) throw new Error(`no queue ${name}`);
  return q;
}

/** Publishes `n` persistent messages `${prefix}${i}` with confirms, in windows. */
async function publishMany(ch: Channel, exchange: string, key: string, n: number, prefix: string, options: { priority?: (i: number) => number; expiration?: number } = {}): Promise<void> {
  const pad = 'x'.repeat(100);
  let window: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    window.push(
      ch.publish(exchange, key, `${prefix}${i} ${pad}`, {
        persistent: true,
        ...(options.priority !== undefined && { priority: options.priority(i) }),
        ...(options.expiration !== undefined && { expiration: options.expiration }),
      }),
    );
    if (window.length >= 1000) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
}

function label(m: Message): string {
  return m.text().split(' ')[0] as string;
}

/**
 * Consumes `n` messages (prefetch `prefetch`) on a channel of its own, acking those, and returns
 * their labels in order; deliveries past `n` go back to the queue when the channel closes.
 */
async function consumeAcking(conn: Connection, q: string, n: number, prefetch = 200): Promise<string[]> {
  const ch = await conn.channel();
  const got = new Collector<Message>();
  await ch.consume(q, (m) => {
    if (got.items.length >= n) return;
    got.push(m);
    m.ack();
  }, { prefetch });
  // A deadline against hangs only, generous for a loaded machine: about 1 ms a message.
  const messages = await got.take(n, Math.max(10_000, n));
  await ch.close();
  return messages.map(label);
}

/** A durable fanout exchange and the durable queue it feeds (a dead-letter target). */
async function deadLetterQueue(ch: Channel, exchange: string, queue: string): Promise<void> {
  await ch.declareExchange(exchange, 'fanout', { durable: true });
  await ch.declareQueue(queue, { durable: true });
  await ch.bindQueue(queue, exchange);
}

function labels(prefix: string, from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(`${prefix}${i}`);
  return out;
}

/** Waits until no page-in of `q` is under way and its backlog settled at `count` ready messages. */
async function settled(d: DurableDaemon, name: string, count: number): Promise<void> {
  await waitFor(() => queue(d, name).messageCount === count && queue(d, name).paged?.loading === false, `${name} to settle at ${count} messages`, 20_000);
}

describe('paging: backlogs longer than the memory budget', () => {
  it('100,000 persistent messages under a 1 MiB budget: memory stays bounded, order holds, a restart mid-backlog brings the rest back in order', async () => {
    const dataDir = freshDataDir();
    const budget = { queueMemoryBudget: 512 * KiB, totalQueueMemoryBudget: 1024 * KiB };
    let d = await startDurable(dataDir, budget);
    let conn = await d.connect();
    let ch = await conn.channel();
    await ch.declareQueue('deep', { durable: true });
    await ch.confirmSelect();
    await publishMany(ch, '', 'deep', 100_000, 'm');
    const q = queue(d, 'deep');
    expect(q.messageCount).toBe(100_000);
    // Nearly all of it lives only on disk; what is in memory is within the budget (+ one page).
    expect(q.paged?.pagedMessages).toBeGreaterThan(90_000);
    expect(d.daemon.broker.queuedBytes).toBeLessThan(2 * 1024 * KiB);
    expect(await consumeAcking(conn, 'deep', 30_000, 500)).toEqual(labels('m', 0, 30_000));
    await settled(d, 'deep', 70_000);
    await d.stop();

    d = await startDurable(dataDir, budget);
    expect(d.daemon.store?.stats().restore).toMatchObject({ queues: 1, messages: 70_000 });
    expect(queue(d, 'deep').messageCount).toBe(70_000);
    expect(d.daemon.broker.queuedBytes).toBeLessThan(2 * 1024 * KiB);
    conn = await d.connect();
    ch = await conn.channel();
    // New messages queue behind the restored backlog.
    await ch.confirmSelect();
    await publishMany(ch, '', 'deep', 10, 'new');
    expect(await consumeAcking(conn, 'deep', 70_010, 500)).toEqual([...labels('m', 30_000, 100_000), ...labels('new', 0, 10)]);
    await settled(d, 'deep', 0);
    await d.stop();
    expect(storedMessageCount(dataDir)).toBe(0);
  }, 180_000);

  it('requeued messages go back to the head, ahead of paged ones, redelivered', async () => {
    const d = await startDurable(freshDataDir(), TINY);
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareQueue('rq', { durable: true });
    await ch.confirmSelect();
    await publishMany(ch, '', 'rq', 3000, 'r');
    const taker = await conn.channel();
    const got = new Collector<Message>();
    await taker.consume('rq', got.push, { prefetch: 5 });
    expect((await got.take(5)).map(label)).toEqual(labels('r', 0, 5));
    // Closing the channel returns its five unacked messages to the queue.
    await taker.close();
    await settled(d, 'rq', 3000);
    const back = new Collector<Message>();
    await ch.consume('rq', (m) => {
      back.push(m);
      m.ack();
    }, { prefetch: 100 });
    const all = await back.take(3000, 30_000);
    expect(all.map(label)).toEqual(labels('r', 0, 3000));
    expect(all.slice(0, 6).map((m) => m.redelivered)).toEqual([true, true, true, true, true, false]);
    await d.stop();
  });

  it('priorities: paged messages of each level come out highest first, each level in publish order', async () => {
    const d = await startDurable(freshDataDir(), TINY);
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareQueue('pq', { durable: true, arguments: { 'x-max-priority': 3 } });
    await ch.confirmSelect();
    // Priority 9 counts as the maximum, 3.
    await publishMany(ch, '', 'pq', 4000, 'p', { priority: (i) => (i % 5 === 4 ? 9 : i % 4) });
    expect(queue(d, 'pq').paged?.pagedMessages).toBeGreaterThan(2000);
    const order = await consumeAcking(conn, 'pq', 4000);
    const expected: string[] = [];
    const level = (i: number): number => (i % 5 === 4 ? 3 : i % 4);
    for (let p = 3; p >= 0; p--) for (let i = 0; i < 4000; i++) if (level(i) === p) expected.push(`p${i}`);
    expect(order).toEqual(expected);
    await d.stop();
  });

  it('TTL and dead-lettering: paged messages expire when their time is up and reach the dead-letter queue in order', async () => {
    const d = await startDurable(freshDataDir(), TINY);
    const conn = await d.connect();
    const ch = await conn.channel();
    await deadLetterQueue(ch, 'dlx', 'dead');
    await ch.declareQueue('short', { durable: true, arguments: { 'x-message-ttl': 300, 'x-dead-letter-exchange': 'dlx' } });
    await ch.confirmSelect();
    await publishMany(ch, '', 'short', 2000, 't');
    await settled(d, 'short', 0);
    await settled(d, 'dead', 2000);
    const first = await ch.get('dead', { noAck: true });
    expect([first === null ? null : label(first), (first?.properties.headers?.['x-death'] as { reason: string }[] | undefined)?.[0]?.reason]).toEqual(['t0', 'expired']);
    expect(await consumeAcking(conn, 'dead', 1999)).toEqual(labels('t', 1, 2000));
    await d.stop();
  });

  it('max-length drop-head dead-letters the oldest, paged or not; reject-publish counts paged messages', async () => {
    const d = await startDurable(freshDataDir(), TINY);
    const conn = await d.connect();
    const ch = await conn.channel();
    await deadLetterQueue(ch, 'over', 'dropped');
    await ch.declareQueue('capped', { durable: true, arguments: { 'x-max-length': 1000, 'x-dead-letter-exchange': 'over' } });
    await ch.confirmSelect();
    await publishMany(ch, '', 'capped', 3000, 'c');
    await settled(d, 'capped', 1000);
    await settled(d, 'dropped', 2000);
    expect(await consumeAcking(conn, 'capped', 1000)).toEqual(labels('c', 2000, 3000));
    const deaths = await consumeAcking(conn, 'dropped', 2000);
    expect(deaths).toEqual(labels('c', 0, 2000));

    await ch.declareQueue('full', { durable: true, arguments: { 'x-max-length': 1500, 'x-overflow': 'reject-publish' } });
    await publishMany(ch, '', 'full', 1500, 'f');
    expect(queue(d, 'full').paged?.pagedMessages).toBeGreaterThan(500);
    const refused = await ch.publish('', 'full', 'one too many', { persistent: true }).then(
      () => 'confirmed',
      (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
    );
    expect(refused).toMatchObject({ code: 'ERR_NACKED' });
    await d.stop();
  });

  it('nack without requeue dead-letters, get reads paged messages in order, purge and delete drop what is only on disk', async () => {
    const dataDir = freshDataDir();
    let d = await startDurable(dataDir, TINY);
    let conn = await d.connect();
    let ch = await conn.channel();
    await deadLetterQueue(ch, 'rej', 'rejected');
    await ch.declareQueue('work', { durable: true, arguments: { 'x-dead-letter-exchange': 'rej' } });
    await ch.declareQueue('purged', { durable: true });
    await ch.declareQueue('deleted', { durable: true });
    await ch.confirmSelect();
    await publishMany(ch, '', 'work', 2000, 'w');
    await publishMany(ch, '', 'purged', 2000, 'x');
    await publishMany(ch, '', 'deleted', 2000, 'y');
    // Every other message rejected.
    const seen = new Collector<Message>();
    const c = await ch.consume('work', (m) => {
      seen.push(m);
      if (Number(label(m).slice(1)) % 2 === 0) m.ack();
      else m.nack(false);
    }, { prefetch: 50 });
    expect((await seen.take(2000, 20_000)).map(label)).toEqual(labels('w', 0, 2000));
    await ch.cancel(c.tag);
    await settled(d, 'rejected', 1000);
    // basic.get walks the paged backlog in order (it may find the head empty for a moment
    // while the next page is read, so it waits for the count rather than for get-empty).
    const got: string[] = [];
    while (got.length < 1000) {
      const m = await ch.get('rejected', { noAck: true });
      if (m !== null) got.push(label(m));
    }
    expect(got).toEqual(labels('w', 0, 2000).filter((_, i) => i % 2 === 1));
    expect(await ch.purgeQueue('purged')).toBe(2000);
    expect(await ch.deleteQueue('deleted')).toBe(2000);
    await d.stop();
    expect(storedMessageCount(dataDir)).toBe(0);

    d = await startDurable(dataDir, TINY);
    conn = await d.connect();
    ch = await conn.channel();
    expect(await ch.declareQueue('purged', { durable: true, passive: true })).toEqual({ queue: 'purged', messageCount: 0, consumerCount: 0 });
    expect(d.daemon.broker.queues.has('deleted')).toBe(false);
    await d.stop();
  });

  it('a fanout to several durable queues stores the body once, with one reference per queue', async () => {
    const dataDir = freshDataDir();
    const d = await startDurable(dataDir, { ...TINY, syncWorkers: 1 });
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareExchange('fan', 'fanout', { durable: true });
    for (const name of ['f1', 'f2', 'f3']) {
      await ch.declareQueue(name, { durable: true });
      await ch.bindQueue(name, 'fan');
    }
    await ch.confirmSelect();
    await publishMany(ch, 'fan', '', 1000, 'b');
    await d.stop();
    const { bodies, refs, rows, inline } = fanoutStorage(dataDir);
    expect({ bodies, refs, rows, inline }).toEqual({ bodies: 1000, refs: 3000, rows: 3000, inline: 0 });

    const again = await startDurable(dataDir, TINY);
    const c2 = await again.connect();
    const ch2 = await c2.channel();
    for (const name of ['f1', 'f2', 'f3']) expect(await consumeAcking(c2, name, 1000)).toEqual(labels('b', 0, 1000));
    await again.stop();
    expect(fanoutStorage(dataDir)).toEqual({ bodies: 0, refs: 0, rows: 0, inline: 0 });
  });

  it('a fanout to durable queues in two queue files stores the body once per file', async () => {
    const dataDir = freshDataDir();
    // With two sync workers, c1 and c3 hash to queues-1.db, c2 and c4 to queues-0.db.
    const d = await startDurable(dataDir, { ...TINY, syncWorkers: 2 });
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareExchange('fan2', 'fanout', { durable: true });
    for (const name of ['c1', 'c2', 'c3', 'c4']) {
      await ch.declareQueue(name, { durable: true });
      await ch.bindQueue(name, 'fan2');
    }
    await ch.confirmSelect();
    await publishMany(ch, 'fan2', '', 500, 'x');
    await d.stop();
    // Each file commits on its own (one transaction per file), so a body cannot be shared across files.
    for (const file of ['queues-0.db', 'queues-1.db']) expect(fanoutStorage(dataDir, file)).toEqual({ bodies: 500, refs: 1000, rows: 1000, inline: 0 });

    const again = await startDurable(dataDir, { ...TINY, syncWorkers: 2 });
    const c2 = await again.connect();
    for (const name of ['c1', 'c2', 'c3', 'c4']) expect(await consumeAcking(c2, name, 500)).toEqual(labels('x', 0, 500));
    await again.stop();
    for (const file of ['queues-0.db', 'queues-1.db']) expect(fanoutStorage(dataDir, file)).toEqual({ bodies: 0, refs: 0, rows: 0, inline: 0 });
  });
});

/** What a queue file holds: shared bodies, their references, message rows, rows with their own bytes. */
function fanoutStorage(dataDir: string, file = 'queues-0.db'): { bodies: number; refs: number; rows: number; inline: number } {
  const db = new Database(join(dataDir, file), { readonly: true });
  try {
    return {
      bodies: db.prepare('SELECT count(*) FROM bodies').pluck().get() as number,
      refs: (db.prepare('SELECT sum(refs) FROM bodies').pluck().get() as number | null) ?? 0,
      rows: db.prepare('SELECT count(*) FROM messages').pluck().get() as number,
      inline: db.prepare('SELECT count(*) FROM messages WHERE length(content) > 0').pluck().get() as number,
    };
  } finally {
    db.close();
  }
}
