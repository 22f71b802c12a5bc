import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/broker/clock.js';
import { connect, type Channel } from '../../src/client/index.js';
import { cleanEnv, launchServer } from '../helpers/cli.js';
import { startClockDaemon, type ClockDaemon } from '../helpers/delayed.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';
import { waitFor, within } from '../helpers/wait.js';

/**
 * Durable delayed exchanges (issue 14): persistent delayed messages are in the store once
 * confirmed, survive a stop and a `kill -9`, keep their due times across downtime (what fell
 * due meanwhile is routed at start, in order), and a large schedule lives on disk with only a
 * window of the next due messages in memory. Time is a manual clock wherever it matters.
 */

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  removeDataDirs();
});

const T0 = 1_700_000_000_000;
const DELAYED = { durable: true, arguments: { 'x-delayed-type': 'direct' } };

async function topology(ch: Channel): Promise<void> {
  await ch.declareExchange('later', 'x-delayed-message', DELAYED);
  await ch.declareQueue('due', { durable: true });
  await ch.bindQueue('due', 'later', 'k');
}

async function channel(d: ClockDaemon): Promise<Channel> {
  const ch = await (await d.native()).channel();
  await ch.confirmSelect();
  return ch;
}

async function bodies(ch: Channel, queue: string): Promise<string[]> {
  const out: string[] = [];
  for (let m = await ch.get(queue, { noAck: true }); m !== null; m = await ch.get(queue, { noAck: true })) out.push(m.text());
  return out;
}

function delayed(d: ClockDaemon, name = 'later'): number {
  const x = d.daemon.broker.exchanges.get(name) as unknown as { schedule: { count: number } } | undefined;
  return x?.schedule.count ?? -1;
}

function onDiskOnly(d: ClockDaemon, name = 'later'): number {
  const x = d.daemon.broker.exchanges.get(name) as unknown as { schedule: { storedOnly: number } } | undefined;
  return x?.schedule.storedOnly ?? -1;
}

/** Rows in a stopped daemon's delayed.db. */
function storedScheduled(dataDir: string): number {
  const db = new Database(join(dataDir, 'delayed.db'), { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM scheduled').pluck().get() as number;
  } finally {
    db.close();
  }
}

describe('durable delayed exchanges across a restart', () => {
  it('keeps persistent delayed messages (not transient ones) and routes them when due, in order', async () => {
    const dir = freshDataDir();
    let d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) });
    let ch = await channel(d);
    await topology(ch);
    await ch.publish('later', 'k', 'p-300', { persistent: true, headers: { 'x-delay': 300 } });
    await ch.publish('later', 'k', 'p-100', { persistent: true, headers: { 'x-delay': 100 } });
    await ch.publish('later', 'k', 'transient-100', { headers: { 'x-delay': 100 } });
    await ch.publish('later', 'k', 'p-100b', { persistent: true, headers: { 'x-delay': 100 } });
    await ch.publish('later', 'k', 'p-200', { persistent: true, headers: { 'x-delay': 200 } });
    expect(delayed(d)).toBe(5);
    await d.stop();
    expect(storedScheduled(dir)).toBe(4);

    d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0 + 50) });
    ch = await channel(d);
    await waitFor(() => delayed(d) === 4, 'the restored schedule');
    expect(await bodies(ch, 'due')).toEqual([]);
    d.clock.advance(50);
    expect(await bodies(ch, 'due')).toEqual(['p-100', 'p-100b']);
    d.clock.advance(200);
    expect(await bodies(ch, 'due')).toEqual(['p-200', 'p-300']);
    await d.stop();
    // Routed messages leave the store once their copies in the queue are committed.
    expect(storedScheduled(dir)).toBe(0);
  });

  it('routes at start, in due order, what fell due while the daemon was down', async () => {
    const dir = freshDataDir();
    let d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) });
    let ch = await channel(d);
    await topology(ch);
    for (const [body, delay] of [['c', 3000], ['a', 1000], ['late', 60_000], ['b', 2000]] as const) {
      await ch.publish('later', 'k', body, { persistent: true, headers: { 'x-delay': delay } });
    }
    await d.stop();
    d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0 + 10_000) });
    ch = await channel(d);
    await waitFor(() => d.daemon.broker.queues.get('due')?.messageCount === 3, 'the messages due during downtime');
    expect(await bodies(ch, 'due')).toEqual(['a', 'b', 'c']);
    expect(delayed(d)).toBe(1);
    d.clock.advance(50_000);
    expect(await bodies(ch, 'due')).toEqual(['late']);
  });

  it('deleting the exchange deletes its stored messages; one declared again under the name starts empty', async () => {
    const dir = freshDataDir();
    let d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) });
    let ch = await channel(d);
    await topology(ch);
    for (let i = 0; i < 5; i++) await ch.publish('later', 'k', `old-${i}`, { persistent: true, headers: { 'x-delay': 1000 } });
    await ch.deleteExchange('later');
    await topology(ch);
    await ch.publish('later', 'k', 'new', { persistent: true, headers: { 'x-delay': 1000 } });
    await d.stop();
    expect(storedScheduled(dir)).toBe(1);
    d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0 + 2000) });
    ch = await channel(d);
    await waitFor(() => d.daemon.broker.queues.get('due')?.messageCount === 1, 'the one message of the new exchange');
    expect(await bodies(ch, 'due')).toEqual(['new']);
    await d.stop();
  });

  it('refuses to start when delayed.db is gone under a durable delayed exchange', async () => {
    const dir = freshDataDir();
    const d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) });
    const ch = await channel(d);
    await topology(ch);
    await ch.publish('later', 'k', 'kept', { persistent: true, headers: { 'x-delay': 1000 } });
    await d.stop();
    for (const f of ['delayed.db', 'delayed.db-wal', 'delayed.db-shm']) rmSync(join(dir, f), { force: true });
    await expect(startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) })).rejects.toThrow(
      `delayed exchange 'later' keeps its messages in '${join(dir, 'delayed.db')}', which is missing; refusing to start without them`,
    );
  });

  it('a transient (non-durable) delayed exchange keeps nothing', async () => {
    const dir = freshDataDir();
    let d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) });
    const ch = await channel(d);
    await ch.declareExchange('fleeting', 'x-delayed-message', { durable: false, arguments: { 'x-delayed-type': 'fanout' } });
    await ch.publish('fleeting', '', 'gone', { persistent: true, headers: { 'x-delay': 1000 } });
    await d.stop();
    expect(storedScheduled(dir)).toBe(0);
    d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0) });
    expect(d.daemon.broker.exchanges.has('fleeting')).toBe(false);
    await d.stop();
  });
});

