import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/broker/clock.js';
import { Admin, ServerError, type Channel, type Message } from '../../src/client/index.js';
import { exportDefinitions, importDefinitions, parseDefinitions } from '../../src/client/definitions.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { startStreamDaemon, streamArgs, type StreamDaemon } from '../helpers/streams.js';
import { waitFor } from '../helpers/wait.js';
import { request } from '../helpers/http.js';
import { skiff } from '../helpers/cli.js';

afterAll(() => removeDataDirs());

const daemons: StreamDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
});
async function daemon(dataDir: string | null, clock?: ManualClock, http = false): Promise<StreamDaemon> {
  const d = await startStreamDaemon(dataDir, clock, {}, { http });
  daemons.push(d);
  return d;
}

/** Takes `n` messages from a stream with our client (acked), then cancels. */
async function take(ch: Channel, stream: string, n: number, args: Record<string, unknown>): Promise<Message[]> {
  const got: Message[] = [];
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const c = await ch.consume(
    stream,
    (m) => {
      if (got.length === n) return;
      got.push(m);
      m.ack();
      if (got.length === n) done();
    },
    { prefetch: 50, arguments: args },
  );
  await all;
  await c.cancel();
  return got;
}

const offsetOf = (m: Message): unknown => m.properties.headers?.['x-stream-offset'];

