import { Broker } from './broker/broker.js';
import { authenticatorOf } from './config/authenticator.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log/logger.js';
import type { Authenticator } from './server/auth.js';
import { daemonHost } from './server/http/daemon-host.js';
import { HttpListener } from './server/http/listener.js';
import { registerAdminMethods } from './server/native/admin.js';
import { AmqpFrontEnd } from './server/amqp/front-end.js';
import { NativeFrontEnd } from './server/native/front-end.js';
import { ConnectionRegistry } from './server/registry.js';
import { DiskAlarm } from './store/disk-alarm.js';
import type { StoreOptions } from './store/options.js';
import { Store } from './store/store.js';
import { WsEndpoint } from './server/websocket/endpoint.js';
import { nativeFrontEnd } from './server/websocket/front-ends.js';
import { WS_PATH, WsListener } from './server/websocket/listener.js';
import { parseAllowedOrigins } from './server/websocket/options.js';

/** What a daemon needs besides its {@link Config}. */
export interface DaemonRuntime {
  readonly log: Logger;
  /** Who may log in on every listener; default: the config's `[[users]]` and `allow_guest`. */
  readonly auth?: Authenticator;
  /** Run without the durable store, leaving `data_dir` untouched (tests, embedding). */
  readonly memoryOnly?: boolean;
  /** Test hook, not a config key: see {@link StoreOptions.failWrites}. */
  readonly storeFailWrites?: StoreOptions['failWrites'];
}

export interface Daemon {
  readonly config: Config;
  readonly broker: Broker;
  /** Every front end's client connections and the daemon's listeners. */
  readonly registry: ConnectionRegistry;
  /** The native protocol's front end; `accept(stream, peer)` serves a stream from elsewhere. */
  readonly native: NativeFrontEnd;
  /** The durable store, or null when running in memory only. `store.stats()` gives checkpoint lag. */
  readonly store: Store | null;
  /** The native listener's bound address. */
  readonly host: string;
  readonly port: number;
  /** The HTTP listener, unless `http_enabled` is false. */
  readonly http: HttpListener | null;
  /** The WebSocket endpoint (`ws_enabled`), when mounted on the HTTP listener or a port of its own. */
  readonly ws: WsEndpoint | null;
  /** The WebSocket port of its own (`ws_port`), when configured. */
  readonly wsListener: WsListener | null;
  /** The AMQP 0-9-1 front end, unless `amqp_enabled` is false; `amqp.address` is where it listens. */
  readonly amqp: AmqpFrontEnd | null;
  /**
   * Graceful stop: stop accepting, close connections (their unacked messages go back to their
   * queues), run a final checkpoint, close the store and release everything. Rejects with
   * ERR_STORE_CLOSED if the final checkpoint could not be written.
   */
  stop(): Promise<void>;
}

/**
 * Builds the broker and front ends from one resolved {@link Config} and binds the listeners
 * first — a busy port fails at once, before the store is opened, with nothing created in the
 * data directory — then opens the store, restores the topology and each queue's backlog counts
 * (messages are paged in as consumers need them), and only then serves connections, so no
 * client sees a half-restored broker.
 */
