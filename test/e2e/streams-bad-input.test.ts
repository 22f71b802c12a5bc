import type amqplib from 'amqplib';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { startStreamDaemon, streamArgs, type StreamDaemon } from '../helpers/streams.js';
import { waitFor } from '../helpers/wait.js';

/**
 * What makes no sense on a stream gets RabbitMQ's error, word for word (probed against
 * RabbitMQ 3.10's stream queues; where 3.10 crashes with INTERNAL_ERROR, a bad
 * `x-stream-offset`, Skiff answers PRECONDITION_FAILED naming the argument). Channel errors
 * close the channel, connection errors (540) the connection, and the stream is unharmed.
 */

afterAll(() => removeDataDirs());

let d: StreamDaemon;
beforeEach(async () => {
  d = await startStreamDaemon(freshDataDir());
  const ch = await (await d.amqplib()).createConfirmChannel();
  await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
  ch.sendToQueue('s', Buffer.from('kept'));
  await ch.waitForConfirms();
});
afterEach(async () => {
  expect(d.stream('s').messageCount).toBe(1);
  await d.stop();
});

/** Runs `op` on a fresh connection; the error text (a channel error's, else the connection's). */
async function failure(op: (ch: amqplib.Channel) => Promise<unknown>): Promise<string> {
  const c = await d.amqplib();
  let connectionError = '';
  c.on('error', (e: Error) => (connectionError = e.message));
  const closed = new Promise<void>((r) => c.on('close', () => r()));
  const ch = await c.createChannel();
  ch.on('error', () => undefined);
  try {
    await op(ch);
  } catch (err) {
    const m = (err as Error).message;
    if (!m.includes('Channel ended') && !m.includes('Channel closed')) return m.replace(/^Operation failed: \w+; /, '');
    await closed;
    return connectionError.replace(/^Connection closed: /, '');
  }
  throw new Error('expected a failure');
}

const declare = (name: string, options: amqplib.Options.AssertQueue) => (ch: amqplib.Channel) => ch.assertQueue(name, options);