describe('streams from the native client', () => {
  it('declares, publishes with confirms, and consumes from first, an offset and a Date', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const d = await daemon(freshDataDir(), clock);
    const conn = await d.native();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareQueue('s', { durable: true, arguments: streamArgs() });
    await Promise.all(['a', 'b', 'c'].map((b) => ch.publish('', 's', b, { headers: { keep: b } })));
    clock.advance(60_000);
    await Promise.all(['d', 'e'].map((b) => ch.publish('', 's', b)));
    const first = await take(await conn.channel(), 's', 5, { 'x-stream-offset': 'first' });
    expect(first.map((m) => [m.text(), offsetOf(m)])).toEqual([['a', 0], ['b', 1], ['c', 2], ['d', 3], ['e', 4]]);
    // The publisher's own headers are kept beside the offset.
    expect(first[1]?.properties.headers).toEqual({ keep: 'b', 'x-stream-offset': 1 });
    expect((await take(await conn.channel(), 's', 2, { 'x-stream-offset': 3 })).map((m) => m.text())).toEqual(['d', 'e']);
    const since = new Date(1_700_000_000_000 + 30_000);
    expect((await take(await conn.channel(), 's', 2, { 'x-stream-offset': since })).map((m) => m.text())).toEqual(['d', 'e']);
    clock.advance(30_000);
    expect((await take(await conn.channel(), 's', 2, { 'x-stream-offset': '1m' })).map((m) => m.text())).toEqual(['d', 'e']);
  });

  it('refuses a consume without prefetch, and unknown consumer arguments', async () => {
    const d = await daemon(freshDataDir());
    const conn = await d.native();
    const ch = await conn.channel();
    await ch.declareQueue('s', { durable: true, arguments: streamArgs() });
    const err = await (await conn.channel()).consume('s', () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).message).toContain("consumer prefetch count is not set for 'queue 's' in vhost '/''");
    const bad = await (await conn.channel()).consume('s', () => undefined, { prefetch: 1, arguments: { 'x-stream-offset': 'yesterday' } }).catch((e: unknown) => e);
    expect((bad as ServerError).code).toBe('PRECONDITION_FAILED');
    expect((bad as ServerError).message).toContain("invalid arg 'x-stream-offset' for queue 's' in vhost '/'");
    const unknown = await (await conn.channel()).consume('s', () => undefined, { prefetch: 1, arguments: { 'x-nope': 1 } }).catch((e: unknown) => e);
    expect((unknown as ServerError).message).toContain("unknown consumer argument 'x-nope'");
  });

  it('stores and queries a consumer offset explicitly; a named consumer resumes there, also after a restart', async () => {
    const dataDir = freshDataDir();
    let d = await daemon(dataDir);
    let conn = await d.native();
    let ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareQueue('s', { durable: true, arguments: streamArgs() });
    await ch.declareQueue('plain', { durable: true });
    await Promise.all(Array.from({ length: 10 }, (_, i) => ch.publish('', 's', `m${i}`)));
    expect(await ch.queryOffset('s', 'own')).toBeNull();
    await ch.storeOffset('s', 'own', 6);
    expect(await ch.queryOffset('s', 'own')).toBe(6);
    expect((await take(await conn.channel(), 's', 2, { 'x-stream-consumer-name': 'own' })).map(offsetOf)).toEqual([6, 7]);
    // The acks moved it on; an explicit store moves it back.
    await waitFor(() => d.stream('s').storedOffsets.get('own') === 8, 'the acks to store 8');
    await ch.storeOffset('s', 'own', 3);
    // A confirm after the store covers it (kill -9 safe); a graceful restart keeps it anyway.
    await ch.publish('', 's', 'm10');
    await d.stop();
    daemons.splice(daemons.indexOf(d), 1);
    d = await daemon(dataDir);
    conn = await d.native();
    ch = await conn.channel();
    expect(await ch.queryOffset('s', 'own')).toBe(3);
    expect((await take(await conn.channel(), 's', 2, { 'x-stream-consumer-name': 'own' })).map(offsetOf)).toEqual([3, 4]);
    const notStream = await ch.storeOffset('plain', 'own', 1).catch((e: unknown) => e);
    expect((notStream as ServerError).message).toBe("PRECONDITION_FAILED - queue 'plain' in vhost '/' is not a stream");
    const ch2 = await conn.channel();
    const badName = await ch2.queryOffset('s', '').catch((e: unknown) => e);
    expect((badName as ServerError).message).toBe("PRECONDITION_FAILED - invalid arg 'x-stream-consumer-name' for queue 's' in vhost '/': expected a non-empty string of at most 255 bytes, got ''");
    const missing = await (await conn.channel()).storeOffset('nope', 'own', 1).catch((e: unknown) => e);
    expect((missing as ServerError).code).toBe('NOT_FOUND');
  });

  it('an AMQP-published message reaches a native consumer with its offset, and the reverse', async () => {
    const d = await daemon(freshDataDir());
    const amqp = await (await d.amqplib()).createConfirmChannel();
    await amqp.assertQueue('s', { durable: true, arguments: streamArgs() });
    amqp.sendToQueue('s', Buffer.from('from-amqp'), { headers: { h: 1 }, contentType: 'text/plain' });
    await amqp.waitForConfirms();
    const conn = await d.native();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.publish('', 's', 'from-native');
    const got = await take(await conn.channel(), 's', 2, { 'x-stream-offset': 'first' });
    expect(got.map((m) => [m.text(), m.properties.headers])).toEqual([
      ['from-amqp', { h: 1, 'x-stream-offset': 0 }],
      ['from-native', { 'x-stream-offset': 1 }],
    ]);
    expect(got[0]?.properties.contentType).toBe('text/plain');
  });
});

describe('streams from @cloudamqp/amqp-client', () => {
  it('consumes from first and from a timestamp, with long x-stream-offset headers', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const d = await daemon(freshDataDir(), clock);
    const conn = await d.cloudamqp();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.queueDeclare('s', { durable: true }, streamArgs());
    await ch.basicPublish('', 's', 'one');
    clock.advance(10_000);
    await ch.basicPublish('', 's', 'two');
    await ch.basicQos(10);
    const read = async (offset: unknown, n: number): Promise<[string | null, unknown][]> => {
      const c = await conn.channel();
      await c.basicQos(10);
      const got: [string | null, unknown][] = [];
      await new Promise<void>((resolve) => {
        void c.basicConsume('s', { noAck: false, args: { 'x-stream-offset': offset } }, (m) => {
          got.push([m.bodyToString(), m.properties.headers?.['x-stream-offset']]);
          void m.ack();
          if (got.length === n) resolve();
        });
      });
      await c.close();
      return got;
    };
    expect(await read('first', 2)).toEqual([['one', 0], ['two', 1]]);
    expect(await read(new Date(1_700_000_005_000), 1)).toEqual([['two', 1]]);
  });
});

