import { describe, expect, it } from 'vitest';
import type { Channel, Message } from '../../src/client/index.js';
import { NackError, ServerError } from '../../src/client/index.js';
import { drain, usePolicyServer } from '../helpers/clock-server.js';
import { Collector, within } from '../helpers/wait.js';

const server = usePolicyServer();

async function deaths(ch: Channel, queue: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (let m = await ch.get(queue, { noAck: true }); m !== null; m = await ch.get(queue, { noAck: true })) {
    const d = (m.properties.headers?.['x-death'] as { reason: string }[])[0];
    out.push([m.text(), d?.reason ?? '']);
  }
  return out;
}

describe('max length (SPEC §3.4.1)', () => {
  it('drop-head: the oldest ready messages make room, dead-lettered as maxlen', async () => {
    const ch = await server().channel();
    await ch.declareQueue('dead');
    await ch.declareQueue('q', { arguments: { 'x-max-length': 3, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dead' } });
    for (let i = 1; i <= 5; i++) await ch.publish('', 'q', `m${i}`);
    expect(await drain(ch, 'q')).toEqual(['m3', 'm4', 'm5']);
    expect(await deaths(ch, 'dead')).toEqual([
      ['m1', 'maxlen'],
      ['m2', 'maxlen'],
    ]);
  });

  it('counts ready messages only: unacked ones do not take room', async () => {
    const ch = await server().channel();
    await ch.declareQueue('q', { arguments: { 'x-max-length': 1 } });
    await ch.publish('', 'q', 'a');
    const a = await ch.get('q');
    await ch.publish('', 'q', 'b');
    expect((await ch.declareQueue('q', { passive: true })).messageCount).toBe(1);
    a?.ack();
    expect(await drain(ch, 'q')).toEqual(['b']);
  });

  it('x-max-length-bytes counts content bytes (properties + body)', async () => {
    const ch = await server().channel();
    // Each message below is a 10-byte body with no properties: two fit in 25 bytes, three do not.
    await ch.declareQueue('q', { arguments: { 'x-max-length-bytes': 25 } });
    for (const b of ['0123456789', 'abcdefghij', 'ABCDEFGHIJ']) await ch.publish('', 'q', b);
    expect(await drain(ch, 'q')).toEqual(['abcdefghij', 'ABCDEFGHIJ']);
  });

  it('x-max-length-bytes and readyBytes count properties and body only: four 4-byte bodies are 16 bytes', async () => {
    const ch = await server().channel();
    await ch.declareQueue('q', { arguments: { 'x-max-length-bytes': 16 } });
    for (const b of ['aaaa', 'bbbb', 'cccc', 'dddd']) await ch.publish('', 'q', b);
    // What `skiff list queues` shows as bytes (admin `readyBytes`).
    expect(server().broker.queues.get('q')?.readyBytes).toBe(16);
    await ch.publish('', 'q', 'eeee');
    expect(await drain(ch, 'q')).toEqual(['bbbb', 'cccc', 'dddd', 'eeee']);
  });

  it('reject-publish: a full queue refuses, and a confirming publisher gets a nack', async () => {
    const ch = await server().channel();
    await ch.declareExchange('f', 'fanout');
    await ch.declareQueue('small', { arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
    await ch.declareQueue('big');
    await ch.bindQueue('small', 'f');
    await ch.bindQueue('big', 'f');
    await ch.publish('f', '', 'm1');
    await ch.publish('f', '', 'm2');
    await expect(ch.publish('f', '', 'm3')).rejects.toBeInstanceOf(NackError);
    // The nack is the publisher's signal; the queue that had room still took its copy.
    expect(await drain(ch, 'small')).toEqual(['m1', 'm2']);
    expect(await drain(ch, 'big')).toEqual(['m1', 'm2', 'm3']);
    await ch.publish('f', '', 'm4'); // room again
    expect(await drain(ch, 'small')).toEqual(['m4']);
  });

  it('reject-publish-dlx: the refused message is also dead-lettered (maxlen)', async () => {
    const ch = await server().channel();
    await ch.declareQueue('dead');
    await ch.declareQueue('q', {
      arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dead' },
    });
    await ch.publish('', 'q', 'kept');
    await expect(ch.publish('', 'q', 'refused')).rejects.toBeInstanceOf(NackError);
    expect(await drain(ch, 'q')).toEqual(['kept']);
    expect(await deaths(ch, 'dead')).toEqual([['refused', 'maxlen']]);
  });
});

describe('priority queues (SPEC §3.4.4)', () => {
  it('delivers highest priority first, FIFO within a level; above the maximum counts as it', async () => {
    const ch = await server().channel();
    await ch.declareQueue('p', { arguments: { 'x-max-priority': 10 } });
    await ch.declareQueue('plain');
    const sent: [string, number][] = [
      ['low-1', 0],
      ['mid-1', 5],
      ['top', 9],
      ['mid-2', 5],
      ['capped', 200],
      ['low-2', 0],
      ['one', 1],
    ];
    for (const [body, priority] of sent) {
      await ch.publish('', 'p', body, { priority });
      await ch.publish('', 'plain', body, { priority });
    }
    expect(await drain(ch, 'p')).toEqual(['capped', 'top', 'mid-1', 'mid-2', 'one', 'low-1', 'low-2']);
    expect(await drain(ch, 'plain')).toEqual(sent.map(([b]) => b));
  });

  it('a requeued message goes back to the head of its level', async () => {
    const ch = await server().channel();
    await ch.declareQueue('p', { arguments: { 'x-max-priority': 3 } });
    await ch.publish('', 'p', 'hi-1', { priority: 3 });
    await ch.publish('', 'p', 'hi-2', { priority: 3 });
    await ch.publish('', 'p', 'lo', { priority: 1 });
    (await ch.get('p'))?.nack(true);
    expect(await drain(ch, 'p')).toEqual(['hi-1', 'hi-2', 'lo']);
  });
});

describe('consumer timeout (x-consumer-timeout, SPEC §3.4.1)', () => {
  it('closes the channel of a delivery not acked in time; its messages go back to the queue', async () => {
    const { clock } = server();
    const setup = await server().channel();
    await setup.declareQueue('jobs', { arguments: { 'x-consumer-timeout': 5000 } });
    await setup.publish('', 'jobs', 'slow-job');
    const ch = await server().channel({ confirm: false });
    const got = new Collector<Message>();
    await ch.consume('jobs', got.push);
    await got.take(1);
    clock.advance(5000);
    expect(ch.isOpen).toBe(true);
    clock.advance(1);
    const err = await within(ch.closed, 'the channel to be closed');
    expect(err).toBeInstanceOf(ServerError);
    expect({ code: (err as ServerError).replyCode, message: err?.message }).toEqual({
      code: 406,
      message: 'PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 5000 ms',
    });
    const again = await setup.get('jobs', { noAck: true });
    expect({ body: again?.text(), redelivered: again?.redelivered }).toEqual({ body: 'slow-job', redelivered: true });
  });

  it('acking in time keeps the channel open; get deliveries are timed too', async () => {
    const { clock } = server();
    const ch = await server().channel();
    await ch.declareQueue('jobs', { arguments: { 'x-consumer-timeout': 1000 } });
    await ch.publish('', 'jobs', 'a');
    await ch.publish('', 'jobs', 'b');
    const a = await ch.get('jobs');
    clock.advance(900);
    a?.ack();
    await ch.declareQueue('jobs', { passive: true });
    clock.advance(900);
    expect(ch.isOpen).toBe(true);
    await ch.get('jobs');
    clock.advance(1001);
    const err = await within(ch.closed, 'the channel to be closed');
    expect(err?.message).toBe('PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 1000 ms');
  });
});
