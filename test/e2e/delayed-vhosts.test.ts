import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/broker/clock.js';
import { connect, type Channel, type Connection } from '../../src/client/index.js';
import { startClockDaemon, type ClockDaemon } from '../helpers/delayed.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Delayed exchanges per virtual host (issues 14 and 15): the same delayed exchange name in two
 * vhosts is two schedules, stored apart in delayed.db, restored into their own vhost, routed
 * to their own vhost's queues; deleting a vhost drops what its exchanges held.
 */

afterAll(() => removeDataDirs());

const T0 = 1_700_000_000_000;
const DELAYED = { durable: true, arguments: { 'x-delayed-type': 'direct' } };

async function http(d: ClockDaemon, method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<number> {
  const port = d.daemon.http?.address?.port ?? 0;
  return (await request(port, method, path, { auth: 'guest:guest', ...(body !== undefined && { body }) })).status;
}

async function channelIn(d: ClockDaemon, vhost: string, conns: Connection[]): Promise<Channel> {
  const c = await connect(`skiff://guest:guest@127.0.0.1:${d.daemon.port}/${vhost}`, { heartbeatMs: 0, reconnect: false });
  conns.push(c);
  const ch = await c.channel();
  await ch.confirmSelect();
  return ch;
}

async function bodies(ch: Channel, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (let m = await ch.get(queue, { noAck: true }); m !== null; m = await ch.get(queue, { noAck: true })) out.push(m.text());
  return out;
}

function held(d: ClockDaemon, vhost: string): number {
  const x = d.daemon.vhosts.get(vhost)?.exchanges.get('later') as unknown as { schedule: { count: number } } | undefined;
  return x?.schedule.count ?? -1;
}

async function stop(d: ClockDaemon, conns: Connection[]): Promise<void> {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await d.stop();
}

function stored(dataDir: string): { scheduled: number; keys: string[] } {
  const delayed = new Database(join(dataDir, 'delayed.db'), { readonly: true });
  const topology = new Database(join(dataDir, 'topology.db'), { readonly: true });
  try {
    return {
      scheduled: delayed.prepare('SELECT count(*) FROM scheduled').pluck().get() as number,
      keys: (topology.prepare("SELECT key FROM settings WHERE kind = 'delayed-exchange' ORDER BY key").pluck().all() as string[]).map((k) => k.replace('\u0000', ' ')),
    };
  } finally {
    delayed.close();
    topology.close();
  }
}

describe('delayed exchanges in two vhosts', () => {
  it('hold and route the same exchange name apart, across a restart; deleting a vhost drops its schedule', async () => {
    const dir = freshDataDir();
    const conns: Connection[] = [];
    let d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) });
    for (const v of ['a', 'b']) {
      expect(await http(d, 'PUT', `/api/vhosts/${v}`, {})).toBe(201);
      expect(await http(d, 'PUT', `/api/permissions/${v}/guest`, { configure: '.*', write: '.*', read: '.*' })).toBe(201);
      const ch = await channelIn(d, v, conns);
      await ch.declareExchange('later', 'x-delayed-message', DELAYED);
      await ch.declareQueue('due', { durable: true });
      await ch.bindQueue('due', 'later', 'k');
    }
    const a = await channelIn(d, 'a', conns);
    const b = await channelIn(d, 'b', conns);
    await a.publish('later', 'k', 'a-100', { persistent: true, headers: { 'x-delay': 100 } });
    await a.publish('later', 'k', 'a-300', { persistent: true, headers: { 'x-delay': 300 } });
    await b.publish('later', 'k', 'b-200', { persistent: true, headers: { 'x-delay': 200 } });
    await b.publish('later', 'k', 'b-1000', { persistent: true, headers: { 'x-delay': 1000 } });
    expect([held(d, 'a'), held(d, 'b'), held(d, '/')]).toEqual([2, 2, -1]);
    await stop(d, conns);
    expect(stored(dir)).toEqual({ scheduled: 4, keys: ['a later', 'b later'] });

    d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) });
    await waitFor(() => held(d, 'a') === 2 && held(d, 'b') === 2, 'both restored schedules');
    const a2 = await channelIn(d, 'a', conns);
    const b2 = await channelIn(d, 'b', conns);
    d.clock.advance(150);
    expect([await bodies(a2, 'due'), await bodies(b2, 'due')]).toEqual([['a-100'], []]);
    d.clock.advance(100);
    expect([await bodies(a2, 'due'), await bodies(b2, 'due')]).toEqual([[], ['b-200']]);
    d.clock.advance(100);
    expect([await bodies(a2, 'due'), await bodies(b2, 'due')]).toEqual([['a-300'], []]);
    expect([held(d, 'a'), held(d, 'b')]).toEqual([0, 1]);

    // b-1000 is still held in vhost b: deleting the vhost drops it from memory and delayed.db.
    expect(await http(d, 'DELETE', '/api/vhosts/b')).toBe(204);
    d.clock.advance(1000);
    expect(await bodies(a2, 'due')).toEqual([]);
    await stop(d, conns);
    expect(stored(dir)).toEqual({ scheduled: 0, keys: ['a later'] });

    d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0 + 2000) });
    expect([held(d, 'a'), d.daemon.vhosts.has('b')]).toEqual([0, false]);
    await stop(d, conns);
  });
});
