import { beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { Message, makeContent } from '../../src/broker/message.js';
import type { Queue } from '../../src/broker/queue.js';
import { MessageDelta, MessageShard, type QueueRef } from '../../src/store/message-shard.js';
import { PART_BYTES, PART_ROWS } from '../../src/store/row-columns.js';
import { INS, INS_STRIDE, type MessagesPart } from '../../src/store/wire.js';

beforeEach(() => {
  expect.hasAssertions();
});

const broker = new Broker();
const DURABLE = { durable: true, exclusive: false, autoDelete: false, arguments: {} };

function ref(name: string, qid: number): QueueRef {
  const queue: Queue = broker.declareQueue(name, DURABLE, false, null);
  return { queue, qid, shard: 0, dropped: false };
}

function msg(id: number, body = `m${id}`): Message {
  return new Message(id, 'x', 'rk', makeContent(null, Buffer.from(body)), true);
}

function ids(part: MessagesPart): number[] {
  const out: number[] = [];
  for (let i = 0; i < part.rows.length; i += INS_STRIDE) out.push(part.rows[i + INS.id] as number);
  return out;
}

function allParts(d: MessageDelta): MessagesPart[] {
  return [...d.parts(0, 1)].map((p) => p.part);
}

describe('MessageDelta', () => {
  it('a message published and removed before its snapshot costs nothing', () => {
    const d = new MessageDelta();
    const q = ref('d1', 1);
    const m = msg(1);
    const added = d.insert(1, q, m);
    expect(added).toBe(m.content.length + 64);
    expect(d.remove(2, q, m)).toBe(-added);
    expect({ count: d.count, bytes: d.bytes }).toEqual({ count: 0, bytes: 0 });
    const [part] = allParts(d);
    expect({ rows: part?.rows.length, upd: part?.upd.length, del: part?.del.length }).toEqual({ rows: 0, upd: 0, del: 0 });
  });

  it('a delivery of a buffered insert is carried by the insert; of a written message, by one update', () => {
    const d = new MessageDelta();
    const q = ref('d2', 2);
    const fresh = msg(1);
    const written = msg(2);
    d.insert(1, q, fresh);
    fresh.deliveryCount = 1;
    expect(d.update(2, q, fresh)).toBe(0);
    written.deliveryCount = 3;
    expect(d.update(3, q, written)).toBe(64);
    expect(d.update(4, q, written)).toBe(0);
    const [part] = allParts(d);
    expect(Array.from(part?.rows ?? []).slice(0, INS_STRIDE)[INS.deliveryCount]).toBe(1);
    expect(Array.from(part?.upd ?? [])).toEqual([2, 2, 0, 3]);
  });

  it('removing a written message replaces its pending update with one delete', () => {
    const d = new MessageDelta();
    const q = ref('d3', 3);
    const m = msg(7);
    d.update(1, q, m);
    d.remove(2, q, m);
    expect(d.count).toBe(1);
    const [part] = allParts(d);
    expect({ upd: Array.from(part?.upd ?? []), del: Array.from(part?.del ?? []) }).toEqual({ upd: [], del: [3, 7, 0, 6] }); // qid, id, priority, content bytes (for the queue's counts)
  });

  it('a deleted queue: its buffered changes are discarded, and its rows dropped by one op', () => {
    const d = new MessageDelta();
    const a = ref('d4a', 4);
    const b = ref('d4b', 5);
    const m1 = msg(1);
    d.insert(1, a, m1);
    d.insert(2, b, msg(2));
    d.update(3, a, msg(3));
    a.dropped = true;
    const before = d.bytes;
    expect(d.discard(a)).toBe(-(m1.content.length + 64 + 64));
    expect({ count: d.count, bytes: d.bytes }).toEqual({ count: 1, bytes: before - (m1.content.length + 128) });
    d.drop(4, a);
    const [part] = allParts(d);
    expect({ ids: part ? ids(part) : [], upd: part?.upd.length, drop: part?.drop }).toEqual({ ids: [2], upd: 0, drop: [4] });
  });

  it('a large backlog is cut into bounded parts: first and last marked, every row once, in order', () => {
    const d = new MessageDelta();
    const q = ref('d5', 6);
    const n = PART_ROWS * 2 + 10;
    for (let i = 1; i <= n; i++) d.insert(i, q, msg(i));
    const parts = allParts(d);
    expect(parts.map((p) => [p.first, p.last, p.rows.length / INS_STRIDE])).toEqual([
      [true, false, PART_ROWS],
      [false, false, PART_ROWS],
      [false, true, 10],
    ]);
    expect(parts.flatMap(ids)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('parts are also cut by bytes', () => {
    const d = new MessageDelta();
    const q = ref('d6', 7);
    const big = 'x'.repeat(PART_BYTES / 2);
    for (let i = 1; i <= 5; i++) d.insert(i, q, msg(i, big));
    const parts = allParts(d);
    expect(parts.map((p) => p.rows.length / INS_STRIDE)).toEqual([2, 2, 1]);
    expect(parts.every((p) => p.content.byteLength <= PART_BYTES + 64)).toBe(true);
  });
});

describe('MessageShard: a snapshot is a swap', () => {
  function shard(): { s: MessageShard; sent: MessagesPart[]; pending: { bytes: number } } {
    const sent: MessagesPart[] = [];
    const pending = { bytes: 0 };
    const s = new MessageShard(0, 0, 'queues-0.db', { pendingChanged: (b) => (pending.bytes += b) }, (_w, part) => sent.push(part));
    return { s, sent, pending };
  }

  it('changes recorded while a checkpoint is in flight go to the next one, and nothing is lost or doubled', async () => {
    const { s, sent, pending } = shard();
    const q = ref('s1', 10);
    const early = msg(1);
    const late = msg(2);
    pending.bytes += s.delta.insert(1, q, early);
    expect(s.start()).toBe(true);
    const batch = s.inflight?.batch ?? 0;
    // Recorded after the snapshot: the ack of the in-flight message and a new publish.
    pending.bytes += s.delta.remove(2, q, early);
    pending.bytes += s.delta.insert(3, q, late);
    await s.send(s.inflight?.delta as MessageDelta, batch);
    expect(sent.map(ids)).toEqual([[1]]);
    expect({ unwrittenFrom: s.unwrittenFrom, canStart: s.start() }).toEqual({ unwrittenFrom: 1, canStart: false });
    expect(s.committed(batch + 1)).toBeNull();
    expect(s.committed(batch)).not.toBeNull();
    expect(s.unwrittenFrom).toBe(2);
    expect(s.start()).toBe(true);
    await s.send(s.inflight?.delta as MessageDelta, s.inflight?.batch ?? 0);
    expect({ ids: ids(sent[1] as MessagesPart), del: Array.from(sent[1]?.del ?? []) }).toEqual({ ids: [2], del: [10, 1, 0, 6] });
    s.committed(s.inflight?.batch ?? 0);
    expect({ unwrittenFrom: s.unwrittenFrom, pending: pending.bytes }).toEqual({ unwrittenFrom: Infinity, pending: 0 });
  });

  it('a failed snapshot stays in flight and is resent whole under a new batch number', async () => {
    const { s, sent } = shard();
    const q = ref('s2', 11);
    s.delta.insert(1, q, msg(1));
    s.start();
    const first = s.inflight?.batch ?? 0;
    expect(s.failed(first)).toBe(true);
    expect(s.failures).toBe(1);
    const second = s.retry();
    expect(second).toBeGreaterThan(first);
    await s.send(s.inflight?.delta as MessageDelta, second);
    expect(s.committed(first)).toBeNull();
    expect(s.committed(second)).not.toBeNull();
    expect({ parts: sent.map(ids), failures: s.failures }).toEqual({ parts: [[1]], failures: 0 });
  });
});