describe('declaring a stream', () => {
  it.each([
    ['non-durable', { durable: false, arguments: streamArgs() }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid property 'non-durable' for queue 'q' in vhost '/'\""],
    ['exclusive', { durable: true, exclusive: true, arguments: streamArgs() }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue 'q' in vhost '/'\""],
    ['auto-delete', { durable: true, autoDelete: true, arguments: streamArgs() }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid property 'auto-delete' for queue 'q' in vhost '/'\""],
    ['x-max-priority', { durable: true, arguments: streamArgs({ 'x-max-priority': 5 }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'q' in vhost '/' of queue type rabbit_stream_queue\""],
    ['x-message-ttl', { durable: true, arguments: streamArgs({ 'x-message-ttl': 5 }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'q' in vhost '/' of queue type rabbit_stream_queue\""],
    ['x-max-length', { durable: true, arguments: streamArgs({ 'x-max-length': 5 }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'q' in vhost '/' of queue type rabbit_stream_queue\""],
    ['x-dead-letter-exchange', { durable: true, arguments: streamArgs({ 'x-dead-letter-exchange': 'dlx' }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-dead-letter-exchange' for queue 'q' in vhost '/' of queue type rabbit_stream_queue\""],
    ['x-max-age not a duration', { durable: true, arguments: streamArgs({ 'x-max-age': '1x' }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-max-age' for queue 'q' in vhost '/': invalid_max_age\""],
    ['x-max-age a number', { durable: true, arguments: streamArgs({ 'x-max-age': 5 }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-max-age' for queue 'q' in vhost '/': {unacceptable_type,byte}\""],
    ['x-max-length-bytes a string', { durable: true, arguments: streamArgs({ 'x-max-length-bytes': 'abc' }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-max-length-bytes' for queue 'q' in vhost '/': expected integer, got longstr\""],
    ['x-max-length-bytes negative', { durable: true, arguments: streamArgs({ 'x-max-length-bytes': -1 }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-max-length-bytes' for queue 'q' in vhost '/': {value_negative,-1}\""],
    ['x-stream-max-segment-size-bytes a string', { durable: true, arguments: streamArgs({ 'x-stream-max-segment-size-bytes': 'x' }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-stream-max-segment-size-bytes' for queue 'q' in vhost '/': expected integer, got longstr\""],
    ['x-stream-max-segment-size-bytes zero', { durable: true, arguments: streamArgs({ 'x-stream-max-segment-size-bytes': 0 }) }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-stream-max-segment-size-bytes' for queue 'q' in vhost '/': expected an integer of at least 1, got 0\""],
    ['an unknown queue type', { durable: true, arguments: { 'x-queue-type': 'foo' } }, "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'q' in vhost '/': unsupported queue type 'foo'\""],
  ])('%s', async (_what, options, error) => {
    expect(await failure(declare('q', options))).toBe(error);
    expect(d.daemon.broker.queues.has('q')).toBe(false);
  });

  it('re-declared as a classic queue', async () => {
    expect(await failure(declare('s', { durable: true, arguments: { 'x-queue-type': 'classic' } }))).toBe(
      "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 's' in vhost '/': received 'classic' but current is 'stream'\"",
    );
  });
});

describe('operations a stream refuses', () => {
  it('basic.get (a connection error, 540)', async () => {
    expect(await failure((ch) => ch.get('s'))).toBe("540 (NOT-IMPLEMENTED) with message \"NOT_IMPLEMENTED - basic.get not supported by stream queues queue 's' in vhost '/'\"");
  });

  it('queue.purge', async () => {
    expect(await failure((ch) => ch.purgeQueue('s'))).toBe("540 (NOT-IMPLEMENTED) with message \"NOT_IMPLEMENTED - queue.purge not supported by stream queues queue 's' in vhost '/'\"");
  });

  it('consuming without a consumer prefetch, or with only a channel-wide one', async () => {
    const text = "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - consumer prefetch count is not set for 'queue 's' in vhost '/''\"";
    expect(await failure((ch) => ch.consume('s', () => undefined))).toBe(text);
    expect(await failure(async (ch) => (await ch.prefetch(10, true), ch.consume('s', () => undefined)))).toBe(text);
  });

  it('consuming with automatic acknowledgement', async () => {
    expect(await failure(async (ch) => (await ch.prefetch(10), ch.consume('s', () => undefined, { noAck: true })))).toBe(
      "540 (NOT-IMPLEMENTED) with message \"NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues queue 's' in vhost '/'\"",
    );
  });

  it.each([['bogus'], [''], ['-1'], [-1], [1.5], [true], ['10x']])('x-stream-offset %j', async (offset) => {
    const text = await failure(async (ch) => (await ch.prefetch(10), ch.consume('s', () => undefined, { arguments: { 'x-stream-offset': offset } })));
    expect(text).toMatch(/^406 \(PRECONDITION-FAILED\) with message "PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 's' in vhost '\/': expected/);
  });

  it('x-stream-offset names the value it refused', async () => {
    expect(await failure(async (ch) => (await ch.prefetch(10), ch.consume('s', () => undefined, { arguments: { 'x-stream-offset': 'bogus' } })))).toBe(
      "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 's' in vhost '/': expected 'first', 'last', 'next', an offset, a timestamp or an interval such as '1h', got 'bogus'\"",
    );
  });

  it('an empty x-stream-consumer-name', async () => {
    expect(await failure(async (ch) => (await ch.prefetch(10), ch.consume('s', () => undefined, { arguments: { 'x-stream-consumer-name': '' } })))).toBe(
      "406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - invalid arg 'x-stream-consumer-name' for queue 's' in vhost '/': expected a non-empty string of at most 255 bytes, got ''\"",
    );
  });

  it.each([
    ['nack with requeue', (ch: amqplib.Channel, m: amqplib.Message) => ch.nack(m, false, true)],
    ['reject with requeue', (ch: amqplib.Channel, m: amqplib.Message) => ch.reject(m, true)],
    ['nack multiple with requeue', (ch: amqplib.Channel, m: amqplib.Message) => ch.nack(m, true, true)],
  ])('%s', async (_what, settle) => {
    const text = await failure(async (ch) => {
      await ch.prefetch(10);
      await ch.consume('s', (m) => m !== null && settle(ch, m), { arguments: { 'x-stream-offset': 'first' } });
      await new Promise((_resolve, reject) => ch.on('close', () => reject(new Error('Channel closed'))));
    });
    expect(text).toBe("540 (NOT-IMPLEMENTED) with message \"NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream queues queue 's' in vhost '/'\"");
  });

  it('nack and reject without requeue settle the delivery, as an ack does', async () => {
    const c = await d.amqplib();
    const ch = await c.createChannel();
    await ch.prefetch(1);
    const seen: number[] = [];
    await ch.consume('s', (m) => {
      if (m === null) return;
      seen.push(Number(m.properties.headers?.['x-stream-offset']));
      ch.reject(m, false);
    }, { arguments: { 'x-stream-offset': 'first', 'x-stream-consumer-name': 'r' } });
    await waitFor(() => d.stream('s').storedOffsets.get('r') === 1, 'the reject to store the offset');
    expect(seen).toEqual([0]);
    await ch.close();
  });
});
