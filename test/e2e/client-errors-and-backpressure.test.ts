import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { ClosedError, ServerError, connect, type Channel, type ConnectOptions, type Message } from '../../src/client/index.js';
import { ReplyCode } from '../../protocol/index.js';
import { startServer, useServer } from '../helpers/server.js';
import { Collector, deferred, waitFor, within } from '../helpers/wait.js';

const server = useServer();

describe('client error handling', () => {
  it('a channel error rejects that channel\'s calls; the connection and its other channels carry on', async () => {
    const conn = await server().connect();
    const bad = await conn.channel();
    const good = await conn.channel();
    await good.declareQueue('q');
    // Pipelined: the second call was already sent when the first failed.
    const first = bad.declareQueue('missing', { passive: true });
    const second = bad.declareQueue('q', { passive: true });
    const err = await first.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({
      code: 'NOT_FOUND',
      replyCode: ReplyCode.NOT_FOUND,
      scope: 'channel',
      message: "NOT_FOUND - no queue 'missing' in vhost '/'",
    });
    await expect(second).rejects.toBe(err);
    await expect(bad.closed).resolves.toBe(err);
    const later = await bad.purgeQueue('q').catch((e: unknown) => e);
    expect(later).toBeInstanceOf(ClosedError);
    expect(later).toMatchObject({ code: 'ERR_CLOSED', message: `channel ${bad.id} is closed`, cause: err });
    expect(bad.isOpen).toBe(false);
    expect(conn.isOpen).toBe(true);
    expect((await good.declareQueue('q', { passive: true })).queue).toBe('q');
    const again = await conn.channel();
    expect((await again.declareQueue('q')).queue).toBe('q');
  });

  it('a publish to a missing exchange closes the channel with NOT_FOUND and rejects its pending confirms', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.confirmSelect();
    const p = ch.publish('no-such-exchange', 'k', 'x');
    await expect(p).rejects.toMatchObject({ code: 'NOT_FOUND', message: "NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'" });
    expect(conn.isOpen).toBe(true);
  });

  it('a connection error rejects every pending call on every channel, and closed resolves with it', async () => {
    const ts = server();
    const conn = await ts.connect();
    const a = await conn.channel();
    const b = await conn.channel();
    await a.declareQueue('q');
    const pendingNext = a.messages('q').next().catch((e: unknown) => e);
    const err = await b.declareExchange('x', 'nope').catch((e: unknown) => e); // unknown type: a connection error
    expect(err).toMatchObject({
      code: 'COMMAND_INVALID',
      scope: 'connection',
      message: "COMMAND_INVALID - unknown exchange type 'nope'",
    });
    await expect(conn.closed).resolves.toBe(err);
    expect(await pendingNext).toBe(err);
    await expect(a.get('q')).rejects.toMatchObject({ code: 'ERR_CLOSED', cause: err });
    await expect(conn.channel()).rejects.toMatchObject({ code: 'ERR_CLOSED', message: 'connection is closed', cause: err });
    await waitFor(() => ts.broker.sessions.size === 0, 'the server to drop the session');
  });

  it('without reconnecting, a connection lost under pending calls rejects them instead of hanging', async () => {
    const ts = await startServer();
    try {
      const conn = await ts.connect({ reconnect: false });
      const ch = await conn.channel();
      await ch.declareQueue('q');
      await ch.confirmSelect();
      const gone = deferred<Error | null>();
      conn.on('close', (cause: Error | null) => gone.resolve(cause));
      // The server goes away: every connection is forced closed.
      const stopping = ts.server.close('test shutdown');
      const err = await within(gone.promise, 'the close event');
      expect(err).toMatchObject({ code: 'CONNECTION_FORCED', message: 'CONNECTION_FORCED - test shutdown' });
      await expect(ch.publish('', 'q', 'late')).rejects.toBeInstanceOf(ClosedError);
      await expect(ch.declareQueue('q')).rejects.toBeInstanceOf(ClosedError);
      await stopping;
    } finally {
      await ts.server.close();
    }
  });

  it('close() ends a messages() loop, whether or not its consumer had started, and later calls reject', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareQueue('q');
    const next = ch.messages('q').next();
    const started = ch.messages('q');
    await waitFor(() => server().broker.stats().consumers === 2, 'both consumers');
    const startedNext = started.next();
    const closing = conn.close();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
    await expect(startedNext).resolves.toEqual({ value: undefined, done: true });
    await closing;
    await expect(conn.closed).resolves.toBeNull();
    await expect(ch.get('q')).rejects.toBeInstanceOf(ClosedError);
  });

  it("an exception in the application's consumer callback goes to 'error' and breaks nothing", async () => {
    const conn = await server().connect();
    const errors = new Collector<unknown>();
    conn.on('error', errors.push);
    const ch = await conn.channel();
    await ch.declareQueue('q');
    await ch.confirmSelect();
    const got = new Collector<string>();
    await ch.consume(
      'q',
      (m) => {
        got.push(m.text());
        if (m.text() === 'boom') throw new Error('bug in the app');
      },
      { noAck: true },
    );
    ch.onReturn(() => {
      throw new Error('bug in the return listener');
    });
    await Promise.all([ch.publish('', 'q', 'boom'), ch.publish('', 'q', 'after'), ch.publish('', 'nowhere', 'r', { mandatory: true })]);
    expect(await got.take(2)).toEqual(['boom', 'after']);
    expect((await errors.take(2)).map((e) => (e as Error).message).sort()).toEqual(['bug in the app', 'bug in the return listener']);
    expect([conn.isOpen, ch.isOpen]).toEqual([true, true]);
    await ch.declareQueue('q', { passive: true });
  });

  it('connecting to a port nobody listens on fails with a clear error', async () => {
    const ts = await startServer();
    const port = ts.port;
    await ts.server.close();
    await expect(connect(`skiff://127.0.0.1:${port}`)).rejects.toMatchObject({
      code: 'ERR_CONNECTION_REFUSED',
      message: `connection refused by 127.0.0.1:${port} (is skiff running?)`,
    });
  });

  it('wrong credentials are ACCESS_REFUSED', async () => {
    await expect(connect(`skiff://guest:wrong@127.0.0.1:${server().port}`)).rejects.toMatchObject({
      code: 'ACCESS_REFUSED',
      message: 'ACCESS_REFUSED - login refused: wrong username or password',
    });
  });

  it('without reconnecting, a publish parked on a blocked connection rejects when the connection is lost', async () => {
    const { ts, ch, blocked } = await withAlarm(64 * 1024, { reconnect: false });
    try {
      await ch.publish('', 'q', Buffer.alloc(100 * 1024));
      await within(blocked, 'connection.blocked');
      const parked = ch.publish('', 'q', 'waits for unblocked').catch((e: unknown) => e);
      for (const c of ts.server.connections) c.destroy();
      expect(await within(parked, 'the parked publish to settle')).toMatchObject({
        code: 'ERR_CLOSED',
        message: 'connection is closed',
        cause: { code: 'ERR_CONNECTION_LOST' },
      });
    } finally {
      await ts.stop();
    }
  });
});

