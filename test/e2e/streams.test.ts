import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type amqplib from 'amqplib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/broker/clock.js';
import { Admin } from '../../src/client/index.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { readAmqplib, startStreamDaemon, streamArgs, type StreamDaemon } from '../helpers/streams.js';
import { waitFor } from '../helpers/wait.js';

afterAll(() => removeDataDirs());

let d: StreamDaemon | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

async function publish(ch: amqplib.ConfirmChannel, stream: string, bodies: string[]): Promise<void> {
  for (const b of bodies) ch.sendToQueue(stream, Buffer.from(b));
  await ch.waitForConfirms();
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const bodies = (from: number, to: number, prefix = 'm'): string[] => range(from, to).map((i) => `${prefix}${i}`);

/** Segment files of the stream with queue id `qid` (1 for the first queue declared). */
function segmentFiles(dataDir: string): string[] {
  const root = join(dataDir, 'streams');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((q) => readdirSync(join(root, q)).map((f) => `${q}/${f}`));
}

describe('stream offsets (amqplib)', () => {
  it('first, a numeric offset, last, next and the default (next), each delivery with its x-stream-offset header', async () => {
    d = await startStreamDaemon(freshDataDir());
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    const ok = await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
    expect(ok).toMatchObject({ queue: 's', messageCount: 0 });
    await publish(ch, 's', bodies(0, 10));
    expect(await readAmqplib(await c.createChannel(), 's', 10, { 'x-stream-offset': 'first' })).toEqual(range(0, 10).map((i) => ({ body: `m${i}`, offset: i })));
    expect((await readAmqplib(await c.createChannel(), 's', 3, { 'x-stream-offset': 7 })).map((m) => m.offset)).toEqual([7, 8, 9]);
    expect(await readAmqplib(await c.createChannel(), 's', 1, { 'x-stream-offset': 'last' })).toEqual([{ body: 'm9', offset: 9 }]);
    // An offset past the end waits at the end, as `next`.
    const past = readAmqplib(await c.createChannel(), 's', 1, { 'x-stream-offset': 1000 });
    const next = readAmqplib(await c.createChannel(), 's', 2, { 'x-stream-offset': 'next' });
    const byDefault = readAmqplib(await c.createChannel(), 's', 2, {});
    await waitFor(() => d!.stream('s').consumerCount === 3, 'three consumers');
    await publish(ch, 's', ['n10', 'n11']);
    expect(await past).toEqual([{ body: 'n10', offset: 10 }]);
    expect(await next).toEqual([{ body: 'n10', offset: 10 }, { body: 'n11', offset: 11 }]);
    expect(await byDefault).toEqual([{ body: 'n10', offset: 10 }, { body: 'n11', offset: 11 }]);
    // Consuming removed nothing.
    expect((await ch.checkQueue('s')).messageCount).toBe(12);
  });

  it('a timestamp (AMQP timestamp) and an interval (1h, 30m, 7D) start at the first message appended since', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    d = await startStreamDaemon(freshDataDir(), clock);
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
    await publish(ch, 's', bodies(0, 3, 'old'));
    clock.advance(8 * 86_400_000); // 8 days later
    await publish(ch, 's', bodies(3, 5, 'day'));
    clock.advance(2 * 3_600_000); // 2 hours later
    await publish(ch, 's', bodies(5, 7, 'hour'));
    clock.advance(10 * 60_000); // 10 minutes later
    const since = async (v: unknown, n: number): Promise<string[]> => (await readAmqplib(await c.createChannel(), 's', n, { 'x-stream-offset': v })).map((m) => m.body);
    expect(await since('30m', 2)).toEqual(['hour5', 'hour6']);
    expect(await since('1h', 2)).toEqual(['hour5', 'hour6']);
    expect(await since('7D', 4)).toEqual(['day3', 'day4', 'hour5', 'hour6']);
    expect(await since('1Y', 7)).toEqual([...bodies(0, 3, 'old'), 'day3', 'day4', 'hour5', 'hour6']);
    const dayMark = Math.floor((1_700_000_000_000 + 8 * 86_400_000) / 1000);
    expect(await since({ '!': 'timestamp', value: dayMark }, 4)).toEqual(['day3', 'day4', 'hour5', 'hour6']);
    expect(await since({ '!': 'timestamp', value: dayMark + 1 }, 2)).toEqual(['hour5', 'hour6']);
  });

  it('many consumers at different positions read the same stream side by side', async () => {
    d = await startStreamDaemon(freshDataDir());
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
    await publish(ch, 's', bodies(0, 100));
    const readers = [0, 25, 50, 75, 99].map(async (from) => (await readAmqplib(await c.createChannel(), 's', 150 - from, { 'x-stream-offset': from })).map((m) => m.offset));
    const tail = readAmqplib(await c.createChannel(), 's', 50, { 'x-stream-offset': 'next' });
    await waitFor(() => d!.stream('s').consumerCount === 6, 'six consumers');
    await publish(ch, 's', bodies(100, 150));
    const got = await Promise.all(readers);
    expect(got).toEqual([0, 25, 50, 75, 99].map((from) => range(from, 150)));
    expect((await tail).map((m) => m.offset)).toEqual(range(100, 150));
  });

  it('replays from disk past what memory keeps, in order, across many segments', async () => {
    const dataDir = freshDataDir();
    d = await startStreamDaemon(dataDir);
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs({ 'x-stream-max-segment-size-bytes': 1_000_000 }) });
    const body = Buffer.alloc(4000, 'x');
    for (let i = 0; i < 4000; i++) ch.sendToQueue('s', body, { headers: { i } });
    await ch.waitForConfirms();
    expect(d.stream('s').segments.length).toBeGreaterThan(10);
    expect(segmentFiles(dataDir).length).toBe(d.stream('s').segments.length);
    const got = await readAmqplib(await c.createChannel(), 's', 4000, { 'x-stream-offset': 'first' });
    expect(got.map((m) => m.offset)).toEqual(range(0, 4000));
    // From the middle of an old segment (the sparse index, then a skip to the offset).
    const mid = await readAmqplib(await c.createChannel(), 's', 10, { 'x-stream-offset': 1234 });
    expect(mid.map((m) => m.offset)).toEqual(range(1234, 1244));
  });
});

