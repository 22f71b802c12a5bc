import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { startDaemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import type { StoreOptions } from '../../src/store/options.js';
import { SKIFF_BIN } from '../helpers/cli.js';
import { deferred, waitFor, within } from '../helpers/wait.js';
import { captureLog, freshDataDir, removeDataDirs, startDurable, storedMessageCount } from '../helpers/durable.js';

beforeEach(() => {
  expect.hasAssertions();
});
afterAll(removeDataDirs);

/** What starting a daemon on `dataDir` fails with: `{ code, message }`. */
async function refusal(dataDir: string, store: Partial<StoreOptions> = {}): Promise<{ code: unknown; message: unknown }> {
  try {
    const d = await startDaemon(resolveConfig({ port: 0, http: { enabled: false }, amqp: { port: 0 }, store: { dataDir, ...store } }), { log: silentLogger() });
    await d.stop();
    return { code: 'started', message: '' };
  } catch (err) {
    return { code: (err as { code?: unknown }).code, message: (err as Error).message };
  }
}

/** A data directory holding one durable queue `q` with `n` persistent messages. */
async function storeWithMessages(n: number): Promise<string> {
  const dataDir = freshDataDir();
  const d = await startDurable(dataDir);
  const ch = await (await d.connect()).channel();
  await ch.declareQueue('q', { durable: true });
  await ch.confirmSelect();
  for (let i = 0; i < n; i++) await ch.publish('', 'q', `m${i}`, { persistent: true });
  await d.stop();
  return dataDir;
}

function shardOf(dataDir: string, queue: string): number {
  const db = new Database(join(dataDir, 'topology.db'), { readonly: true });
  const shard = db.prepare('SELECT shard FROM queues WHERE name = ?').pluck().get(queue) as number;
  db.close();
  return shard;
}

function removeFile(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

describe('the store refuses to start rather than lose data', () => {
  it('an unusable data directory', async () => {
    const parent = freshDataDir();
    writeFileSync(join(parent, 'file'), 'not a directory');
    const dataDir = join(parent, 'file', 'data');
    expect(await refusal(dataDir)).toEqual({
      code: 'ERR_STORE_DIR',
      message: `cannot use data directory '${dataDir}': ENOTDIR: not a directory, mkdir '${dataDir}'`,
    });
  });

  it.skipIf(process.getuid?.() === 0)('a data directory it may not write', async () => {
    const { chmodSync } = await import('node:fs');
    const dataDir = freshDataDir();
    chmodSync(dataDir, 0o500);
    expect(await refusal(dataDir)).toEqual({
      code: 'ERR_STORE_DIR',
      message: `cannot use data directory '${dataDir}': EACCES: permission denied, access '${dataDir}'`,
    });
    chmodSync(dataDir, 0o700);
  });

  it('a second daemon on the same data directory, in this process or another', async () => {
    const dataDir = freshDataDir();
    const first = await startDurable(dataDir);
    const message = `data directory '${dataDir}' is in use by another skiff daemon (pid ${process.pid}); stop it or use another data_dir`;
    expect(await refusal(dataDir)).toEqual({ code: 'ERR_STORE_LOCKED', message });
    const child = spawn(process.execPath, [SKIFF_BIN, 'server', '--port', '0', '--data', dataDir, '--log-format', 'json'], {
      // It binds every listener before it finds the lock: any free port, so parallel tests never collide.
      env: { ...process.env, SKIFF_AMQP_PORT: '0', SKIFF_HTTP_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const code = await within(new Promise<number | null>((r) => child.on('exit', r)), 'the second daemon to give up', 15_000).finally(() => child.kill('SIGKILL'));
    expect(code).not.toBe(0);
    expect(output).toContain(message);
    // The first daemon's files are untouched by the attempt, and the lock is released on stop.
    await first.stop();
    const again = await startDurable(dataDir);
    await again.stop();
  });

  it('a store file that is not a database', async () => {
    const dataDir = freshDataDir();
    const file = join(dataDir, 'topology.db');
    const garbage = Buffer.alloc(8192, 0x5a);
    writeFileSync(file, garbage);
    expect(await refusal(dataDir)).toEqual({
      code: 'ERR_STORE_CORRUPT',
      message: `store file '${file}' is corrupt or not a database (file is not a database); refusing to start without it (restore it from a backup or move it away)`,
    });
    expect(readFileSync(file)).toEqual(garbage);
    // Refusing released the lock: the directory is usable once the file is dealt with.
    removeFile(file);
    const d = await startDurable(dataDir);
    await d.stop();
  });

  it('a corrupted page inside a queue file', async () => {
    const dataDir = await storeWithMessages(300);
    const file = join(dataDir, `queues-${shardOf(dataDir, 'q')}.db`);
    const bytes = readFileSync(file);
    // Past the header page: b-tree pages holding the messages.
    bytes.fill(0xff, 4096, bytes.length);
    writeFileSync(file, bytes);
    expect(await refusal(dataDir)).toEqual({
      code: 'ERR_STORE_CORRUPT',
      message: `store file '${file}' is corrupt or not a database (database disk image is malformed); refusing to start without it (restore it from a backup or move it away); it holds the messages of queue 'q'`,
    });
  });

  it("another program's SQLite database", async () => {
    const dataDir = freshDataDir();
    const file = join(dataDir, 'queues-1.db');
    const db = new Database(file);
    db.exec('CREATE TABLE users (name TEXT)');
    db.close();
    expect(await refusal(dataDir)).toEqual({
      code: 'ERR_STORE_FOREIGN',
      message: `store file '${file}' is not a skiff store (it has tables but no skiff application id); refusing to use it`,
    });
  });

  it('a store file written by a newer skiff', async () => {
    const dataDir = await storeWithMessages(1);
    const file = join(dataDir, 'queues-0.db');
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(await refusal(dataDir)).toEqual({
      code: 'ERR_STORE_SCHEMA',
      message: `store file '${file}' has schema version 99, newer than this skiff supports (2); upgrade skiff or restore an older backup`,
    });
  });

  it('a queue file that went missing', async () => {
    const dataDir = await storeWithMessages(3);
    const file = join(dataDir, `queues-${shardOf(dataDir, 'q')}.db`);
    removeFile(file);
    expect(await refusal(dataDir)).toEqual({
      code: 'ERR_STORE_MISSING',
      message: `queue 'q' keeps its messages in '${file}', which is missing; refusing to start without them`,
    });
  });

  it('a topology file that went missing while queue files hold messages', async () => {
    const dataDir = await storeWithMessages(3);
    const file = join(dataDir, 'topology.db');
    removeFile(file);
    expect(await refusal(dataDir)).toEqual({
      code: 'ERR_STORE_MISSING',
      message: `'${file}' is missing but the queue files hold 3 messages; refusing to start without the queues they belong to`,
    });
  });

  it('store options out of range are refused by the config, naming the key, before the store is opened', async () => {
    const dataDir = freshDataDir();
    expect(await refusal(dataDir, { syncWorkers: 0 })).toEqual({
      code: 'ERR_CONFIG',
      message: 'sync_workers: must be an integer from 1 to 64, got 0',
    });
    expect(existsSync(join(dataDir, 'topology.db'))).toBe(false);
  });
});

describe('failing checkpoints', () => {
  it('a checkpoint that fails midway is retried, and its confirm waits until it commits', async () => {
    const dataDir = freshDataDir();
    const logs = captureLog();
    const d = await startDurable(dataDir, { syncWorkers: 1, failWrites: { nth: 1, times: 3, file: 'queues' } }, logs.log);
    const ch = await (await d.connect()).channel();
    await ch.declareQueue('q', { durable: true });
    await ch.confirmSelect();
    const store = d.daemon.store;
    let atConfirm: unknown = null;
    await ch.publish('', 'q', 'precious', { persistent: true }).then(() => {
      const s = store?.stats();
      atConfirm = { failed: s?.failedCheckpoints, written: s?.written.messages, lastError: s?.lastError };
    });
    // Three failed attempts came before the confirm, then the one that committed it.
    expect(atConfirm).toEqual({ failed: 3, written: 1, lastError: null });
    const failure = await logs.next('checkpoint failed; retrying, confirms wait');
    expect({ code: failure['code'], err: failure['err'] }).toEqual({
      code: 'ERR_STORE_WRITE',
      err: `checkpoint of '${join(dataDir, 'queues-0.db')}' failed: injected write failure (SKIFF_STORE_FAIL_WRITES)`,
    });
    expect(logs.records().filter((r) => r['msg'] === 'checkpoint failed; retrying, confirms wait')).toHaveLength(1);
    await logs.next('checkpoint succeeded after retries');
    await d.stop();
    const back = await startDurable(dataDir);
    expect((await (await back.connect()).channel().then((c) => c.get('q')))?.text()).toBe('precious');
    await back.stop();
  });

  it('topology whose checkpoint fails is retried before the confirms that depend on it', async () => {
    const dataDir = freshDataDir();
    const d = await startDurable(dataDir, { syncWorkers: 1, failWrites: { nth: 1, times: 2, file: 'topology' } });
    const ch = await (await d.connect()).channel();
    await ch.declareExchange('orders', 'fanout', { durable: true });
    await ch.declareQueue('billing', { durable: true });
    await ch.bindQueue('billing', 'orders');
    await ch.confirmSelect();
    await ch.publish('orders', '', 'o1', { persistent: true });
    expect(d.daemon.store?.stats().failedCheckpoints).toBe(2);
    await d.stop();
    const back = await startDurable(dataDir);
    expect(back.daemon.broker.bindings().filter((b) => b.queue === 'billing')).toEqual([
      { exchange: 'orders', queue: 'billing', routingKey: '', arguments: {} },
    ]);
    expect(back.daemon.broker.queues.get('billing')?.messageCount).toBe(1);
    await back.stop();
  });

  it('a sync worker that dies mid-checkpoint is replaced, and the checkpoint is resent before the confirm', async () => {
    const dataDir = freshDataDir();
    const logs = captureLog();
    const d = await startDurable(dataDir, { syncWorkers: 1, failWrites: { nth: 1, times: 1, file: 'queues', exit: true } }, logs.log);
    const ch = await (await d.connect()).channel();
    await ch.declareQueue('q', { durable: true });
    await ch.confirmSelect();
    await ch.publish('', 'q', 'survivor', { persistent: true });
    const lost = await logs.next('sync worker lost; restarting it');
    expect({ worker: lost['worker'], err: lost['err'] }).toEqual({ worker: 0, err: 'sync worker 0 exited with code 1' });
    expect(d.daemon.store?.stats()).toMatchObject({ failedCheckpoints: 1, written: { messages: 1 }, confirmsWaiting: 0 });
    await d.stop();
    const back = await startDurable(dataDir);
    expect(back.daemon.broker.queues.get('q')?.messageCount).toBe(1);
    await back.stop();
  });

  it('a checkpoint that never succeeds: no confirm is sent, stop reports it, and nothing is half-written', async () => {
    const dataDir = freshDataDir();
    const logs = captureLog();
    const d = await startDurable(dataDir, { syncWorkers: 1, failWrites: { nth: 1, times: 1_000_000, file: 'queues' } }, logs.log);
    const ch = await (await d.connect({ reconnect: false })).channel();
    await ch.declareQueue('q', { durable: true });
    await ch.confirmSelect();
    const confirms = [1, 2, 3].map((i) =>
      ch.publish('', 'q', `m${i}`, { persistent: true }).then(
        () => 'acked',
        (e: Error) => e.message,
      ),
    );
    await logs.next('checkpoint failed; retrying, confirms wait');
    expect(d.daemon.store?.stats().confirmsWaiting).toBe(3);
    await expect(d.daemon.stop()).rejects.toMatchObject({
      code: 'ERR_STORE_CLOSED',
      message: `store closed with changes unwritten: checkpoint of '${join(dataDir, 'queues-0.db')}' failed: injected write failure (SKIFF_STORE_FAIL_WRITES)`,
    });
    // The shutdown closed the connection with the three confirms still unsent.
    expect(new Set(await Promise.all(confirms))).toEqual(new Set(['CONNECTION_FORCED - broker shutdown']));
    // The queue's declaration committed (topology is not failing); no message row did.
    expect(storedMessageCount(dataDir)).toBe(0);
    const back = await startDurable(dataDir);
    expect(back.daemon.broker.queues.get('q')?.messageCount).toBe(0);
    await back.stop();
  });

  it('a queue deletion that never reached the topology file leaves the queue whole, messages included', async () => {
    const dataDir = freshDataDir();
    // Topology transaction 1 declares the queue; every later one (the deletion) fails.
    const d = await startDurable(dataDir, { syncWorkers: 1, failWrites: { nth: 2, times: 1_000_000, file: 'topology' } });
    const ch = await (await d.connect()).channel();
    await ch.declareQueue('q', { durable: true });
    await ch.confirmSelect();
    for (let i = 0; i < 3; i++) await ch.publish('', 'q', `m${i}`, { persistent: true });
    expect(await ch.deleteQueue('q')).toBe(3);
    await expect(d.daemon.stop()).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
    const back = await startDurable(dataDir);
    expect(back.daemon.broker.queues.get('q')?.messageCount).toBe(3);
    await back.stop();
  });

  it('when unwritten changes pass max_pending_bytes, publishers are blocked until the store catches up', async () => {
    const dataDir = freshDataDir();
    const d = await startDurable(dataDir, {
      syncWorkers: 1,
      checkpointIntervalMs: 600_000,
      maxPendingBytes: 1024 * 1024,
      failWrites: { nth: 1, times: 3, file: 'queues' },
    });
    const conn = await d.connect();
    const ch = await conn.channel();
    await ch.declareQueue('big', { durable: true });
    const blocked = deferred<string>();
    const unblocked = deferred();
    conn.on('blocked', (reason: string) => blocked.resolve(reason));
    conn.on('unblocked', () => unblocked.resolve());
    const body = Buffer.alloc(16 * 1024, 1);
    const publishing = (async () => {
      for (let i = 0; i < 128; i++) await ch.publish('', 'big', body, { persistent: true });
    })();
    expect(await within(blocked.promise, 'the client to be told it is blocked')).toBe('store checkpoint backlog');
    const broker = d.daemon.broker;
    expect({ reasons: broker.alarmReasons, store: d.daemon.store?.stats().blockingPublishers }).toEqual({ reasons: ['store'], store: true });
    await within(unblocked.promise, 'the store to catch up and unblock');
    await within(publishing, 'every publish to go through');
    await waitFor(() => broker.queues.get('big')?.messageCount === 128, 'all 128 messages to arrive');
    expect(d.daemon.store?.stats().failedCheckpoints).toBe(3);
    await d.stop();
    expect(storedMessageCount(dataDir)).toBe(128);
  });
});
