import { Broker } from './broker/broker.js';
import type { Logger } from './log/logger.js';
import { registerAdminMethods } from './server/admin.js';
import type { Authenticator } from './server/auth.js';
import { HttpListener } from './server/http/listener.js';
import { nativeHost } from './server/http/native-host.js';
import type { HttpOptions } from './server/http/options.js';
import { DiskAlarm } from './store/disk-alarm.js';
import type { StoreOptions } from './store/options.js';
import { Store } from './store/store.js';
import { DEFAULT_HOST, DEFAULT_PORT, SkiffServer } from './server/server.js';

export interface DaemonOptions {
  host?: string;
  port?: number;
  log: Logger;
  auth?: Authenticator;
  frameMax?: number;
  channelMax?: number;
  heartbeatMs?: number;
  memoryHighWatermarkBytes?: number;
  /** Durable store (missing keys take their defaults); absent = run in memory only (tests, embedding). */
  store?: Partial<StoreOptions>;
  /** Free bytes on the store's disk below which publishers are blocked (`disk_free_limit`); needs a store; 0 or absent = none. */
  diskFreeLimitBytes?: number;
  /** The HTTP listener (management API, metrics, health, dashboard); absent = none. */
  http?: Partial<HttpOptions>;
}

export interface Daemon {
  readonly server: SkiffServer;
  readonly broker: Broker;
  /** The durable store, or null when running in memory only. `store.stats()` gives checkpoint lag. */
  readonly store: Store | null;
  readonly host: string;
  readonly port: number;
  /** The HTTP listener, when one was asked for. */
  readonly http: HttpListener | null;
  /**
   * Graceful stop: stop accepting, close connections (their unacked messages go back to their
   * queues), run a final checkpoint, close the store and release everything. Rejects with
   * ERR_STORE_CLOSED if the final checkpoint could not be written.
   */
  stop(): Promise<void>;
}

/**
 * Builds the broker and server and binds the listeners first — a busy port fails at once, before
 * the store is opened, with nothing created in the data directory — then opens the store,
 * restores the topology and each queue's backlog counts (messages are paged in as consumers
 * need them), and only then serves connections, so no client sees a half-restored broker.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const watermark = options.memoryHighWatermarkBytes ?? 0;
  const store = options.store === undefined ? null : Store.create(options.store, options.log, watermark);
  const broker = new Broker({
    memoryHighWatermarkBytes: watermark,
    ...(store !== null && { persistence: store, pager: store }),
  });
  const server = new SkiffServer({
    broker,
    log: options.log,
    ...(options.auth !== undefined && { auth: options.auth }),
    ...(options.frameMax !== undefined && { frameMax: options.frameMax }),
    ...(options.channelMax !== undefined && { channelMax: options.channelMax }),
    ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
  });
  server.holdConnections();
  const admin = registerAdminMethods(server, {
    memoryHighWatermarkBytes: watermark,
    storeStatus: () => (store === null ? null : { ...store.stats() }),
  });
  const offPageFailures = broker.watchPageFailures((q, err, lost) => {
    if (err !== null) options.log.error({ queue: q.name, code: (err as { code?: string }).code, err: err.message }, 'cannot page in messages; the queue delivers no more of its stored backlog');
    else options.log.error({ queue: q.name, missing: lost }, 'stored messages of a queue are fewer than its counts said');
  });
  let addr;
  let http: HttpListener | null = null;
  const disk =
    store === null ? null : new DiskAlarm({ dir: store.dataDir, limitBytes: options.diskFreeLimitBytes ?? 0, log: options.log, onChange: (raised) => broker.setAlarm('disk', raised) });
  let stopping = false;
  try {
    addr = await server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST);
    if (options.http !== undefined) {
      const listener = { protocol: 'skiff', host: addr.address, port: addr.port };
      const host = nativeHost({ server, store, disk, memoryHighWatermark: watermark, listener, stopping: () => stopping });
      http = await HttpListener.start(host, options.http, options.log);
    }
    if (store !== null) {
      await store.open();
      await store.restore(broker);
      // Read before any client is served, so a full disk blocks the first publisher too.
      await disk?.start();
    }
  } catch (err) {
    disk?.stop();
    admin.stop();
    offPageFailures();
    await http?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    throw err;
  }
  server.serve();
  // Before 'skiff listening': whoever waits for that line finds the HTTP port already logged.
  if (http?.address != null) options.log.info({ host: http.address.address, port: http.address.port }, 'http listening');
  options.log.info({ host: addr.address, port: addr.port }, 'skiff listening');
  let stopped: Promise<void> | null = null;
  return {
    server,
    broker,
    store,
    host: addr.address,
    port: addr.port,
    http,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        await http?.close();
        await server.close();
        disk?.stop();
        admin.stop();
        offPageFailures();
        await store?.close();
      })()),
  };
}
