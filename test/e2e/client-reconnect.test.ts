import { afterEach, describe, expect, it } from 'vitest';
import {
  Admin,
  ConnectionError,
  ServerError,
  StaleDeliveryError,
  connect,
  tcpTransport,
  type ConnectOptions,
  type TransportFactory,
  type Connection,
  type Message,
} from '../../src/client/index.js';
import { registerAdminMethods } from '../../src/server/native/admin.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { Collector, deferred, waitFor, within } from '../helpers/wait.js';

/**
 * Reconnect and recovery through a fault-injecting proxy. "A broker that lost everything" is a
 * second, fresh daemon that the proxy switches to before cutting the connection: whatever the
 * client had declared exists there only if the client declared it again.
 */

const FAST: ConnectOptions = { heartbeatMs: 0, reconnect: { initialDelayMs: 5, maxDelayMs: 50 } };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A daemon with the admin methods, so tests can list what it holds. */
async function server(): Promise<TestServer> {
  const ts = await startServer();
  const admin = registerAdminMethods(ts.server);
  cleanups.push(async () => {
    admin.stop();
    await ts.stop();
  });
  return ts;
}

async function proxyTo(ts: TestServer): Promise<FaultProxy> {
  const p = await FaultProxy.start(ts.port);
  cleanups.push(() => p.close());
  return p;
}

async function client(url: string | string[], options: ConnectOptions = FAST): Promise<Connection> {
  const c = await connect(url, options);
  cleanups.push(async () => {
    await c.close();
  });
  return c;
}

/** Resolves with the arguments of the next `event`. */
function next<E extends 'reconnected' | 'disconnected' | 'closed' | 'queueRenamed' | 'reconnecting'>(conn: Connection, event: E) {
  const d = deferred<unknown>();
  conn.once(event, ((arg: unknown) => d.resolve(arg)) as never);
  return within(d.promise, `the connection's '${event}' event`);
}

