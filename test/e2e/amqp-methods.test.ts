import amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import { Method } from '../../protocol/amqp/spec.generated.js';
import { HEARTBEAT_BYTES } from '../helpers/amqp.js';
import { next, useAmqpDaemon } from '../helpers/amqp-daemon.js';
import { RawAmqp } from '../helpers/amqp-raw.js';
import { Collector, waitFor } from '../helpers/wait.js';

/**
 * Every AMQP 0-9-1 method the listener implements, driven by stock clients (amqplib and
 * @cloudamqp/amqp-client) against the real daemon over TCP, with RabbitMQ's replies and texts.
 */

interface AmqplibRpc {
  _rpc(method: number, fields: object, expect: number, cb: (err: unknown, ok: unknown) => void): void;
}

const closedWith = (code: number, name: string, text: string): RegExp =>
  new RegExp(`${code} \\(${name}\\) with message "${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`);

describe('AMQP connection', () => {
  const d = useAmqpDaemon();

  it('advertises exactly what it implements in connection.start', async () => {
    const c = await d().amqplib();
    const props = (c.connection as unknown as { serverProperties: Record<string, unknown> }).serverProperties;
    expect(props['product']).toBe('Skiff');
    expect(props['capabilities']).toEqual({
      publisher_confirms: true,
      exchange_exchange_bindings: true,
      'basic.nack': true,
      consumer_cancel_notify: true,
      'connection.blocked': true,
      authentication_failure_close: true,
      per_consumer_qos: true,
      direct_reply_to: false,
      consumer_priorities: false,
    });
  });

  it('logs in with PLAIN and with AMQPLAIN, and refuses a wrong password as RabbitMQ words it', async () => {
    await d().amqplib();
    await d().amqplib({ protocol: 'amqp', hostname: '127.0.0.1', port: d().amqpPort, username: 'guest', password: 'guest', credentials: amqplib.credentials.amqplain('guest', 'guest') } as never);
    await expect(amqplib.connect(`amqp://guest:nope@127.0.0.1:${d().amqpPort}`)).rejects.toThrow(
      'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.',
    );
  });

  it('is listed beside native connections in the shared registry, and an operator close reaches it', async () => {
    const c = await d().amqplib(`${d().amqpUrl}?frameMax=8192`);
    await (await d().native()).channel();
    const rows = [...d().daemon.registry.list()].map((r) => [r.protocol, r.user, r.frameMax]);
    expect(rows).toEqual([
      ['AMQP 0-9-1', 'guest', 8192],
      ['Skiff 1.0', 'guest', 1048576],
    ]);
    expect(d().daemon.registry.listeners().map((l) => l.protocol)).toEqual(['skiff', 'amqp']);
    const closed = next<Error>((cb) => c.once('close', cb));
    d().daemon.registry.get([...d().daemon.registry.list()][0]?.id ?? '')?.close(320, 'CONNECTION_FORCED - closed by an operator');
    expect((await closed).message).toMatch(/CONNECTION_FORCED - closed by an operator/);
  });

  it('refuses a vhost other than / with NOT_ALLOWED', async () => {
    await expect(d().cloudamqp(`${d().amqpUrl}/other`)).rejects.toThrow('NOT_ALLOWED - vhost other not found');
  });

  it('negotiates frame_max and channel_max, and splits bodies over frame_max', async () => {
    const c = await d().amqplib(`${d().amqpUrl}?frameMax=4096&channelMax=7`);
    const ch = await c.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    const body = Buffer.alloc(100_000, 7);
    ch.sendToQueue(q.queue, body);
    await waitFor(() => d().broker.queues.get(q.queue)?.messageCount === 1, 'the message to arrive');
    const m = await ch.get(q.queue, { noAck: true });
    expect(m !== false && m.content.equals(body)).toBe(true);
  });
});