describe('stream retention', () => {
  it('x-max-length-bytes drops whole segments, oldest first, never the one being written; their files go', async () => {
    const dataDir = freshDataDir();
    d = await startStreamDaemon(dataDir);
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs({ 'x-max-length-bytes': 5000, 'x-stream-max-segment-size-bytes': 1000 }) });
    const body = 'x'.repeat(100);
    await publish(ch, 's', Array.from({ length: 200 }, () => body));
    const s = d.stream('s');
    expect(s.bytes).toBeLessThanOrEqual(5000 + 1000);
    expect(s.firstOffset).toBeGreaterThan(100);
    await waitFor(() => segmentFiles(dataDir).length === s.segments.length, 'the dropped segments\' files to go');
    const first = s.firstOffset;
    const got = await readAmqplib(await c.createChannel(), 's', 200 - first, { 'x-stream-offset': 'first' });
    expect(got.map((m) => m.offset)).toEqual(range(first, 200));
    // A consumer asking for a dropped offset starts at the first one kept.
    expect((await readAmqplib(await c.createChannel(), 's', 1, { 'x-stream-offset': 3 }))[0]?.offset).toBe(first);
  });

  it('x-max-age drops segments whose newest message is older, on the clock alone', async () => {
    const clock = new ManualClock();
    const dataDir = freshDataDir();
    d = await startStreamDaemon(dataDir, clock);
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs({ 'x-max-age': '10s', 'x-stream-max-segment-size-bytes': 2000 }) });
    await publish(ch, 's', Array.from({ length: 40 }, () => 'o'.repeat(100)));
    clock.advance(5000);
    await publish(ch, 's', Array.from({ length: 40 }, () => 'n'.repeat(100)));
    const s = d.stream('s');
    const before = s.segments.length;
    expect(before).toBeGreaterThan(3);
    expect(s.firstOffset).toBe(0);
    clock.advance(5001); // the old batch is now 10.001 s old, the new one 5 s
    await waitFor(() => s.firstOffset > 0, 'old segments to go');
    expect(s.segments.every((g) => g.lastTs >= clock.now() - 10_000)).toBe(true);
    expect(s.firstOffset).toBeLessThanOrEqual(40);
    await waitFor(() => segmentFiles(dataDir).length === s.segments.length, 'their files to go');
    clock.advance(10_000); // everything is old now, but the segment being written stays
    await waitFor(() => s.segments.length === 1, 'all but the last segment to go');
    expect(s.messageCount).toBeGreaterThan(0);
  });
});