describe('reconnecting', () => {
  it('reports disconnected (with the cause), reconnecting (attempt, delay) and reconnected, in that order', async () => {
    const a = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url);
    const events: string[] = [];
    conn.on('disconnected', (cause) => events.push(`disconnected ${(cause as ConnectionError).code}`));
    conn.on('reconnecting', ({ attempt, delayMs }) => events.push(`reconnecting ${attempt} ${delayMs >= 2 && delayMs <= 5}`));
    const back = next(conn, 'reconnected');
    proxy.cut();
    expect(await back).toEqual({ attempt: 1, host: '127.0.0.1', port: proxy.port });
    expect(events).toEqual(['disconnected ERR_SOCKET', 'reconnecting 1 true']);
    expect(conn.state).toBe('open');
    expect(proxy.accepted).toBe(2);
  });

  it('replays exchanges, queues, exchange and queue bindings, prefetch and consumers onto a broker that lost them', async () => {
    const a = await server();
    const b = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url);
    const ch = await conn.channel();
    await ch.declareExchange('orders', 'topic', { durable: true });
    await ch.declareExchange('orders.eu', 'fanout');
    await ch.bindExchange('orders.eu', 'orders', 'eu.#');
    await ch.declareQueue('eu', { arguments: { 'x-max-length': 100 } });
    await ch.bindQueue('eu', 'orders.eu');
    await ch.declareQueue('gone');
    await ch.bindQueue('gone', 'orders', 'x');
    await ch.deleteQueue('gone'); // deleted: not replayed, nor its binding
    await ch.prefetch(10, true);
    const got = new Collector<Message>();
    await ch.consume('eu', got.push, { tag: 'eu-reader', prefetch: 3 });
    const second = await conn.channel();
    const other = new Collector<Message>();
    await second.declareQueue('audit', { autoDelete: false });
    await second.bindQueue('audit', 'orders', '#');
    await second.consume('audit', other.push, { noAck: true });

    proxy.retarget(b.port);
    const back = next(conn, 'reconnected');
    proxy.cut();
    await back;

    const names = (xs: Iterable<{ name: string }>): string[] => [...xs].map((x) => x.name).sort();
    expect(names(b.broker.queues.values())).toEqual(['audit', 'eu']);
    expect(b.broker.queues.get('eu')?.arguments).toEqual({ 'x-max-length': 100 });
    const admin = new Admin(await b.connect());
    const bindings = (await admin.bindings()).filter((r) => r.source !== '').map((r) => `${r.source}->${r.destination}:${r.routingKey}`);
    expect(bindings.sort()).toEqual(['orders->audit:#', 'orders->orders.eu:eu.#', 'orders.eu->eu:']);
    const consumers = (await admin.consumers()).map((c) => ({ queue: c.queue, tag: c.tag, prefetch: c.prefetch, noAck: c.noAck, channel: c.channel }));
    expect(consumers.sort((x, y) => x.queue.localeCompare(y.queue))).toEqual([
      { queue: 'audit', tag: expect.stringMatching(/./) as unknown, prefetch: 0, noAck: true, channel: second.id },
      { queue: 'eu', tag: 'eu-reader', prefetch: 3, noAck: false, channel: ch.id },
    ]);

    const pub = await (await b.connect()).channel();
    await pub.confirmSelect();
    await pub.publish('orders', 'eu.de', 'order 1');
    const [m] = await got.take(1);
    expect([m?.text(), m?.consumerTag, m?.redelivered]).toEqual(['order 1', 'eu-reader', false]);
    m?.ack();
    expect((await other.take(1)).map((x) => x.text())).toEqual(['order 1']);
  });

  it('gives a server-named exclusive queue a new name, reports it, and moves its bindings and consumer', async () => {
    const a = await server();
    const b = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url);
    const ch = await conn.channel();
    await ch.declareExchange('ticks', 'fanout');
    const { queue } = await ch.declareQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'ticks');
    const got = new Collector<Message>();
    await ch.consume(queue, got.push, { noAck: true });
    proxy.retarget(b.port);
    const renamed = next(conn, 'queueRenamed');
    proxy.cut();
    const { from, to } = (await renamed) as { from: string; to: string };
    expect(from).toBe(queue);
    expect(to).toMatch(/^sk\.gen-/);
    expect(to).not.toBe(queue);
    await next(conn, 'reconnected');
    expect(b.broker.queues.get(to)?.exclusive).toBe(true);
    const pub = await (await b.connect()).channel();
    await pub.confirmSelect();
    await pub.publish('ticks', '', 'tick');
    expect((await got.take(1)).map((m) => m.text())).toEqual(['tick']);
  });

  it('keeps the name of a server-named queue that is neither exclusive nor auto-delete (it may still hold messages)', async () => {
    const a = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url);
    const ch = await conn.channel();
    const { queue } = await ch.declareQueue('');
    await ch.confirmSelect();
    await ch.publish('', queue, 'kept');
    const renames = new Collector<unknown>();
    conn.on('queueRenamed', renames.push);
    const back = next(conn, 'reconnected');
    proxy.cut();
    await back;
    expect(renames.length).toBe(0);
    expect((await ch.get(queue, { noAck: true }))?.text()).toBe('kept');
  });

  it('a named exclusive queue still held by the lost connection is retried until the broker lets go of it', async () => {
    const a = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url, { heartbeatMs: 500, reconnect: { initialDelayMs: 5, maxDelayMs: 50 } });
    const ch = await conn.channel();
    await ch.declareQueue('mine', { exclusive: true });
    const causes = new Collector<string>();
    conn.on('reconnecting', ({ cause }) => causes.push((cause as ConnectionError).code));
    // The broker keeps the old connection, and its queue, until its heartbeat check gives up
    // on it (2 × 500 ms), while the client is back at once.
    proxy.orphan();
    await within(next(conn, 'reconnected'), 'the reconnect', 10_000);
    expect(causes.items[0]).toBe('ERR_SOCKET');
    expect(causes.items.slice(1).length).toBeGreaterThan(0);
    expect(new Set(causes.items.slice(1))).toEqual(new Set(['ERR_RECOVERY_LOCKED']));
    expect((await ch.declareQueue('mine', { passive: true })).queue).toBe('mine');
  });

  it('tries the URLs in order, and connects to the first that answers', async () => {
    const a = await server();
    const dead = await startServer();
    const deadPort = dead.port;
    await dead.server.close();
    const conn = await client([`skiff://127.0.0.1:${deadPort}`, a.url]);
    expect([conn.host, conn.port]).toEqual(['127.0.0.1', a.port]);
    const shuffled = await client([a.url, a.url], { ...FAST, shuffleHosts: true });
    expect(shuffled.port).toBe(a.port);
    await expect(connect([`skiff://127.0.0.1:${deadPort}`, `skiff://guest:wrong@127.0.0.1:${a.port}`], FAST)).rejects.toMatchObject({
      code: 'ACCESS_REFUSED',
      message: 'ACCESS_REFUSED - login refused: wrong username or password',
    });
    await expect(connect([], FAST)).rejects.toMatchObject({ code: 'ERR_INVALID_URL', message: 'connect needs at least one URL' });
  });

  it('moves to the next URL when the one it was on goes away', async () => {
    const a = await server();
    const b = await server();
    const pa = await proxyTo(a);
    const pb = await proxyTo(b);
    const conn = await client([pa.url, pb.url]);
    pa.refuse(true);
    const back = next(conn, 'reconnected');
    pa.cut();
    expect(await back).toMatchObject({ port: pb.port });
  });

  it('gives up after maxAttempts with a terminal closed event, and a messages() loop throws that error', async () => {
    const a = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url, { heartbeatMs: 0, reconnect: { initialDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 } });
    const ch = await conn.channel();
    await ch.declareQueue('q');
    const loop = (async () => {
      for await (const m of ch.messages('q', { noAck: true })) void m;
    })().then(
      () => null,
      (e: unknown) => e,
    );
    const attempts = new Collector<number>();
    conn.on('reconnecting', ({ attempt }) => attempts.push(attempt));
    const closed = next(conn, 'closed');
    proxy.refuse(true);
    proxy.cut();
    const err = (await closed) as ConnectionError;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ERR_RECONNECT_FAILED');
    expect(err.message).toMatch(/^gave up reconnecting after 2 attempts: (connection lost|cannot connect to 127\.0\.0\.1:\d+): /);
    expect(attempts.items).toEqual([1, 2]);
    expect(await within(loop, 'the loop to end')).toBe(err);
    await expect(conn.closed).resolves.toBe(err);
    expect(conn.state).toBe('closed');
  });

  it('does not reconnect after an error the client caused (the same request would fail again)', async () => {
    const a = await server();
    const conn = await client(a.url);
    const ch = await conn.channel();
    const reconnecting = new Collector<unknown>();
    conn.on('reconnecting', reconnecting.push);
    const err = await ch.declareExchange('x', 'nope').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'COMMAND_INVALID', scope: 'connection' });
    await expect(conn.closed).resolves.toBe(err);
    expect(reconnecting.length).toBe(0);
  });

  it('reconnects after the broker forces the connection closed, and stops for good on close()', async () => {
    const a = await server();
    const conn = await client(a.url);
    const admin = new Admin(await a.connect());
    const mine = (await admin.connections())[0]?.id as string; // the oldest: conn
    const lost = next(conn, 'disconnected');
    const back = next(conn, 'reconnected');
    await admin.closeConnection(mine, 'maintenance');
    expect(await lost).toMatchObject({ code: 'CONNECTION_FORCED', message: 'CONNECTION_FORCED - maintenance' });
    await back;
    await conn.close();
    await expect(conn.closed).resolves.toBeNull();
    expect(conn.state).toBe('closed');
  });
});