describe('AMQP exchange and queue methods', () => {
  const d = useAmqpDaemon();

  it('exchange.declare (durable, auto-delete, internal, arguments, passive), bind, unbind, delete', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    await ch.assertExchange('x.src', 'topic', { durable: true });
    await ch.assertExchange('x.dst', 'fanout', { durable: false, autoDelete: true });
    await ch.assertExchange('x.int', 'direct', { internal: true });
    await ch.assertExchange('x.ae', 'fanout', { alternateExchange: 'x.dst' });
    await ch.checkExchange('x.src');
    await ch.bindExchange('x.dst', 'x.src', 'a.#');
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, 'x.dst', '');
    ch.publish('x.src', 'a.b', Buffer.from('via e2e'));
    ch.publish('x.ae', 'nowhere', Buffer.from('via alternate'));
    await waitFor(() => d().broker.queues.get(q.queue)?.messageCount === 2, 'both messages to arrive');
    await ch.unbindExchange('x.dst', 'x.src', 'a.#');
    expect(d().broker.exchanges.get('x.src')?.bindingCount).toBe(0);
    await ch.deleteExchange('x.src');
    expect(d().broker.exchanges.has('x.src')).toBe(false);
    await ch.deleteExchange('x.src'); // idempotent
    const bad = await c.createChannel();
    bad.on('error', () => undefined);
    await expect(bad.checkExchange('x.none')).rejects.toThrow(closedWith(404, 'NOT-FOUND', "NOT_FOUND - no exchange 'x.none' in vhost '/'"));
    const bad2 = await c.createChannel();
    bad2.on('error', () => undefined);
    await expect(bad2.assertExchange('x.src2', 'fanout').then(() => bad2.assertExchange('x.src2', 'direct'))).rejects.toThrow(
      /406 \(PRECONDITION-FAILED\) with message "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x.src2' in vhost '\/'/,
    );
    const bad3 = await c.createChannel();
    bad3.on('error', () => undefined);
    bad3.publish('x.int', '', Buffer.from('no'));
    await expect(next<Error>((cb) => bad3.once('error', cb))).resolves.toMatchObject({ message: expect.stringMatching(/ACCESS_REFUSED - cannot publish to internal exchange 'x.int'/) });
  });

  it('queue.declare: server-named, passive, durable; bind, unbind, purge, delete with if-unused and if-empty', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const named = await ch.assertQueue('');
    expect(named.queue).toMatch(/^sk\.gen-/);
    const q = await ch.assertQueue('q.methods', { durable: true });
    expect(q).toEqual({ queue: 'q.methods', messageCount: 0, consumerCount: 0 });
    await ch.bindQueue('q.methods', 'amq.direct', 'k');
    ch.publish('amq.direct', 'k', Buffer.from('1'));
    ch.publish('amq.direct', 'k', Buffer.from('2'));
    await waitFor(() => d().broker.queues.get('q.methods')?.messageCount === 2, 'two messages');
    expect(await ch.checkQueue('q.methods')).toEqual({ queue: 'q.methods', messageCount: 2, consumerCount: 0 });
    await ch.unbindQueue('q.methods', 'amq.direct', 'k');
    const e1 = await c.createChannel();
    e1.on('error', () => undefined);
    await expect(e1.deleteQueue('q.methods', { ifEmpty: true })).rejects.toThrow(closedWith(406, 'PRECONDITION-FAILED', "PRECONDITION_FAILED - queue 'q.methods' in vhost '/' is not empty"));
    expect(await ch.purgeQueue('q.methods')).toEqual({ messageCount: 2 });
    await ch.consume('q.methods', () => undefined, { consumerTag: 'busy' });
    const e2 = await c.createChannel();
    e2.on('error', () => undefined);
    await expect(e2.deleteQueue('q.methods', { ifUnused: true })).rejects.toThrow(closedWith(406, 'PRECONDITION-FAILED', "PRECONDITION_FAILED - queue 'q.methods' in vhost '/' in use"));
    await ch.cancel('busy');
    expect(await ch.deleteQueue('q.methods')).toEqual({ messageCount: 0 });
    await ch.deleteQueue(named.queue);
    const e3 = await c.createChannel();
    e3.on('error', () => undefined);
    await expect(e3.checkQueue('q.none')).rejects.toThrow(closedWith(404, 'NOT-FOUND', "NOT_FOUND - no queue 'q.none' in vhost '/'"));
  });

  it('x-queue-type classic is accepted; other types are PRECONDITION_FAILED naming the argument', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    await ch.assertQueue('q.classic', { arguments: { 'x-queue-type': 'classic', 'x-max-length': 5 } });
    ch.on('error', () => undefined);
    await expect(ch.assertQueue('q.quorum', { arguments: { 'x-queue-type': 'quorum' } })).rejects.toThrow(
      closedWith(406, 'PRECONDITION-FAILED', "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'q.quorum' in vhost '/': unsupported queue type 'quorum'"),
    );
    const ch2 = await c.createChannel();
    await ch2.deleteQueue('q.classic');
  });

  it('an exclusive queue is RESOURCE_LOCKED to other connections and goes with its owner', async () => {
    const owner = await d().amqplib();
    const ch = await owner.createChannel();
    await ch.assertQueue('q.excl', { exclusive: true });
    const other = await d().amqplib();
    const och = await other.createChannel();
    och.on('error', () => undefined);
    await expect(och.consume('q.excl', () => undefined)).rejects.toThrow(/405 \(RESOURCE-LOCKED\) with message "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'q.excl' in vhost '\/'/);
    await owner.close();
    await waitFor(() => !d().broker.queues.has('q.excl'), 'the exclusive queue to go');
  });
});

