import { Broker } from './broker/broker.js';
import type { Logger } from './log/logger.js';
import { registerAdminMethods } from './server/admin.js';
import type { Authenticator } from './server/auth.js';
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
}

export interface Daemon {
  readonly server: SkiffServer;
  readonly broker: Broker;
  /** The durable store, or null when running in memory only. `store.stats()` gives checkpoint lag. */
  readonly store: Store | null;
  readonly host: string;
  readonly port: number;
  /**
   * Graceful stop: stop accepting, close connections (their unacked messages go back to their
   * queues), run a final checkpoint, close the store and release everything. Rejects with
   * ERR_STORE_CLOSED if the final checkpoint could not be written.
   */
  stop(): Promise<void>;
}

/**
 * Builds the broker and server, restores the durable store into the broker, and only then
 * starts listening, so no client ever sees a half-restored broker.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const store = options.store === undefined ? null : await Store.open(options.store, options.log);
  const broker = new Broker({
    memoryHighWatermarkBytes: options.memoryHighWatermarkBytes ?? 0,
    ...(store !== null && { persistence: store }),
  });
  try {
    if (store !== null) await store.restore(broker);
  } catch (err) {
    await store?.close().catch(() => undefined);
    throw err;
  }
  const server = new SkiffServer({
    broker,
    log: options.log,
    ...(options.auth !== undefined && { auth: options.auth }),
    ...(options.frameMax !== undefined && { frameMax: options.frameMax }),
    ...(options.channelMax !== undefined && { channelMax: options.channelMax }),
    ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
  });
  const admin = registerAdminMethods(server, {
    memoryHighWatermarkBytes: options.memoryHighWatermarkBytes ?? 0,
    storeStatus: () => (store === null ? null : { ...store.stats() }),
  });
  let addr;
  try {
    addr = await server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST);
  } catch (err) {
    admin.stop();
    await store?.close().catch(() => undefined);
    throw err;
  }
  options.log.info({ host: addr.address, port: addr.port }, 'skiff listening');
  let stopped: Promise<void> | null = null;
  return {
    server,
    broker,
    store,
    host: addr.address,
    port: addr.port,
    stop: () =>
      (stopped ??= (async () => {
        await server.close();
        admin.stop();
        await store?.close();
      })()),
  };
}
