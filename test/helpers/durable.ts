import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pino from 'pino';
import { connect, type ConnectOptions, type Connection } from '../../src/client/index.js';
import { resolveConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import type { StoreOptions } from '../../src/store/options.js';

/** A fresh data directory under the OS temp dir; `removeDataDirs()` deletes them all. */
const dirs: string[] = [];
export function freshDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'skiff-durable-'));
  dirs.push(d);
  return d;
}

export function removeDataDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** An in-process daemon with a store, on port 0, and the client connections opened to it. */
export interface DurableDaemon {
  readonly daemon: Daemon;
  connect(options?: ConnectOptions): Promise<Connection>;
  /** Closes the clients, then the daemon (final checkpoint). */
  stop(): Promise<void>;
}

export async function startDurable(dataDir: string, store: Partial<StoreOptions> = {}, log: Logger = silentLogger()): Promise<DurableDaemon> {
  const { failWrites, ...keys } = store;
  const config = resolveConfig({ port: 0, host: '127.0.0.1', http: { enabled: false }, amqp: { port: 0 }, store: { dataDir, ...keys } });
  const daemon = await startDaemon(config, { log, ...(failWrites != null && { storeFailWrites: failWrites }) });
  const clients: Connection[] = [];
  return {
    daemon,
    async connect(options = {}) {
      const c = await connect(`skiff://guest:guest@127.0.0.1:${daemon.port}`, { heartbeatMs: 0, ...options });
      clients.push(c);
      return c;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await daemon.stop();
    },
  };
}

/** Message rows per queue file in a stopped daemon's data directory (read-only peek). */
export function storedMessageCount(dataDir: string): number {
  let n = 0;
  for (const name of readdirSync(dataDir)) {
    if (!/^queues-\d+\.db$/.test(name)) continue;
    const db = new Database(join(dataDir, name), { readonly: true });
    n += db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
    db.close();
  }
  return n;
}

/** A logger whose JSON lines a test can read and wait for (logs are how the store reports faults). */
export interface LogCapture {
  readonly log: Logger;
  records(): Record<string, unknown>[];
  /** Resolves with the first record whose `msg` is `msg` (bounded wait). */
  next(msg: string): Promise<Record<string, unknown>>;
}

export function captureLog(): LogCapture {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'debug' }, stream);
  return {
    log,
    records: () => [...records],
    async next(msg) {
      const end = Date.now() + 10_000;
      for (;;) {
        const r = records.find((x) => x['msg'] === msg);
        if (r !== undefined) return r;
        if (Date.now() > end) throw new Error(`timed out waiting for log '${msg}'`);
        await new Promise((res) => setTimeout(res, 5));
      }
    },
  };
}