describe('AMQP basic methods', () => {
  const d = useAmqpDaemon();

  it('consume, ack, nack and reject (with multiple), redelivery after nack, cancel', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 6; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    const got = new Collector<amqplib.ConsumeMessage>();
    const { consumerTag } = await ch.consume(queue, (m) => m !== null && got.push(m));
    const first = await got.take(6);
    expect(first.map((m) => m.content.toString())).toEqual(['0', '1', '2', '3', '4', '5']);
    ch.ack(first[1] as amqplib.Message, true); // 0, 1
    ch.nack(first[3] as amqplib.Message, true, true); // 2, 3 back
    ch.reject(first[4] as amqplib.Message, false); // 4 dropped
    ch.ack(first[5] as amqplib.Message);
    const again = (await got.take(8)).slice(6);
    expect(again.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([
      ['2', true],
      ['3', true],
    ]);
    ch.ackAll();
    await ch.cancel(consumerTag);
    await waitFor(() => d().broker.stats().messagesUnacked === 0 && d().broker.queues.get(queue)?.messageCount === 0, 'all settled');
  });

  it('get, get-empty, no-ack; an unknown delivery tag is PRECONDITION_FAILED and closes only that channel', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    expect(await ch.get(queue)).toBe(false);
    ch.sendToQueue(queue, Buffer.from('one'), { contentType: 'text/plain' });
    ch.sendToQueue(queue, Buffer.from('two'));
    await waitFor(() => d().broker.queues.get(queue)?.messageCount === 2, 'two messages');
    const m1 = await ch.get(queue, { noAck: true });
    expect(m1 !== false && [m1.content.toString(), m1.fields.messageCount, m1.properties.contentType]).toEqual(['one', 1, 'text/plain']);
    const m2 = await ch.get(queue);
    expect(m2 !== false && m2.content.toString()).toBe('two');
    ch.ack(m2 as amqplib.Message);
    const bad = await c.createChannel();
    const err = next<Error>((cb) => bad.once('error', cb));
    bad.ack({ fields: { deliveryTag: 99 } } as amqplib.Message);
    expect((await err).message).toMatch(closedWith(406, 'PRECONDITION-FAILED', 'PRECONDITION_FAILED - unknown delivery tag 99'));
    expect(await ch.checkQueue(queue)).toMatchObject({ messageCount: 0 }); // the other channel carries on
  });

  it('qos: per consumer without global, per channel with global (RabbitMQ)', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const a = await ch.assertQueue('', { exclusive: true });
    const b = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 10; i++) {
      ch.sendToQueue(a.queue, Buffer.from('a'));
      ch.sendToQueue(b.queue, Buffer.from('b'));
    }
    await ch.prefetch(2, false);
    const got = new Collector<amqplib.ConsumeMessage>();
    await ch.consume(a.queue, (m) => m !== null && got.push(m));
    await ch.consume(b.queue, (m) => m !== null && got.push(m));
    await got.take(4);
    await waitFor(() => d().broker.stats().messagesUnacked === 4, '2 per consumer');
    const ch2 = await c.createChannel();
    const q2 = await ch2.assertQueue('', { exclusive: true });
    const q3 = await ch2.assertQueue('', { exclusive: true });
    for (let i = 0; i < 10; i++) {
      ch2.sendToQueue(q2.queue, Buffer.from('c'));
      ch2.sendToQueue(q3.queue, Buffer.from('d'));
    }
    await ch2.prefetch(3, true);
    const got2 = new Collector<amqplib.ConsumeMessage>();
    await ch2.consume(q2.queue, (m) => m !== null && got2.push(m));
    await ch2.consume(q3.queue, (m) => m !== null && got2.push(m));
    await got2.take(3);
    await waitFor(() => d().broker.stats().messagesUnacked === 7, '3 on the whole second channel');
    await c.close();
  });

  it('recover requeues every unacked delivery, redelivered', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('r'));
    const got = new Collector<amqplib.ConsumeMessage>();
    await ch.consume(queue, (m) => m !== null && got.push(m));
    expect((await got.take(1))[0]?.fields.redelivered).toBe(false);
    await ch.recover();
    const again = (await got.take(2)).slice(1);
    expect(again[0]?.fields.redelivered).toBe(true);
    ch.ack(again[0] as amqplib.Message);
  });

  it('an exclusive consumer keeps others out; a reused consumer tag is NOT_ALLOWED (a connection error)', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const { queue } = await ch.assertQueue('q.ex', { exclusive: false });
    await ch.consume(queue, () => undefined, { exclusive: true, consumerTag: 'only' });
    const other = await c.createChannel();
    other.on('error', () => undefined);
    await expect(other.consume(queue, () => undefined)).rejects.toThrow(/403 \(ACCESS-REFUSED\)/);
    const c2 = await d().amqplib();
    const ch2 = await c2.createChannel();
    const q2 = await ch2.assertQueue('', { exclusive: true });
    await ch2.consume(q2.queue, () => undefined, { consumerTag: 'dup' });
    const closed = next<Error>((cb) => c2.once('error', cb));
    ch2.on('error', () => undefined);
    void ch2.consume(q2.queue, () => undefined, { consumerTag: 'dup' }).catch(() => undefined);
    expect((await closed).message).toMatch(closedWith(530, 'NOT-ALLOWED', "NOT_ALLOWED - attempt to reuse consumer tag 'dup'"));
    await ch.deleteQueue(queue);
  });

  it('mandatory publishes that route nowhere come back with basic.return 312 NO_ROUTE; with confirms, then the ack', async () => {
    const c = await d().amqplib();
    const ch = await c.createConfirmChannel();
    const returned = next<amqplib.Message>((cb) => ch.once('return', cb));
    const acked = new Promise<void>((resolve, reject) => ch.publish('amq.direct', 'nobody', Buffer.from('back'), { mandatory: true, messageId: 'm-1' }, (err) => (err ? reject(err) : resolve())));
    const r = await returned;
    const f = r.fields as unknown as Record<string, unknown>;
    expect([f['replyCode'], f['replyText'], r.fields.exchange, r.fields.routingKey, r.content.toString(), r.properties.messageId]).toEqual([
      312,
      'NO_ROUTE',
      'amq.direct',
      'nobody',
      'back',
      'm-1',
    ]);
    await acked;
    ch.publish('amq.direct', 'nobody', Buffer.from('dropped')); // not mandatory: silently dropped
    await ch.waitForConfirms();
  });

  it('deleting a queue cancels its consumers with a server-sent basic.cancel', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    await ch.assertQueue('q.gone');
    const cancelled = new Promise<null>((resolve) => void ch.consume('q.gone', (m) => m === null && resolve(m)));
    const other = await (await d().amqplib()).createChannel();
    await other.deleteQueue('q.gone');
    expect(await cancelled).toBeNull();
    // the channel is still usable
    await ch.assertQueue('q.after', { exclusive: true });
  });

  it('tx: publishes and acks take effect at commit, and not at rollback', async () => {
    const c = await d().amqplib();
    const ch = await c.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    // amqplib has no tx API: its generic rpc sends a method and waits for the given reply.
    const rpc = (m: number, e: number): Promise<unknown> =>
      new Promise((resolve, reject) => (ch as unknown as AmqplibRpc)._rpc(m, {}, e, (err, ok) => (err ? reject(err) : resolve(ok))));
    await rpc(0x005a000a, 0x005a000b); // select
    ch.sendToQueue(queue, Buffer.from('t1'));
    await new Promise((r) => setImmediate(r));
    expect(d().broker.queues.get(queue)?.messageCount).toBe(0);
    await rpc(0x005a0014, 0x005a0015); // commit
    expect(d().broker.queues.get(queue)?.messageCount).toBe(1);
    ch.sendToQueue(queue, Buffer.from('t2'));
    await rpc(0x005a001e, 0x005a001f); // rollback
    expect(d().broker.queues.get(queue)?.messageCount).toBe(1);
  });
});

