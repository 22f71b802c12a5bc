import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, type Connection } from '../../src/client/index.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { startHttpDaemon, users, type HttpDaemon } from '../helpers/http.js';
import { readAmqplib, streamArgs } from '../helpers/streams.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Streams per virtual host: the same stream name in two vhosts is two streams, with their own
 * segment files, stored consumer offsets and listings, through a restart; deleting a vhost
 * deletes its streams' files and nothing of the other's.
 */

let d: HttpDaemon | null = null;
const conns: { close(): Promise<unknown> }[] = [];
const ops = { auth: 'ops:ops-pw' };

afterEach(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await d?.stop();
  d = null;
});
afterAll(() => removeDataDirs());

async function start(dataDir: string): Promise<HttpDaemon> {
  d = await startHttpDaemon({ auth: await users([{ name: 'ops', password: 'ops-pw', admin: true }]), loginThrottle: { delayMs: 0 }, store: { dataDir } });
  return d;
}

async function stop(): Promise<void> {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await d?.stop();
  d = null;
}

async function lib(h: HttpDaemon, vhost: string): Promise<amqplib.ChannelModel> {
  const c = await amqplib.connect(`amqp://ops:ops-pw@127.0.0.1:${h.daemon.amqp?.address?.port ?? 0}/${encodeURIComponent(vhost)}`);
  c.on('error', () => undefined);
  conns.push(c);
  return c;
}

async function native(h: HttpDaemon, vhost: string): Promise<Connection> {
  const c = await connect(`skiff://ops:ops-pw@127.0.0.1:${h.daemon.port}/${encodeURIComponent(vhost)}`, { heartbeatMs: 0, reconnect: false });
  conns.push(c);
  return c;
}

/** The stream directories under the data dir (one per stream that has written a segment). */
function streamDirs(dataDir: string): string[] {
  const root = join(dataDir, 'streams');
  return existsSync(root) ? readdirSync(root).sort() : [];
}

describe('the same stream name in two vhosts', () => {
  it('is two streams: their own messages, offsets, stored consumer offsets and listings, through a restart; deleting a vhost deletes its files only', async () => {
    const dataDir = freshDataDir();
    let h = await start(dataDir);
    for (const v of ['a', 'b']) {
      expect((await h.put(`/api/vhosts/${v}`, {}, ops)).status).toBe(201);
      expect((await h.put(`/api/permissions/${v}/ops`, { configure: '.*', write: '.*', read: '.*' }, ops)).status).toBe(201);
    }
    for (const [v, n] of [['a', 5], ['b', 2]] as const) {
      const ch = await (await lib(h, v)).createConfirmChannel();
      await ch.assertQueue('s', { durable: true, arguments: streamArgs() });
      for (let i = 0; i < n; i++) ch.sendToQueue('s', Buffer.from(`${v}${i}`));
      await ch.waitForConfirms();
    }
    expect(streamDirs(dataDir)).toHaveLength(2);
    // A named consumer in a reads 3 and acks them; the same name in b reads 1.
    const named = { 'x-stream-offset': 'first', 'x-stream-consumer-name': 'billing' };
    expect((await readAmqplib(await (await lib(h, 'a')).createChannel(), 's', 3, named)).map((m) => m.body)).toEqual(['a0', 'a1', 'a2']);
    expect((await readAmqplib(await (await lib(h, 'b')).createChannel(), 's', 1, named)).map((m) => m.body)).toEqual(['b0']);
    await stop();

    h = await start(dataDir);
    const listing = async (v: string): Promise<Record<string, unknown>> => (await h.get(`/api/queues/${v}/s`, ops)).json as Record<string, unknown>;
    expect(await listing('a')).toMatchObject({ vhost: 'a', type: 'stream', messages: 5, first_offset: 0, committed_offset: 4 });
    expect(await listing('b')).toMatchObject({ vhost: 'b', type: 'stream', messages: 2, first_offset: 0, committed_offset: 1 });
    expect((await h.get('/api/queues/%2F/s', ops)).status).toBe(404);
    const nativeA = await (await native(h, 'a')).channel();
    const nativeB = await (await native(h, 'b')).channel();
    // A stored offset is the next one to read.
    expect(await nativeA.queryOffset('s', 'billing')).toBe(3);
    expect(await nativeB.queryOffset('s', 'billing')).toBe(1);
    // Each named consumer resumes after what it acked in its own vhost.
    const resume = { 'x-stream-consumer-name': 'billing' };
    expect(await readAmqplib(await (await lib(h, 'a')).createChannel(), 's', 2, resume)).toEqual([
      { body: 'a3', offset: 3 },
      { body: 'a4', offset: 4 },
    ]);
    expect(await readAmqplib(await (await lib(h, 'b')).createChannel(), 's', 1, resume)).toEqual([{ body: 'b1', offset: 1 }]);
    // Storing an offset in one vhost leaves the other's alone.
    await nativeB.storeOffset('s', 'billing', 0);
    expect(await nativeA.queryOffset('s', 'billing')).toBe(5);
    expect(await nativeB.queryOffset('s', 'billing')).toBe(0);

    // Deleting vhost a deletes its stream's directory; b's stays and serves.
    const before = streamDirs(dataDir);
    expect((await h.del('/api/vhosts/a', ops)).status).toBe(204);
    await waitFor(() => streamDirs(dataDir).length === 1, "vhost a's stream directory to go");
    expect(before).toContain(streamDirs(dataDir)[0]);
    await stop();

    h = await start(dataDir);
    expect((await h.get('/api/queues/b/s', ops)).json).toMatchObject({ type: 'stream', messages: 2 });
    expect((await readAmqplib(await (await lib(h, 'b')).createChannel(), 's', 2, { 'x-stream-offset': 'first' })).map((m) => m.body)).toEqual(['b0', 'b1']);
    expect(await (await (await native(h, 'b')).channel()).queryOffset('s', 'billing')).toBe(0);
    // A stream of the same name made again in a new vhost a starts empty, with no stored offsets.
    expect((await h.put('/api/vhosts/a', {}, ops)).status).toBe(201);
    expect((await h.put('/api/permissions/a/ops', { configure: '.*', write: '.*', read: '.*' }, ops)).status).toBe(201);
    const again = await (await lib(h, 'a')).createChannel();
    expect(await again.assertQueue('s', { durable: true, arguments: streamArgs() })).toMatchObject({ messageCount: 0 });
    expect(await (await (await native(h, 'a')).channel()).queryOffset('s', 'billing')).toBeNull();
  });
});
