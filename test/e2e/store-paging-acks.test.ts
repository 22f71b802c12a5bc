import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Channel, Connection, Message } from '../../src/client/index.js';
import { Collector, waitFor } from '../helpers/wait.js';
import { freshDataDir, removeDataDirs, startDurable, storedMessageCount, type DurableDaemon } from '../helpers/durable.js';

/**
 * How acks of paged messages reach the store (issue 13): a consumer's acks in id order are
 * deleted by id range, never taking a message still held between them; page-ins read only
 * committed rows, also with one sync worker, whose connection writes checkpoints in parts.
 */

beforeEach(() => {
  expect.hasAssertions();
});
afterAll(removeDataDirs);

const KiB = 1024;
const TINY = { queueMemoryBudget: 64 * KiB, totalQueueMemoryBudget: 256 * KiB, checkpointIntervalMs: 20 };

async function publishMany(ch: Channel, exchange: string, key: string, n: number, prefix: string): Promise<void> {
  const pad = 'x'.repeat(100);
  let window: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    window.push(ch.publish(exchange, key, `${prefix}${i} ${pad}`, { persistent: true }));
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

function labels(prefix: string, from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(`${prefix}${i}`);
  return out;
}

/** Removals the store has committed so far (status). */
function removalsWritten(d: DurableDaemon): number {
  return d.daemon.store?.stats().written.removals ?? 0;
}

/** Labels of the messages stored for queue `name`, in id order, read from the stopped daemon's files. */
function storedLabels(dataDir: string, name: string, shards: number): string[] {
  const topo = new Database(join(dataDir, 'topology.db'), { readonly: true });
  const { qid, shard } = topo.prepare('SELECT qid, shard FROM queues WHERE name = ?').get(name) as { qid: number; shard: number };
  topo.close();
  expect(shard).toBeLessThan(shards);
  const db = new Database(join(dataDir, `queues-${shard}.db`), { readonly: true });
  try {
    const rows = db
      .prepare('SELECT CASE WHEN length(content) = 0 THEN (SELECT b.content FROM bodies b WHERE b.id = messages.id) ELSE content END FROM messages WHERE qid = ? ORDER BY id')
      .pluck()
      .all(qid) as Buffer[];
    // Content is the 4-byte props size, the props, then the body.
    return rows.map((c) => c.subarray(4 + c.readUInt32BE(0)).toString().split(' ')[0] as string);
  } finally {
    db.close();
  }
}

describe('paging: acks and page-ins against the store', () => {
  it('acks in id order are deleted by range; messages held between acked ones stay stored, in order', async () => {
    const dataDir = freshDataDir();
    let d = await startDurable(dataDir, TINY);
    let conn: Connection = await d.connect();
    const ch = await conn.channel();
    await ch.declareQueue('runs', { durable: true });
    await ch.confirmSelect();
    await publishMany(ch, '', 'runs', 3000, 'k');
    const taker = await conn.channel();
    const held: Message[] = [];
    const seen = new Collector<Message>();
    await taker.consume('runs', (m) => {
      seen.push(m);
      // Every 500th (from k7) stays unacked: the store must keep it between the acked runs.
      if (Number(label(m).slice(1)) % 500 === 7) held.push(m);
      else m.ack();
    }, { prefetch: 3000 });
    expect((await seen.take(3000, 30_000)).map(label)).toEqual(labels('k', 0, 3000));
    await waitFor(() => removalsWritten(d) >= 2994, 'the acks to be committed', 20_000);
    await d.stop();
    const kept = ['k7', 'k507', 'k1007', 'k1507', 'k2007', 'k2507'];
    expect(held.map(label)).toEqual(kept);
    expect(storedLabels(dataDir, 'runs', 2)).toEqual(kept);

    d = await startDurable(dataDir, TINY);
    conn = await d.connect();
    const again = await conn.channel();
    const back = new Collector<Message>();
    await again.consume('runs', (m) => {
      back.push(m);
      m.ack();
    });
    const got = await back.take(6);
    expect(got.map((m) => [label(m), m.redelivered])).toEqual(kept.map((k) => [k, true]));
    await d.stop();
    expect(storedMessageCount(dataDir)).toBe(0);
  });

  it('acks interleaved across two consumers and two queues of one file leave exactly the unacked rows', async () => {
    const dataDir = freshDataDir();
    const d = await startDurable(dataDir, { ...TINY, syncWorkers: 1 });
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareExchange('both', 'fanout', { durable: true });
    for (const q of ['left', 'right']) {
      await ch.declareQueue(q, { durable: true });
      await ch.bindQueue(q, 'both');
    }
    await ch.confirmSelect();
    await publishMany(ch, 'both', '', 2000, 'i');
    // Two consumers on 'left' take turns; 'right' acks only its first half.
    const left = new Collector<Message>();
    const right = new Collector<Message>();
    const a = await conn.channel();
    const b = await conn.channel();
    const c = await conn.channel();
    const onLeft = (m: Message): void => {
      left.push(m);
      m.ack();
    };
    await a.consume('left', onLeft, { prefetch: 50 });
    await b.consume('left', onLeft, { prefetch: 50 });
    await c.consume('right', (m) => {
      right.push(m);
      if (right.items.length <= 1000) m.ack();
    }, { prefetch: 2000 });
    expect((await left.take(2000, 30_000)).map(label).sort()).toEqual(labels('i', 0, 2000).sort());
    expect((await right.take(2000, 30_000)).map(label)).toEqual(labels('i', 0, 2000));
    // 2000 acks of 'left' and 1000 of 'right'.
    await waitFor(() => removalsWritten(d) >= 3000, 'the acks to be committed', 20_000);
    await d.stop();
    expect(storedLabels(dataDir, 'left', 1)).toEqual([]);
    expect(storedLabels(dataDir, 'right', 1)).toEqual(labels('i', 1000, 2000));
  });

  it('one sync worker: page-ins read only committed rows while a large checkpoint is written in parts', async () => {
    const dataDir = freshDataDir();
    // A second between checkpoints, so the unconfirmed burst below is one checkpoint of several parts.
    const d = await startDurable(dataDir, { ...TINY, syncWorkers: 1, checkpointIntervalMs: 1000 });
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareQueue('one', { durable: true });
    await ch.confirmSelect();
    await publishMany(ch, '', 'one', 10_000, 'a');
    expect(d.daemon.broker.queues.get('one')?.paged?.pagedMessages).toBeGreaterThan(9000);
    const got = new Collector<Message>();
    const taker = await conn.channel();
    await taker.consume('one', (m) => {
      got.push(m);
      m.ack();
    }, { prefetch: 100 });
    // 20,000 rows (three parts of at most 8,192) go out while the consumer pages 'a' in.
    const burst = await conn.channel();
    const pad = 'x'.repeat(100);
    for (let i = 0; i < 20_000; i++) void burst.publish('', 'one', `b${i} ${pad}`, { persistent: true });
    const all = await got.take(30_000, 60_000);
    expect(all.map(label)).toEqual([...labels('a', 0, 10_000), ...labels('b', 0, 20_000)]);
    expect(all.filter((m) => m.redelivered)).toEqual([]);
    await d.stop();
    expect(storedMessageCount(dataDir)).toBe(0);
  });
});