describe('AMQP heartbeats, recover-async and confirm nacks', () => {
  const d = useAmqpDaemon();

  it('heartbeats flow both ways: the server sends them, and a client that sends its own stays connected', async () => {
    const c = await RawAmqp.open(d().amqpPort, { heartbeat: 1 });
    const beat = setInterval(() => c.send(HEARTBEAT_BYTES), 250);
    try {
      for (;;) {
        const e = await c.next();
        if (e === null) throw new Error('the server closed a connection that kept sending heartbeats');
        if (e.kind === 'heartbeat') break;
      }
      await c.channel(1); // still open and serving
    } finally {
      clearInterval(beat);
      c.destroy();
    }
  });

  it('basic.recover-async requeues unacked deliveries without a reply', async () => {
    const lib = await d().amqplib();
    const pch = await lib.createChannel();
    await pch.assertQueue('q.ra');
    pch.sendToQueue('q.ra', Buffer.from('again'));
    const c = await RawAmqp.open(d().amqpPort);
    await c.channel(1);
    c.method(1, Method.BasicConsume, { queue: 'q.ra', consumerTag: 't', noLocal: false, noAck: false, exclusive: false, noWait: false, arguments: {} });
    const deliveries = async (): Promise<boolean> => {
      for (;;) {
        const e = await c.next();
        if (e?.kind === 'content' && e.method.id === Method.BasicDeliver) return e.method.redelivered;
      }
    };
    expect(await deliveries()).toBe(false);
    c.method(1, Method.BasicRecoverAsync, { requeue: true });
    expect(await deliveries()).toBe(true);
    c.destroy();
    await waitFor(() => d().broker.queues.get('q.ra')?.messageCount === 1, 'the message back in its queue');
    await pch.deleteQueue('q.ra');
  });

  it('a confirm is a nack when a full reject-publish queue refuses the message', async () => {
    const c = await d().amqplib();
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('q.full', { exclusive: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    const outcome = (body: string): Promise<string> =>
      new Promise((resolve) => ch.sendToQueue('q.full', Buffer.from(body), {}, (err) => resolve(err ? 'nack' : 'ack')));
    expect(await outcome('1')).toBe('ack');
    expect(await outcome('2')).toBe('nack');
  });
});

describe('AMQP with @cloudamqp/amqp-client', () => {
  const d = useAmqpDaemon();

  it('declares, publishes with confirms, consumes, gets, acks, recovers, flows, runs transactions and closes', async () => {
    const conn = await d().cloudamqp();
    const ch = await conn.channel();
    await ch.exchangeDeclare('cx', 'topic', { durable: false });
    const q = await ch.queueDeclare('', { exclusive: true, autoDelete: false });
    await ch.queueBind(q.name, 'cx', 'k.*');
    await ch.confirmSelect();
    await ch.basicPublish('cx', 'k.1', 'hello', { contentType: 'text/plain', headers: { n: 1 } });
    const m = await ch.basicGet(q.name, { noAck: false });
    expect([m?.bodyToString(), m?.properties.contentType, m?.properties.headers]).toEqual(['hello', 'text/plain', { n: 1 }]);
    await m?.ack();
    expect(await ch.basicFlow(true)).toBe(true);
    const ch2 = await conn.channel();
    await ch2.txSelect();
    await ch2.basicPublish('cx', 'k.2', 'in tx');
    await ch2.txRollback();
    await ch2.basicPublish('cx', 'k.3', 'committed');
    await ch2.txCommit();
    const got = await ch.basicGet(q.name, { noAck: true });
    expect(got?.bodyToString()).toBe('committed');
    expect(await ch.basicGet(q.name)).toBeNull();
    await ch.basicPublish('cx', 'k.4', 'again');
    const received: string[] = [];
    const consumer = await ch.basicConsume(q.name, { noAck: false }, (msg) => {
      received.push(msg.bodyToString() ?? '');
    });
    await waitFor(() => received.length === 1, 'a delivery');
    await ch.basicRecover(true);
    await waitFor(() => received.length === 2, 'the redelivery');
    await ch.basicAck(0, true);
    await consumer.cancel();
    await ch.queuePurge(q.name);
    await ch.queueUnbind(q.name, 'cx', 'k.*');
    await ch.exchangeDelete('cx');
    await ch.close();
    await conn.close();
  });

  it('tx and confirm modes exclude each other; commit without select is PRECONDITION_FAILED', async () => {
    const conn = await d().cloudamqp();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await expect(ch.txSelect()).rejects.toThrow('PRECONDITION_FAILED - cannot switch from confirm to tx mode');
    const ch2 = await conn.channel();
    await expect(ch2.txCommit()).rejects.toThrow('PRECONDITION_FAILED - channel is not transactional');
    const ch3 = await conn.channel();
    await ch3.txSelect();
    await expect(ch3.confirmSelect()).rejects.toThrow('PRECONDITION_FAILED - cannot switch from tx to confirm mode');
    await conn.close();
  });
});