describe('streams without a store, and in definitions', () => {
  it('a memory-only daemon keeps streams in memory with the same semantics', async () => {
    const d = await daemon(null);
    const conn = await d.native();
    const ch = await conn.channel();
    await ch.declareQueue('s', { durable: true, arguments: streamArgs({ 'x-max-length-bytes': 2000, 'x-stream-max-segment-size-bytes': 500 }) });
    for (let i = 0; i < 60; i++) await ch.publish('', 's', `m${i}`.padEnd(60, '.'));
    await waitFor(() => d.stream('s').messageCount > 0 && d.stream('s').bytes <= 2500, 'retention');
    const s = d.stream('s');
    const got = await take(await conn.channel(), 's', 60 - s.firstOffset, { 'x-stream-offset': 'first' });
    expect(got.map(offsetOf)).toEqual(Array.from({ length: 60 - s.firstOffset }, (_, i) => s.firstOffset + i));
  });

  it('export and import keep x-queue-type stream', async () => {
    const a = await daemon(null);
    const ca = await a.native();
    await (await ca.channel()).declareQueue('events', { durable: true, arguments: streamArgs({ 'x-max-age': '7D' }) });
    const defs = await exportDefinitions(new Admin(ca));
    expect(defs.queues).toEqual([{ name: 'events', durable: true, auto_delete: false, arguments: { 'x-max-age': '7D', 'x-queue-type': 'stream' } }]);
    const b = await daemon(null);
    const cb = await b.native();
    await importDefinitions(cb, parseDefinitions(JSON.parse(JSON.stringify(defs))));
    expect(b.stream('events').settings.maxAgeMs).toBe(7 * 86_400_000);
    const rows = await new Admin(cb).list('queues');
    expect(rows.find((r) => r.name === 'events')).toMatchObject({ type: 'stream', stream: { firstOffset: 0, lastOffset: -1, segments: 0 } });
  });
});

describe('streams in listings', () => {
  it('the HTTP API and `skiff list queues` show a stream with its offset range and consumer offsets', async () => {
    const d = await daemon(freshDataDir(), undefined, true);
    const conn = await d.native();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.declareQueue('s', { durable: true, arguments: streamArgs() });
    await ch.declareQueue('plain', { durable: true });
    await Promise.all(Array.from({ length: 10 }, (_, i) => ch.publish('', 's', `m${i}`)));
    await take(await conn.channel(), 's', 4, { 'x-stream-offset': 'first', 'x-stream-consumer-name': 'audit' });
    await waitFor(() => d.stream('s').storedOffsets.get('audit') === 4, 'the stored offset');
    const port = d.daemon.http?.address?.port ?? 0;
    const r = await request(port, 'GET', '/api/queues/%2F/s');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 's', type: 'stream', durable: true, messages: 10, committed_offset: 9, first_offset: 0, segments: 1, consumer_offsets: { audit: 4 } });
    expect(((await request(port, 'GET', '/api/queues/%2F/plain')).json as { type: string }).type).toBe('classic');
    const cli = await skiff(['list', 'queues', '-p', String(d.daemon.port)]);
    expect(cli.code).toBe(0);
    const [header, ...rows] = cli.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^name +durable +flags +ready +unacked +consumers +bytes +offsets$/);
    expect(rows.find((l) => l.startsWith('s '))).toMatch(/^s +yes +stream +10 +\d+ +0 +\d+ B +0\.\.9$/);
  });
});