describe('consumers across a reconnect', () => {
  it('a messages() loop goes on across a reconnect; the unacked message comes again, redelivered', async () => {
    const a = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url);
    const ch = await conn.channel();
    await ch.declareQueue('jobs');
    const pub = await (await a.connect()).channel();
    await pub.publish('', 'jobs', 'job 1');
    const seen: string[] = [];
    const first = deferred();
    const loop = (async () => {
      for await (const m of ch.messages('jobs', { prefetch: 10 })) {
        seen.push(`${m.text()} ${m.redelivered}`);
        if (seen.length === 1) {
          first.resolve();
          continue; // not acked: the cut comes first
        }
        m.ack();
        if (seen.length === 3) break;
      }
    })();
    await within(first.promise, 'the first delivery');
    const back = next(conn, 'reconnected');
    proxy.cut();
    await back;
    await pub.publish('', 'jobs', 'job 2');
    await within(loop, 'the loop to finish');
    expect(seen).toEqual(['job 1 false', 'job 1 true', 'job 2 false']);
  });

  it('without reconnecting, a messages() loop throws the error that ended the connection', async () => {
    const a = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url, { heartbeatMs: 0, reconnect: false });
    const ch = await conn.channel();
    await ch.declareQueue('q');
    const started = deferred();
    const loop = (async () => {
      const it = ch.messages('q');
      started.resolve();
      for await (const m of it) void m;
    })().then(
      () => 'ended quietly',
      (e: unknown) => e,
    );
    await started.promise;
    await waitFor(() => a.broker.stats().consumers === 1, 'the consumer');
    proxy.cut();
    const err = await within(loop, 'the loop to end');
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ code: 'ERR_SOCKET', message: expect.stringMatching(/^connection lost: (read|write) ECONNRESET$/) as unknown });
    await expect(conn.closed).resolves.toBe(err);
  });

  it('without reconnecting, a messages() loop throws CONNECTION_FORCED when the daemon shuts down', async () => {
    const ts = await startServer();
    const conn = await connect(ts.url, { heartbeatMs: 0, reconnect: false });
    const ch = await conn.channel();
    await ch.declareQueue('q');
    const loop = (async () => {
      for await (const m of ch.messages('q')) void m;
    })().then(
      () => 'ended quietly',
      (e: unknown) => e,
    );
    await waitFor(() => ts.broker.stats().consumers === 1, 'the consumer');
    await ts.server.close('shutting down');
    const err = await within(loop, 'the loop to end');
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'CONNECTION_FORCED', message: 'CONNECTION_FORCED - shutting down' });
  });

  it('refuses to ack a delivery from the lost connection, and never sends it on the new one', async () => {
    const a = await server();
    const proxy = await proxyTo(a);
    const conn = await client(proxy.url);
    const ch = await conn.channel();
    await ch.declareQueue('q');
    const got = new Collector<Message>();
    await ch.consume('q', got.push);
    await (await (await a.connect()).channel()).publish('', 'q', 'once');
    const [old] = await got.take(1);
    const back = next(conn, 'reconnected');
    proxy.cut();
    await back;
    const [, again] = await got.take(2);
    // Both deliveries carry tag 1: an ack of the old one sent now would ack the new one.
    expect([old?.deliveryTag, again?.deliveryTag, again?.redelivered]).toEqual([1, 1, true]);
    let err: unknown = null;
    try {
      old?.ack();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StaleDeliveryError);
    expect(err).toMatchObject({
      code: 'ERR_STALE_DELIVERY',
      message: `delivery 1 on channel ${ch.id} came over a connection that was lost; the broker has requeued it and will deliver it again (redelivered = true)`,
    });
    await ch.declareQueue('q', { passive: true }); // a round trip: anything sent has arrived
    expect(a.broker.stats().messagesUnacked).toBe(1);
    again?.ack();
    await waitFor(() => a.broker.stats().messagesUnacked === 0, 'the ack of the redelivery');
  });

  it('refuses to ack a delivery of a closed channel', async () => {
    const a = await server();
    const conn = await client(a.url);
    const ch = await conn.channel();
    await ch.declareQueue('q');
    await ch.publish('', 'q', 'x');
    const m = await ch.get('q');
    await ch.close();
    expect(() => m?.ack()).toThrow(new StaleDeliveryError(`delivery 1 came on channel ${ch.id}, which is closed; the broker has requeued it`));
  });
});

