import { afterEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import {
  ClosedError,
  ConnectionLostError,
  NackError,
  SkiffError,
  connect,
  type Channel,
  type ConnectOptions,
  type Connection,
  type Message,
} from '../../src/client/index.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { failOnUnhandledRejections } from '../helpers/unhandled.js';
import { Collector, deferred, waitFor, within } from '../helpers/wait.js';

/** Publishing across reconnects and network faults, and the promise-free publishing forms. */

const FAST = { initialDelayMs: 5, maxDelayMs: 50 };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
failOnUnhandledRejections();

async function setup(options: ConnectOptions = {}, serverBroker?: Broker) {
  const ts: TestServer = await startServer(serverBroker === undefined ? {} : { broker: serverBroker });
  const proxy = await FaultProxy.start(ts.port);
  const conn = await connect(proxy.url, { heartbeatMs: 0, reconnect: FAST, ...options });
  cleanups.push(async () => {
    await conn.close();
    await proxy.close();
    await ts.stop();
  });
  const ch = await conn.channel();
  await ch.declareQueue('q');
  return { ts, proxy, conn, ch };
}

function nextEvent(conn: Connection, event: 'reconnected' | 'disconnected' | 'drain'): Promise<void> {
  const d = deferred();
  conn.once(event, () => d.resolve());
  return within(d.promise, `the '${event}' event`);
}

/** The queue's ready messages, read by a client of the daemon itself (not through the proxy). */
async function drain(ts: TestServer, queue = 'q'): Promise<string[]> {
  const ch = await (await ts.connect()).channel();
  const out: string[] = [];
  for (let m = await ch.get(queue, { noAck: true }); m !== null; m = await ch.get(queue, { noAck: true })) out.push(m.text());
  return out;
}

describe('confirms across a reconnect', () => {
  it('a publish waiting for its confirm when the connection drops rejects with a retriable ConnectionLostError', async () => {
    const { proxy, conn, ch } = await setup();
    await ch.confirmSelect();
    proxy.stall(); // the publish leaves, the confirm never comes back
    const p = ch.publish('', 'q', 'm1');
    const back = nextEvent(conn, 'reconnected');
    proxy.cut();
    proxy.resume();
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as SkiffError).retriable).toBe(true);
    expect((err as SkiffError).code).toBe('ERR_CONNECTION_LOST');
    // The reset is seen by a read or by a write, whichever comes first.
    expect((err as Error).message).toMatch(
      /^connection lost before the broker confirmed the message \(it may or may not have been taken; publish it again for at-least-once\): connection lost: (read|write) ECONNRESET$/,
    );
    await back;
    // The channel is still in confirm mode after the reconnect.
    await ch.publish('', 'q', 'm2');
  });

  it('with republishUnconfirmed, unconfirmed messages are sent again after reconnecting and their promises resolve', async () => {
    const { ts, proxy, ch } = await setup({ reconnect: { ...FAST, republishUnconfirmed: true } });
    await ch.confirmSelect();
    await ch.publish('', 'q', 'm0');
    proxy.stall();
    const pending = ['m1', 'm2', 'm3'].map((b) => ch.publish('', 'q', b));
    proxy.cut();
    proxy.resume();
    await within(Promise.all(pending), 'the republished confirms');
    // The stalled copies never reached the broker, so each arrives once, in order.
    expect(await drain(ts)).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('a nack still rejects with NackError, and the callback form gets it too', async () => {
    const { ch } = await setup();
    await ch.declareQueue('full', { arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    await ch.confirmSelect();
    await expect(ch.publish('', 'full', 'x')).rejects.toBeInstanceOf(NackError);
    const results = new Collector<Error | null>();
    expect(ch.tryPublish('', 'full', 'y', {}, results.push)).toBe(true);
    expect(ch.tryPublish('', 'q', 'z', {}, results.push)).toBe(true);
    const [nacked, acked] = await results.take(2);
    expect(nacked).toBeInstanceOf(NackError);
    expect(nacked?.message).toBe(`broker could not take message 2 on channel ${ch.id}`);
    expect(acked).toBeNull();
  });
});

describe('publishing while disconnected', () => {
  it('publish waits for the connection to come back, then sends in order', async () => {
    const { ts, proxy, conn, ch } = await setup();
    proxy.refuse(true);
    const lost = nextEvent(conn, 'disconnected');
    proxy.cut();
    await lost;
    const sent = ['a', 'b', 'c'].map((b) => ch.publish('', 'q', b));
    const declared = ch.declareQueue('later');
    const settled = new Collector<string>();
    for (const p of sent) void p.then(() => settled.push('sent'));
    await waitFor(() => proxy.accepted > 2, 'a few refused attempts');
    expect(settled.length).toBe(0);
    proxy.refuse(false);
    await within(Promise.all([...sent, declared]), 'the held publishes');
    expect(await drain(ts)).toEqual(['a', 'b', 'c']);
  });

  it('past reconnect.bufferBytes a publish rejects at once with ERR_PUBLISH_BUFFER_FULL', async () => {
    const { proxy, conn, ch } = await setup({ reconnect: { ...FAST, bufferBytes: 100 } });
    proxy.refuse(true);
    const lost = nextEvent(conn, 'disconnected');
    proxy.cut();
    await lost;
    const held = ch.publish('', 'q', Buffer.alloc(60));
    const err = await ch.publish('', 'q', Buffer.alloc(60)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkiffError);
    expect(err).toMatchObject({
      code: 'ERR_PUBLISH_BUFFER_FULL',
      message: 'cannot hold a message of 60 bytes while reconnecting: 60 bytes are held already (reconnect.bufferBytes 100)',
    });
    proxy.refuse(false);
    await within(held, 'the held publish');
  });

  it('a publish held longer than reconnect.bufferTimeoutMs rejects with ERR_PUBLISH_TIMEOUT and is never sent', async () => {
    const { ts, proxy, conn, ch } = await setup({ reconnect: { ...FAST, bufferTimeoutMs: 30 } });
    proxy.refuse(true);
    const lost = nextEvent(conn, 'disconnected');
    proxy.cut();
    await lost;
    const err = await within(ch.publish('', 'q', 'too late').catch((e: unknown) => e), 'the timeout');
    expect(err).toMatchObject({ code: 'ERR_PUBLISH_TIMEOUT', message: 'publish waited 30 ms for the connection to come back (reconnect.bufferTimeoutMs)' });
    const back = nextEvent(conn, 'reconnected');
    proxy.refuse(false);
    await back;
    await ch.publish('', 'q', 'on time');
    await ch.declareQueue('q', { passive: true });
    expect(await drain(ts)).toEqual(['on time']);
  });
});

describe('publish promises the application ignores', () => {
  it('never become unhandled rejections: closed channel, lost confirms, full buffer, parked on a lost connection', async () => {
    const { proxy, conn, ch } = await setup({ reconnect: { ...FAST, bufferBytes: 0, maxAttempts: 1 } });
    await ch.confirmSelect();
    proxy.stall();
    void ch.publish('', 'q', 'confirm lost');
    const lost = nextEvent(conn, 'disconnected');
    proxy.refuse(true);
    proxy.cut();
    await lost;
    void ch.publish('', 'q', 'buffer full');
    await within(conn.closed, 'giving up');
    void ch.publish('', 'q', 'closed channel');
    void ch.waitForDrain();
    void conn.waitForDrain();
  });

  it('a backpressure promise parked when the connection is lost for good rejects without crashing', async () => {
    const { ts, conn, ch } = await setup({ reconnect: false }, new Broker({ memoryHighWatermark: 64 * 1024 }));
    const blocked = deferred<string>();
    conn.on('blocked', (alarm) => blocked.resolve(alarm));
    await ch.publish('', 'q', Buffer.alloc(100 * 1024));
    expect(await within(blocked.promise, 'blocked')).toBe('memory high watermark');
    void ch.publish('', 'q', 'parked, then ignored');
    for (const c of ts.server.connections) c.destroy();
    await within(conn.closed, 'the close');
  });
});

describe('tryPublish, drain and the confirm callback', () => {
  it('tryPublish returns false while blocked, without sending; waitForDrain and the drain event say when to go on', async () => {
    const { conn, ch, ts } = await setup({}, new Broker({ memoryHighWatermark: 64 * 1024 }));
    const alarms = new Collector<string>();
    conn.on('blocked', (a) => alarms.push(`blocked: ${a}`));
    conn.on('unblocked', (a) => alarms.push(`unblocked: ${a}`));
    expect(ch.tryPublish('', 'q', Buffer.alloc(100 * 1024))).toBe(true);
    await alarms.take(1);
    expect(ch.tryPublish('', 'q', 'not sent')).toBe(false);
    const drained = nextEvent(conn, 'drain');
    const waited = ch.waitForDrain();
    const consumer = await (await ts.connect()).channel();
    await consumer.consume('q', () => undefined, { noAck: true });
    await within(Promise.all([waited, drained]), 'drain');
    expect(alarms.items).toEqual(['blocked: memory high watermark', 'unblocked: memory high watermark']);
    expect(ch.tryPublish('', 'q', 'sent')).toBe(true);
  });

  it('tryPublish returns false while reconnecting, and waitForDrain resolves once the connection is back', async () => {
    const { proxy, conn, ch } = await setup();
    proxy.refuse(true);
    const lost = nextEvent(conn, 'disconnected');
    proxy.cut();
    await lost;
    expect(ch.tryPublish('', 'q', 'x')).toBe(false);
    const drained = ch.waitForDrain();
    proxy.refuse(false);
    await within(drained, 'the reconnect');
    expect(conn.state).toBe('open');
    expect(ch.tryPublish('', 'q', 'x')).toBe(true);
  });

  it('tryPublish throws on a closed channel and on a message too large for a frame', async () => {
    const { ch, conn } = await setup();
    expect(() => ch.tryPublish('', 'q', Buffer.alloc(conn.frameMax))).toThrow(
      new SkiffError('ERR_BODY_TOO_LARGE', `message of ${conn.frameMax} bytes does not fit in a frame (frameMax ${conn.frameMax})`),
    );
    await ch.close();
    expect(() => ch.tryPublish('', 'q', 'x')).toThrow(new ClosedError(`channel ${ch.id} is closed`));
    await expect(ch.waitForDrain()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('a pipelined publisher on tryPublish with a confirm callback gets one callback per message, in order', async () => {
    const { ts, ch } = await setup();
    await ch.confirmSelect();
    const n = 5000;
    let confirmed = 0;
    const done = deferred();
    const onConfirm = (err: Error | null): void => {
      if (err !== null) done.reject(err);
      else if (++confirmed === n) done.resolve();
    };
    for (let i = 0; i < n; i++) while (!ch.tryPublish('', 'q', `m${i}`, {}, onConfirm)) await ch.waitForDrain();
    await within(done.promise, 'every confirm');
    expect(ts.broker.queues.get('q')?.messageCount).toBe(n);
  });
});

describe('network faults', () => {
  it('a stall shorter than the heartbeat timeout loses nothing and does not reconnect', async () => {
    const { ts, proxy, conn, ch } = await setup({ heartbeatMs: 2000 });
    const disconnects = new Collector<unknown>();
    conn.on('disconnected', disconnects.push);
    await ch.confirmSelect();
    proxy.stall();
    const confirms = Array.from({ length: 10 }, (_, i) => ch.publish('', 'q', `s${i}`));
    await waitFor(() => proxy.heldBytes > 0, 'the publishes to be held by the stall');
    proxy.resume();
    await within(Promise.all(confirms), 'the confirms after the stall');
    expect(disconnects.length).toBe(0);
    expect((await drain(ts)).length).toBe(10);
  });

  it('a slow path delivers everything, in order', async () => {
    const { proxy, ch, ts } = await setup();
    const consumer = await (await ts.connect()).channel();
    const got = new Collector<Message>();
    await consumer.consume('q', got.push, { noAck: true });
    proxy.slow(4096);
    await ch.confirmSelect();
    const bodies = Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(2000, '.'));
    await within(Promise.all(bodies.map((b) => ch.publish('', 'q', b))), 'the slow confirms', 15_000);
    expect((await got.take(20)).map((m) => m.text())).toEqual(bodies);
  });

  it('a half-open path is found by heartbeats, and the connection comes back with its consumer', async () => {
    const { ts, proxy, conn, ch } = await setup({ heartbeatMs: 100 });
    const got = new Collector<Message>();
    await ch.consume('q', got.push, { noAck: true });
    const cause = deferred<Error>();
    conn.once('disconnected', (c) => cause.resolve(c));
    const back = nextEvent(conn, 'reconnected');
    proxy.halfOpen();
    expect(await within(cause.promise, 'the heartbeat timeout')).toMatchObject({ code: 'ERR_HEARTBEAT_TIMEOUT', message: 'no data from the server for 200 ms' });
    await back;
    await (await (await ts.connect()).channel()).publish('', 'q', 'after');
    expect((await got.take(1)).map((m) => m.text())).toEqual(['after']);
  });
});

/** Keeps the type checker honest about the forms' signatures. */
export function forms(ch: Channel): void {
  const ok: boolean = ch.tryPublish('x', 'k', 'body', { persistent: true }, (err: Error | null) => void err);
  const p: Promise<void> = ch.waitForDrain();
  void ok;
  void p;
}