describe('publisher confirms', () => {
  it('publish resolves when the broker has taken the message', async () => {
    const conn = await server().connect();
    const ch = await conn.channel();
    await ch.declareQueue('q');
    await ch.confirmSelect();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => ch.publish('', 'q', `m${i}`)));
    expect((await ch.declareQueue('q', { passive: true })).messageCount).toBe(1000);
  });
});

describe('publish backpressure', () => {
  it('a blocked broker makes publish wait, and it resumes when memory is released', async () => {
    const { ts, conn, ch, blocked, unblocked } = await withAlarm(256 * 1024);
    try {
      const loop = publishLoop(ch, Buffer.alloc(16 * 1024, 1));
      expect(await within(blocked, 'connection.blocked')).toBe('memory high watermark');
      // While blocked, the publisher is parked: it does not keep filling memory.
      const other = await (await ts.connect()).channel();
      await waitFor(() => conn.blocked, 'the client to see blocked');
      const parkedAt = loop.count;
      for (let i = 0; i < 5; i++) await other.declareQueue('q', { passive: true });
      expect(loop.count).toBe(parkedAt);
      // A consumer drains the queue: memory falls, publishers are released.
      const got = new Collector<Message>();
      await other.consume('q', got.push, { noAck: true });
      await within(unblocked, 'connection.unblocked');
      await waitFor(() => loop.count > parkedAt + 10, 'the publisher to resume');
      await loop.stop();
      await within(got.take(loop.count), 'every published message to arrive', 10_000);
    } finally {
      await ts.stop();
    }
  });

  it('publish waits while the socket is over the write high-water mark', async () => {
    const highWater = 64 * 1024;
    const { ts, conn, ch, blocked } = await withAlarm(64 * 1024, { writeHighWaterMark: highWater });
    try {
      // Fill the broker past its alarm so the server stops reading this socket...
      await ch.publish('', 'q', Buffer.alloc(100 * 1024));
      await within(blocked, 'connection.blocked');
      // ...and play a client that ignores `blocked`, so only the socket bound holds it back.
      conn.blocked = false;
      const body = Buffer.alloc(64 * 1024, 2);
      const loop = publishLoop(ch, body);
      // Parked for good once the kernel buffers on both ends are full.
      let seen = -1;
      let still = 0;
      await waitFor(
        () => {
          still = loop.count === seen && !conn.writer.writable ? still + 1 : 0;
          seen = loop.count;
          return still >= 20;
        },
        'the publisher to park',
        15_000,
      );
      // What the client holds is bounded by the mark, one early-flush batch and a message.
      expect(conn.writer.bufferedBytes).toBeLessThanOrEqual(highWater + 256 * 1024 + 2 * body.length);
      const other = await (await ts.connect()).channel();
      const got = new Collector<Message>();
      await other.consume('q', got.push, { noAck: true });
      await waitFor(() => loop.count > seen + 10, 'the publisher to resume', 15_000);
      await loop.stop();
      await within(got.take(loop.count + 1), 'every message', 15_000);
    } finally {
      await ts.stop();
    }
  });
});

/** A server whose broker blocks publishers past `watermark` bytes, and a publisher on it. */
async function withAlarm(watermark: number, options: ConnectOptions = {}) {
  const ts = await startServer({ broker: new Broker({ memoryHighWatermark: watermark }) });
  const conn = await ts.connect(options);
  const ch = await conn.channel();
  await ch.declareQueue('q');
  const blocked = deferred<string>();
  conn.on('blocked', (reason: string) => blocked.resolve(reason));
  const unblocked = deferred();
  conn.on('unblocked', () => unblocked.resolve());
  return { ts, conn, ch, blocked: blocked.promise, unblocked: unblocked.promise };
}

/** Publishes `body` to 'q' in a loop, awaiting each publish as a well-behaved publisher does. */
function publishLoop(ch: Channel, body: Buffer): { readonly count: number; stop(): Promise<void> } {
  let count = 0;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      await ch.publish('', 'q', body);
      count++;
    }
  })();
  return {
    get count() {
      return count;
    },
    async stop() {
      stopped = true;
      await done;
    },
  };
}
