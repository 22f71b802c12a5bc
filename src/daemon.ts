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
import { WsEndpoint } from './server/websocket/endpoint.js';
import { nativeFrontEnd } from './server/websocket/front-ends.js';
import { WS_PATH, WsListener } from './server/websocket/listener.js';
import { DEFAULT_WS_OPTIONS, type WsOptions } from './server/websocket/options.js';
import { DEFAULT_FRAME_MAX } from '../protocol/index.js';

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
  /** The WebSocket endpoint: `/ws` on the HTTP listener and, with `port` ≥ 0, a port of its own. Default: on, at /ws only. */
  ws?: Partial<WsOptions>;
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
  /** The WebSocket endpoint, when enabled and mounted somewhere. */
  readonly ws: WsEndpoint | null;
  /** The WebSocket port of its own (`ws_port`), when configured. */
  readonly wsListener: WsListener | null;
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
  let http: HttpListener | null = null;
  let ws: WsEndpoint | null = null;
  let wsListener: WsListener | null = null;
  let stopping = false;
  const wsOptions: WsOptions = { ...DEFAULT_WS_OPTIONS, ...options.ws };
  try {
    addr = await server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST);
    if (options.http !== undefined) {
      const listener = { protocol: 'skiff', host: addr.address, port: addr.port };
      const host = nativeHost({ server, store, disk, memoryHighWatermark: options.memoryHighWatermarkBytes ?? 0, listener, stopping: () => stopping });
      http = await HttpListener.start(host, options.http, options.log);
    }
    if (wsOptions.enabled && (http !== null || wsOptions.port >= 0)) {
      ws = new WsEndpoint(wsOptions, options.frameMax ?? DEFAULT_FRAME_MAX, options.log.child({ listener: 'ws' }));
      ws.register('skiff', nativeFrontEnd(server));
      http?.onUpgrade(WS_PATH, ws.upgrade);
      if (wsOptions.port >= 0) wsListener = await WsListener.start(ws, wsOptions.host, wsOptions.port);
    }
  } catch (err) {
    ws?.close();
    await http?.close().catch(() => undefined);
    disk?.stop();
    admin.stop();
    await server.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    throw err;
  }
  // Before 'skiff listening': whoever waits for that line finds the HTTP port already logged.
  if (http?.address != null) options.log.info({ host: http.address.address, port: http.address.port }, 'http listening');
  if (wsListener?.address != null) options.log.info({ host: wsListener.address.address, port: wsListener.address.port, path: WS_PATH }, 'ws listening');
  options.log.info({ host: addr.address, port: addr.port }, 'skiff listening');
  let stopped: Promise<void> | null = null;
  return {
    server,
    broker,
    store,
    host: addr.address,
    port: addr.port,
    http,
    ws,
    wsListener,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        await http?.close();
        await wsListener?.close();
        // The server closes its WebSocket connections too (CONNECTION_FORCED); then the endpoint the rest.
        await server.close();
        ws?.close();
        disk?.stop();
        admin.stop();
        await store?.close();
      })()),
  };
}