describe('stream offset tracking and restarts', () => {
  it('a named consumer stores its offset as it acks and resumes there after a reconnect and a restart', async () => {
    const dataDir = freshDataDir();
    d = await startStreamDaemon(dataDir);
    let c = await d.amqplib();
    let ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
    await publish(ch, 's', bodies(0, 20));
    const named = { 'x-stream-consumer-name': 'billing' };
    expect((await readAmqplib(await c.createChannel(), 's', 5, { ...named, 'x-stream-offset': 'first' })).map((m) => m.offset)).toEqual(range(0, 5));
    await waitFor(() => d!.stream('s').storedOffsets.get('billing') === 5, 'the offset to be stored');
    // Reconnect: no x-stream-offset, so the stored one.
    await c.close();
    c = await d.amqplib();
    expect((await readAmqplib(await c.createChannel(), 's', 5, named)).map((m) => m.offset)).toEqual(range(5, 10));
    const admin = new Admin(await d.native());
    const row = (await admin.list('queues')).find((q) => q.name === 's');
    expect(row).toMatchObject({ type: 'stream', messagesReady: 20, stream: { firstOffset: 0, lastOffset: 19, segments: 1, consumerOffsets: { billing: 10 } } });
    await d.stop();
    d = await startStreamDaemon(dataDir);
    await waitFor(() => d!.stream('s').loaded, 'the stream to load');
    c = await d.amqplib();
    ch = await c.createConfirmChannel();
    await publish(ch, 's', ['after']);
    expect(await readAmqplib(await c.createChannel(), 's', 11, named)).toEqual([...range(10, 20).map((i) => ({ body: `m${i}`, offset: i })), { body: 'after', offset: 20 }]);
    // An explicit offset wins over the stored one.
    expect((await readAmqplib(await c.createChannel(), 's', 1, { ...named, 'x-stream-offset': 2 }))[0]?.offset).toBe(2);
  });

  it('acks after a named consumer is cancelled still move its stored offset; unacked ones are read again', async () => {
    d = await startStreamDaemon(freshDataDir());
    const c = await d.amqplib();
    const pub = await c.createConfirmChannel();
    await pub.assertQueue('s', { durable: true, arguments: streamArgs() });
    await publish(pub, 's', bodies(0, 20));
    const ch = await c.createChannel();
    await ch.prefetch(10);
    const got: amqplib.ConsumeMessage[] = [];
    const ten = new Promise<void>((r) => {
      void ch.consume('s', (m) => m !== null && got.push(m) === 10 && r(), { arguments: { 'x-stream-offset': 'first', 'x-stream-consumer-name': 'late' } }).then((ok) => ten.then(() => ch.cancel(ok.consumerTag)));
    });
    await ten;
    await waitFor(() => d!.stream('s').consumerCount === 0, 'the cancel');
    // Out of order: the stored offset waits for the gap at 0 to be acked.
    for (const m of got.slice(1, 6)) ch.ack(m);
    ch.ack(got[0] as amqplib.ConsumeMessage);
    await waitFor(() => d!.stream('s').storedOffsets.get('late') === 6, 'the offset past the acked ones');
    await ch.close();
    expect((await readAmqplib(await c.createChannel(), 's', 3, { 'x-stream-consumer-name': 'late' })).map((m) => m.offset)).toEqual([6, 7, 8]);
  });

  it('a restart restores the log lazily: publishes and consumers made while it loads wait, offsets go on', async () => {
    const dataDir = freshDataDir();
    d = await startStreamDaemon(dataDir);
    let c = await d.amqplib();
    let ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs({ 'x-stream-max-segment-size-bytes': 500 }) });
    await publish(ch, 's', bodies(0, 50));
    await d.stop();
    d = await startStreamDaemon(dataDir);
    c = await d.amqplib();
    ch = await c.createConfirmChannel();
    const all = readAmqplib(await c.createChannel(), 's', 51, { 'x-stream-offset': 'first' });
    await publish(ch, 's', ['new']);
    expect(await all).toEqual([...range(0, 50).map((i) => ({ body: `m${i}`, offset: i })), { body: 'new', offset: 50 }]);
    expect(d.stream('s').segments.length).toBeGreaterThan(3);
  });

  it('deleting a stream removes its files and its stored offsets', async () => {
    const dataDir = freshDataDir();
    d = await startStreamDaemon(dataDir);
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
    await publish(ch, 's', bodies(0, 5));
    await readAmqplib(await c.createChannel(), 's', 5, { 'x-stream-consumer-name': 'a', 'x-stream-offset': 'first' });
    expect(segmentFiles(dataDir)).toHaveLength(1);
    expect(await ch.deleteQueue('s')).toEqual({ messageCount: 5 });
    await waitFor(() => segmentFiles(dataDir).length === 0, 'the files to go');
    await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
    await publish(ch, 's', ['fresh']);
    // The new stream knows no offset for 'a': it starts at `next`, not at the old stream's 5.
    const got = readAmqplib(await c.createChannel(), 's', 1, { 'x-stream-consumer-name': 'a' });
    await waitFor(() => d!.stream('s').consumerCount === 1, 'the consumer');
    await publish(ch, 's', ['later']);
    expect(await got).toEqual([{ body: 'later', offset: 1 }]);
    expect(d.stream('s').storedOffsets.get('a')).toBe(2);
  });
});
