import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/client/index.js';
import { Method, ReplyCode } from '../../protocol/index.js';
import { startServer, useServer } from '../helpers/server.js';
import { Collector, deferred, waitFor, within } from '../helpers/wait.js';

const server = useServer();

describe('exclusive and auto-delete cleanup', () => {
  it('an exclusive queue is locked to its connection and deleted when that connection closes', async () => {
    const ts = server();
    const owner = await ts.connect();
    const och = await owner.channel();
    const { queue } = await och.declareQueue('', { exclusive: true });
    await och.bindQueue(queue, 'amq.fanout');
    const other = await (await ts.connect()).channel();
    await expect(other.declareQueue(queue, { passive: true })).rejects.toMatchObject({
      code: 'RESOURCE_LOCKED',
      message: `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${queue}' in vhost '/'`,
    });
    await owner.close();
    await waitFor(() => !ts.broker.queues.has(queue), 'the exclusive queue to go');
    const check = await (await ts.connect()).channel();
    await expect(check.declareQueue(queue, { passive: true })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `NOT_FOUND - no queue '${queue}' in vhost '/'`,
    });
  });

  it('an exclusive queue goes even when its connection drops without a close', async () => {
    const ts = server();
    const raw = await ts.raw();
    await raw.openChannel(1);
    raw.sendMethod(1, Method.QueueDeclare, ['mine', false, false, true]);
    await raw.expect(Method.QueueDeclareOk);
    expect(ts.broker.queues.has('mine')).toBe(true);
    raw.destroy();
    await waitFor(() => !ts.broker.queues.has('mine'), 'the exclusive queue to go');
  });

  it('an auto-delete queue goes when its last consumer cancels', async () => {
    const ts = server();
    const ch = await (await ts.connect()).channel();
    await ch.declareQueue('ad', { autoDelete: true });
    const c1 = await ch.consume('ad', () => undefined);
    const c2 = await ch.consume('ad', () => undefined);
    await c1.cancel();
    expect((await ch.declareQueue('ad', { passive: true, autoDelete: true })).consumerCount).toBe(1);
    await c2.cancel();
    await expect(ch.declareQueue('ad', { passive: true })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("an auto-delete queue goes when its last consumer's connection closes", async () => {
    const ts = server();
    const consumer = await ts.connect();
    const ch = await consumer.channel();
    await ch.declareQueue('ad', { autoDelete: true });
    await ch.consume('ad', () => undefined);
    await consumer.close();
    await waitFor(() => !ts.broker.queues.has('ad'), 'the auto-delete queue to go');
  });

  it('an auto-delete exchange goes when its last binding is removed', async () => {
    const ch = await (await server().connect()).channel();
    await ch.declareExchange('adx', 'fanout', { autoDelete: true });
    await ch.declareQueue('q1');
    await ch.declareQueue('q2');
    await ch.bindQueue('q1', 'adx');
    await ch.bindQueue('q2', 'adx');
    await ch.unbindQueue('q1', 'adx');
    await ch.declareExchange('adx', 'fanout', { passive: true });
    await ch.deleteQueue('q2');
    await expect(ch.declareExchange('adx', 'fanout', { passive: true })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: "NOT_FOUND - no exchange 'adx' in vhost '/'",
    });
  });

  it("deleting a queue cancels its consumers: the server's basic.cancel reaches the client", async () => {
    const ts = server();
    const ch = await (await ts.connect()).channel();
    await ch.declareQueue('q');
    const consumer = await ts.raw();
    await consumer.openChannel(1);
    consumer.sendMethod(1, Method.BasicConsume, ['q', 'tag-1']);
    await consumer.expect(Method.BasicConsumeOk);
    await ch.deleteQueue('q');
    expect((await consumer.expect(Method.BasicCancel, 1)).args).toEqual(['tag-1']);
  });
});

describe('heartbeats (SPEC §3.1.3)', () => {
  it('a peer that stops sending is dropped; a live client on the same server is not', async () => {
    const ts = await startServer({ heartbeatMs: 200 });
    try {
      const live = await ts.connect({ heartbeatMs: 200 });
      expect(live.heartbeatMs).toBe(200);
      const silent = await ts.raw({ heartbeatMs: 200 });
      await within(silent.ended, 'the server to drop the silent peer', 10_000);
      // The server sent heartbeats while it waited, and let go of the session.
      expect(silent.heartbeats).toBeGreaterThan(0);
      await waitFor(() => ts.broker.sessions.size === 1, 'the silent session to go');
      expect(live.isOpen).toBe(true);
      const ch = await live.channel();
      await ch.declareQueue('still-alive');
    } finally {
      await ts.stop();
    }
  });

  it('the lower non-zero heartbeat wins, and 0 turns heartbeats off', async () => {
    const ts = await startServer({ heartbeatMs: 5000 });
    try {
      expect((await ts.connect({ heartbeatMs: 1000 })).heartbeatMs).toBe(1000);
      expect((await ts.connect({ heartbeatMs: 9000 })).heartbeatMs).toBe(5000);
      expect((await ts.connect({ heartbeatMs: 0 })).heartbeatMs).toBe(0);
    } finally {
      await ts.stop();
    }
  });

  it('a publisher blocked by the memory alarm is not dropped for silence while the server is not reading', async () => {
    const { Broker } = await import('../../src/broker/broker.js');
    const ts = await startServer({ heartbeatMs: 100, broker: new Broker({ memoryHighWatermark: 32 * 1024 }) });
    try {
      const pub = await ts.connect({ heartbeatMs: 100 });
      const ch = await pub.channel();
      await ch.declareQueue('q');
      const blocked = deferred();
      pub.on('blocked', () => blocked.resolve());
      const unblocked = deferred();
      pub.on('unblocked', () => unblocked.resolve());
      await ch.publish('', 'q', Buffer.alloc(64 * 1024));
      await within(blocked.promise, 'connection.blocked');
      // Several heartbeat periods pass while the server is not reading this socket: a live
      // observer connection sees its own heartbeats come and go meanwhile.
      const observer = await ts.raw({ heartbeatMs: 100 });
      observer.answerHeartbeats = true;
      await waitFor(() => observer.heartbeats >= 6, 'six server heartbeats (600 ms)', 10_000);
      observer.destroy();
      expect(pub.isOpen).toBe(true);
      const other = await (await ts.connect()).channel();
      await other.purgeQueue('q');
      await within(unblocked.promise, 'connection.unblocked');
      await ch.declareQueue('q', { passive: true });
    } finally {
      await ts.stop();
    }
  });
});

describe('a server shutdown', () => {
  it('closes connections with CONNECTION_FORCED after requeueing their unacked messages', async () => {
    const ts = await startServer();
    const conn = await ts.connect({ reconnect: false });
    const ch = await conn.channel();
    await ch.declareQueue('q');
    await ch.confirmSelect();
    await ch.publish('', 'q', 'held');
    const got = new Collector<Message>();
    await ch.consume('q', got.push);
    await got.take(1);
    await ts.server.close('maintenance');
    await expect(conn.closed).resolves.toMatchObject({
      code: 'CONNECTION_FORCED',
      replyCode: ReplyCode.CONNECTION_FORCED,
      message: 'CONNECTION_FORCED - maintenance',
    });
    expect(ts.broker.queues.get('q')?.messageCount).toBe(1);
  });
});
