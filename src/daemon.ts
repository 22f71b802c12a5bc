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
import { AmqpFrontEnd, DEFAULT_AMQP_HOST, DEFAULT_AMQP_PORT } from './server/amqp/listener.js';

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
  /** The AMQP 0-9-1 listener (default 127.0.0.1:5672); absent = none. */
  amqp?: { host?: string; port?: number };
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
  /** The AMQP 0-9-1 front end, when one was asked for; `amqp.address` is where it listens. */
  readonly amqp: AmqpFrontEnd | null;
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
  // Read before any client connects, so a full disk blocks the first publisher too.
  const disk =
    store === null ? null : new DiskAlarm({ dir: store.dataDir, limitBytes: options.diskFreeLimitBytes ?? 0, log: options.log, onChange: (raised) => broker.setAlarm('disk', raised) });
  await disk?.start();
  let addr;
  let amqpAddr;
  let http: HttpListener | null = null;
  let stopping = false;
  const amqp =
    options.amqp === undefined
      ? null
      : new AmqpFrontEnd({
          broker,
          log: options.log,
          auth: server.auth,
          ...(options.channelMax !== undefined && { channelMax: options.channelMax }),
          ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
        });
  try {
    addr = await server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST);
    amqpAddr = await amqp?.listen(options.amqp?.port ?? DEFAULT_AMQP_PORT, options.amqp?.host ?? DEFAULT_AMQP_HOST);
    if (amqpAddr !== undefined) options.log.info({ host: amqpAddr.address, port: amqpAddr.port }, 'amqp listening');
    if (options.http !== undefined) {
      const listener = { protocol: 'skiff', host: addr.address, port: addr.port };
      const host = nativeHost({ server, store, disk, memoryHighWatermark: options.memoryHighWatermarkBytes ?? 0, listener, stopping: () => stopping });
      http = await HttpListener.start(host, options.http, options.log);
    }
  } catch (err) {
    disk?.stop();
    admin.stop();
    await amqp?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    throw err;
  }
  // Before 'skiff listening': whoever waits for that line finds the HTTP port already logged.
  if (http?.address != null) options.log.info({ host: http.address.address, port: http.address.port }, 'http listening');
  // One line names every protocol listener, so an operator (and a test) learns both ports from it.
  options.log.info(
    { host: addr.address, port: addr.port, ...(amqpAddr !== undefined && { amqpHost: amqpAddr.address, amqpPort: amqpAddr.port }) },
    'skiff listening',
  );
  let stopped: Promise<void> | null = null;
  return {
    server,
    broker,
    store,
    host: addr.address,
    port: addr.port,
    http,
    amqp,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        await http?.close();
        await amqp?.close();
        await server.close();
        disk?.stop();
        admin.stop();
        await store?.close();
      })()),
  };
}