describe('durable delayed exchanges and kill -9', () => {
  it('every confirmed persistent delayed message survives a kill -9 and is routed, in order, once due', async () => {
    const dir = freshDataDir();
    const s = launchServer(dir, [], cleanEnv({ SKIFF_CHECKPOINT_INTERVAL_MS: '25', SKIFF_SYNC_WORKERS: '2' }));
    children.add(s.proc);
    const port = await within(s.listening, 'the daemon to listen', 20_000);
    const conn = await connect(`skiff://guest:guest@127.0.0.1:${port}`, { heartbeatMs: 0, reconnect: false });
    const ch = await conn.channel();
    await ch.confirmSelect();
    await topology(ch);
    const hour = 3_600_000;
    const sent: string[] = [];
    const confirms: Promise<void>[] = [];
    // Due times an hour out, in an order unlike publish order; equal delays keep publish order.
    for (let i = 0; i < 300; i++) {
      const body = `m-${i}`;
      sent.push(body);
      confirms.push(ch.publish('later', 'k', body, { persistent: true, headers: { 'x-delay': hour + (i % 7) * 1000 } }));
    }
    await Promise.all(confirms);
    const publishedAt = Date.now();
    s.proc.kill('SIGKILL');
    await within(s.exited, 'the killed daemon to exit', 10_000);
    await conn.close().catch(() => undefined);

    const expected = [...sent].sort((a, b) => {
      const ia = Number(a.slice(2));
      const ib = Number(b.slice(2));
      return (ia % 7) - (ib % 7) || ia - ib;
    });
    // Back before they are due: all held, none routed.
    let d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(publishedAt) });
    await waitFor(() => delayed(d) === 300, 'the restored schedule');
    expect(d.daemon.broker.queues.get('due')?.messageCount).toBe(0);
    await d.stop();
    // Back two hours later: every one was due during the downtime.
    d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(publishedAt + 2 * hour) });
    await waitFor(() => d.daemon.broker.queues.get('due')?.messageCount === 300, 'all 300 routed at start');
    const rch = await channel(d);
    expect(await bodies(rch, 'due')).toEqual(expected);
    expect(delayed(d)).toBe(0);
    await d.stop();
  });
});

describe('a large schedule in bounded memory', () => {
  it('keeps a window of the next due messages in memory, the rest in the store, and routes all in due order', async () => {
    const dir = freshDataDir();
    // A 64 KiB window: 3000 messages of ~300 B (with overhead) are mostly on disk.
    const store = { queueMemoryBudget: 64 * 1024, checkpointIntervalMs: 20 };
    let d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0), store });
    let ch = await channel(d);
    await topology(ch);
    const n = 3000;
    const body = (i: number): string => `m-${String(i).padStart(5, '0')}-${'x'.repeat(64)}`;
    // Due times scattered: (i * 7919) % n seconds, so publish order is nowhere near due order.
    const confirms: Promise<void>[] = [];
    for (let i = 0; i < n; i++) confirms.push(ch.publish('later', 'k', body(i), { persistent: true, headers: { 'x-delay': 1000 + ((i * 7919) % n) * 1000 } }));
    await Promise.all(confirms);
    await waitFor(() => d.daemon.broker.queuedBytes < 200 * 1024, 'committed messages to leave memory');
    expect(delayed(d)).toBe(n);
    expect(onDiskOnly(d)).toBeGreaterThan(n / 2);
    const expected = Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => ((a * 7919) % n) - ((b * 7919) % n))
      .map(body);
    const got: string[] = [];
    // Half now, then a restart with the rest still scheduled, then the rest.
    for (let step = 0; step < n / 2; step += 100) {
      d.clock.advance(100_000);
      await waitFor(() => (d.daemon.broker.queues.get('due')?.messageCount ?? 0) + got.length >= Math.min(n / 2, step + 100), `step ${step}`);
      for (const b of await bodies(ch, 'due')) got.push(b);
      expect(d.daemon.broker.queuedBytes).toBeLessThan(400 * 1024);
    }
    await d.stop();
    d = await startClockDaemon({ dataDir: dir, clock: new ManualClock(T0 + 1000 + (n / 2) * 1000 - 1), store });
    ch = await channel(d);
    await waitFor(() => delayed(d) === n / 2, 'the rest restored');
    expect(onDiskOnly(d)).toBeGreaterThan(0);
    for (let step = n / 2; step < n; step += 100) {
      d.clock.advance(100_000);
      await waitFor(() => (d.daemon.broker.queues.get('due')?.messageCount ?? 0) + got.length >= Math.min(n, step + 100), `step ${step}`);
      for (const b of await bodies(ch, 'due')) got.push(b);
      expect(d.daemon.broker.queuedBytes).toBeLessThan(400 * 1024);
    }
    expect(got).toEqual(expected);
    await d.stop();
  });
});