export async function startDaemon(config: Config, runtime: DaemonRuntime): Promise<Daemon> {
  const { log } = runtime;
  const store =
    runtime.memoryOnly === true
      ? null
      : Store.create(runtime.storeFailWrites == null ? config.store : { ...config.store, failWrites: runtime.storeFailWrites }, log, config.memoryHighWatermark);
  const broker = new Broker({
    memoryHighWatermark: config.memoryHighWatermark,
    ...(store !== null && { persistence: store, pager: store }),
  });
  const auth = runtime.auth ?? authenticatorOf(config);
  const registry = new ConnectionRegistry(broker, log);
  const native = new NativeFrontEnd({
    broker,
    log,
    auth,
    registry,
    frameMax: config.frameMax,
    channelMax: config.channelMax,
    heartbeatMs: config.heartbeatMs,
  });
  const amqp = config.amqp.enabled ? new AmqpFrontEnd({ broker, log, auth, registry, channelMax: config.channelMax, heartbeatMs: config.heartbeatMs }) : null;
  const admin = registerAdminMethods(native, {
    memoryHighWatermark: config.memoryHighWatermark,
    storeStatus: () => (store === null ? null : store.stats()),
  });
  const offPageFailures = broker.watchPageFailures((q, err, lost) => {
    if (err !== null) log.error({ queue: q.name, code: (err as { code?: string }).code, err: err.message }, 'cannot page in messages; the queue delivers no more of its stored backlog');
    else log.error({ queue: q.name, missing: lost }, 'stored messages of a queue are fewer than its counts said');
  });
  const disk = store === null ? null : new DiskAlarm({ dir: store.dataDir, limitBytes: config.diskFreeLimit, log, onChange: (raised) => broker.setAlarm('disk', raised) });
  let addr;
  let amqpAddr;
  let http: HttpListener | null = null;
  let ws: WsEndpoint | null = null;
  let wsListener: WsListener | null = null;
  let stopping = false;
  try {
    addr = await native.listen(config.port, config.host, true);
    amqpAddr = await amqp?.listen(config.amqp.port, config.amqp.host, true);
    if (config.http.enabled) {
      const host = daemonHost({
        broker,
        registry,
        auth,
        version: native.version,
        startedAt: native.startedAt,
        store,
        disk,
        frameMax: config.frameMax,
        memoryHighWatermark: config.memoryHighWatermark,
        log,
        stopping: () => stopping,
        websockets: () => ws?.stats() ?? null,
      });
      http = await HttpListener.start(host, config.http, log);
      const bound = http.address;
      if (bound !== null) registry.addListener({ protocol: 'http', host: bound.address, port: bound.port });
    }
    if (config.ws.enabled && (http !== null || config.ws.port >= 0)) {
      // No message larger than the largest frame any subprotocol on it may send; each front end checks its own frame max.
      const maxPayload = Math.max(config.frameMax, amqp?.frameMax ?? 0);
      ws = new WsEndpoint({ ...config.ws, allowedOrigins: parseAllowedOrigins(config.ws.allowedOrigins) }, maxPayload, log.child({ listener: 'ws' }));
      ws.register('skiff', nativeFrontEnd(native));
      // AMQP 0-9-1 over WebSocket, as LavinMQ: subprotocol amqp, or none (@cloudamqp/amqp-client offers none).
      if (amqp !== null) ws.register('amqp', (stream) => amqp.accept(stream, stream.peer), { whenNoneOffered: true });
      // Mounted and bound now, like the other listeners; upgrades get 503 until it serves, after the restore.
      http?.onUpgrade(WS_PATH, ws.upgrade);
      if (config.ws.port >= 0) {
        wsListener = await WsListener.start(ws, config.ws.host, config.ws.port);
        const bound = wsListener.address;
        if (bound !== null) registry.addListener({ protocol: 'ws', host: bound.address, port: bound.port });
      }
    }
    if (store !== null) {
      await store.open();
      await store.restore(broker);
      // Read before any client is served, so a full disk blocks the first publisher too.
      await disk?.start();
    }
  } catch (err) {
    ws?.close();
    await wsListener?.close().catch(() => undefined);
    disk?.stop();
    admin.stop();
    offPageFailures();
    await http?.close().catch(() => undefined);
    await amqp?.close().catch(() => undefined);
    await native.close().catch(() => undefined);
    registry.close();
    await store?.close().catch(() => undefined);
    throw err;
  }
  native.serve();
  amqp?.serve();
  ws?.serve();
  if (amqpAddr !== undefined) log.info({ host: amqpAddr.address, port: amqpAddr.port }, 'amqp listening');
  // Before 'skiff listening': whoever waits for that line finds the HTTP port already logged.
  if (http?.address != null) log.info({ host: http.address.address, port: http.address.port }, 'http listening');
  if (wsListener?.address != null) log.info({ host: wsListener.address.address, port: wsListener.address.port, path: WS_PATH }, 'ws listening');
  // One line names every protocol listener, so an operator (and a test) learns both ports from it.
  log.info({ host: addr.address, port: addr.port, ...(amqpAddr !== undefined && { amqpHost: amqpAddr.address, amqpPort: amqpAddr.port }) }, 'skiff listening');
  let stopped: Promise<void> | null = null;
  return {
    config,
    broker,
    registry,
    native,
    store,
    host: addr.address,
    port: addr.port,
    http,
    amqp,
    ws,
    wsListener,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        // Upgraded sockets keep a listener's close waiting: it settles once the endpoint has closed them.
        const listenersClosed = Promise.all([http?.close(), wsListener?.close()]);
        // The front ends close their WebSocket connections too (CONNECTION_FORCED); the endpoint the rest.
        await amqp?.close();
        await native.close();
        ws?.close();
        await listenersClosed;
        registry.close();
        disk?.stop();
        admin.stop();
        offPageFailures();
        await store?.close();
      })()),
  };
}
