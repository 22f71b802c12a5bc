import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { readAmqplib, startStreamDaemon, streamArgs, type StreamDaemon } from '../helpers/streams.js';

afterAll(() => removeDataDirs());

let d: StreamDaemon | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

describe('streams over AMQP 0-9-1', () => {
  it('appends, and consumers read from first / an offset with x-stream-offset headers', async () => {
    d = await startStreamDaemon(freshDataDir());
    const c = await d.amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
    for (let i = 0; i < 10; i++) ch.sendToQueue('s', Buffer.from(`m${i}`));
    await ch.waitForConfirms();
    const all = await readAmqplib(await c.createChannel(), 's', 10, { 'x-stream-offset': 'first' });
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => ({ body: `m${i}`, offset: i })));
    const from7 = await readAmqplib(await c.createChannel(), 's', 3, { 'x-stream-offset': 7 });
    expect(from7.map((m) => m.offset)).toEqual([7, 8, 9]);
  });
});