describe('the transport seam', () => {
  it('a connection runs over whatever transport it is given, reconnects included', async () => {
    const a = await server();
    const proxy = await proxyTo(a);
    const opened: string[] = [];
    const counting: TransportFactory = async (target, options) => {
      opened.push(`${target.host}:${target.port}`);
      return tcpTransport(target, options);
    };
    const conn = await client(proxy.url, { ...FAST, transport: counting });
    const back = next(conn, 'reconnected');
    proxy.cut();
    await back;
    expect(opened).toEqual([`127.0.0.1:${proxy.port}`, `127.0.0.1:${proxy.port}`]);
    const ch = await conn.channel();
    expect((await ch.declareQueue('over-the-seam')).queue).toBe('over-the-seam');
  });
});

describe('connect options', () => {
  it('bad reconnect options are refused, naming the option', async () => {
    const a = await server();
    const bad = (options: ConnectOptions) => connect(a.url, options).catch((e: unknown) => e);
    expect(await bad({ reconnect: { maxDelayMs: -1 } })).toMatchObject({ code: 'ERR_INVALID_OPTION', message: 'reconnect.maxDelayMs must be a number of ms from 0, got -1' });
    expect(await bad({ reconnect: { jitter: 2 } })).toMatchObject({ message: 'reconnect.jitter must be a number from 0 to 1, got 2' });
    expect(await bad({ reconnect: { maxAttempts: 0 } })).toMatchObject({ message: 'reconnect.maxAttempts must be a number from 1 (or Infinity), got 0' });
    expect(await bad({ reconnect: { initialDelayMs: 500, maxDelayMs: 100 } })).toMatchObject({
      message: 'reconnect.maxDelayMs (100) must not be below reconnect.initialDelayMs (500)',
    });
    expect(await bad({ reconnect: { bufferByte: 1 } as never })).toMatchObject({ message: 'unknown option reconnect.bufferByte' });
    expect(await bad({ reconnect: 'yes' as never })).toMatchObject({ message: "reconnect must be a boolean or an object, got 'yes'" });
    expect(await bad({ timeoutMs: 0 })).toMatchObject({ message: 'timeoutMs must be a number of ms from 1, got 0' });
  });
});
