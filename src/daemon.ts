import { Broker } from './broker/broker.js';
import type { Clock } from './broker/clock.js';
import type { Stream } from './broker/stream.js';
import { VirtualHosts } from './broker/vhosts.js';
import { VhostDirectory } from './server/vhosts.js';
import { authenticatorOf } from './config/authenticator.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log/logger.js';
import type { Authenticator } from './server/auth.js';
import type { HttpListener } from './server/http/listener.js';
import { registerAdminMethods } from './server/native/admin.js';
import { AmqpFrontEnd } from './server/amqp/front-end.js';
import { NativeFrontEnd } from './server/native/front-end.js';
import { ConnectionRegistry } from './server/registry.js';
import { DiskAlarm } from './store/disk-alarm.js';
import type { StoreOptions } from './store/options.js';
import type { ReplicationSink } from './store/replication.js';
import type { ClusterStatus } from '../protocol/index.js';
import { Store } from './store/store.js';
import type { WsEndpoint } from './server/websocket/endpoint.js';
import type { WsListener } from './server/websocket/listener.js';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { PeerInfo } from './server/peer.js';
import { LoginThrottle } from './server/login-throttle.js';
import { peerOfSocket } from './server/peer.js';
import { TlsCredentials, certificateUser, type TlsSettings, isLoopbackHost, listenOn, tlsListener } from './server/tls.js';
import { Limits } from './server/limits.js';
import { Policies } from './server/policies.js';
import { Permissions } from './server/permissions.js';
import { UserDirectory } from './server/users.js';

/** The HTTP and WebSocket listeners' modules, imported once the native and AMQP ports are bound. */
async function loadWebModules() {
  const [host, listener, endpoint, frontEnds, wsListener, wsOptions] = await Promise.all([
    import('./server/http/daemon-host.js'),
    import('./server/http/listener.js'),
    import('./server/websocket/endpoint.js'),
    import('./server/websocket/front-ends.js'),
    import('./server/websocket/listener.js'),
    import('./server/websocket/options.js'),
  ]);
  return {
    daemonHost: host.daemonHost,
    HttpListener: listener.HttpListener,
    WsEndpoint: endpoint.WsEndpoint,
    nativeFrontEnd: frontEnds.nativeFrontEnd,
    WS_PATH: wsListener.WS_PATH,
    WsListener: wsListener.WsListener,
    parseAllowedOrigins: wsOptions.parseAllowedOrigins,
  };
}

/** What a daemon needs besides its {@link Config}. */
export interface DaemonRuntime {
  readonly log: Logger;
  /** Who may log in on every listener; default: the config's `[[users]]` and `allow_guest`. */
  readonly auth?: Authenticator;
  /** Run without the durable store, leaving `data_dir` untouched (tests, embedding). */
  readonly memoryOnly?: boolean;
  /** Test hook, not a config key: the broker's time (a ManualClock) for TTLs, delayed messages and stream retention. */
  readonly clock?: Clock;
  /** Test hook, not a config key: see {@link StoreOptions.failWrites}. */
  readonly storeFailWrites?: StoreOptions['failWrites'];
  /** A cluster leader's replication (src/cluster): sees the store's committed change sets and holds confirms. */
  readonly replication?: ReplicationSink & { attach(store: Store): void };
  /** This node's part in its cluster, for status, the HTTP API and metrics. */
  readonly clusterStatus?: () => ClusterStatus;
  /** scrypt cost of passwords set at run time (tests lower it); default auth.ts's. */
  readonly scrypt?: { ln: number; r: number; p: number };
}

export interface Daemon {
  readonly config: Config;
  /** The default vhost's broker (`/`). */
  readonly broker: Broker;
  /** Every vhost's broker. */
  readonly vhosts: VirtualHosts;
  /** The vhosts as operators manage them (add, delete, list). */
  readonly vhostDirectory: VhostDirectory;
  /** Every front end's client connections and the daemon's listeners. */
  readonly registry: ConnectionRegistry;
  /** The native protocol's front end; `accept(stream, peer)` serves a stream from elsewhere. */
  readonly native: NativeFrontEnd;
  /** Every user who may log in, on every listener; run-time changes go through it. */
  readonly users: UserDirectory;
  /** What each user may do per vhost. */
  readonly permissions: Permissions;
  /** Per-user and per-vhost limits. */
  readonly limits: Limits;
  /** Policies and operator policies. */
  readonly policies: Policies;
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
  /** The native TLS listener's bound address, when `tls_cert_file` is set. */
  readonly tls: { host: string; port: number } | null;
  /** Re-reads the TLS certificate, key and CA (SIGHUP); open connections are kept. False if they could not be read. */
  reloadTls(): boolean;
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
  if (store !== null && runtime.replication !== undefined) {
    store.setReplication(runtime.replication);
    runtime.replication.attach(store);
  }
  const broker = new Broker({
    memoryHighWatermark: config.memoryHighWatermark,
    ...(store !== null && { persistence: store, pager: store, delayStore: store, streams: store.streams }),
    ...(runtime.clock !== undefined && { clock: runtime.clock }),
  });
  const vhosts = new VirtualHosts(broker);
  // Built before the store opens; each takes what the store restored before anyone is served.
  const users = new UserDirectory({
    base: runtime.auth ?? authenticatorOf(config),
    store,
    throttle: new LoginThrottle(config.loginThrottle),
    log: log.child({ component: 'users' }),
    ...(runtime.scrypt !== undefined && { scrypt: runtime.scrypt }),
  });
  const auth = users;
  const permissions = new Permissions(users, store, log.child({ component: 'permissions' }), vhosts);
  const limits = new Limits(store, log.child({ component: 'limits' }));
  const policies = new Policies(vhosts, store, log.child({ component: 'policies' }));
  // Read before anything is bound or opened: a bad certificate file is a config error, nothing else.
  const credentials = config.tls.certFile !== '' ? new TlsCredentials(tlsSettings(config), log.child({ component: 'tls' })) : null;
  const registry = new ConnectionRegistry(broker, log);
  const vhostDirectory = new VhostDirectory({ vhosts, store, registry, permissions, limits, policies, log: log.child({ component: 'vhosts' }) });
  const native = new NativeFrontEnd({
    broker,
    vhosts,
    log,
    auth,
    registry,
    certLogin: config.tls.certLogin,
    permissions,
    limits,
    frameMax: config.frameMax,
    channelMax: config.channelMax,
    heartbeatMs: config.heartbeatMs,
  });
  const amqp = config.amqp.enabled ? new AmqpFrontEnd({ broker, vhosts, log, auth, registry, permissions, limits, channelMax: config.channelMax, heartbeatMs: config.heartbeatMs }) : null;
  const admin = registerAdminMethods(native, {
    memoryHighWatermark: config.memoryHighWatermark,
    storeStatus: () => (store === null ? null : store.stats()),
    ...(runtime.clusterStatus !== undefined && { clusterStatus: runtime.clusterStatus }),
    users,
    permissions,
    policies,
    limits,
    vhosts: vhostDirectory,
  });
  const offPageFailures = broker.watchPageFailures((q, err, lost) => {
    if (err !== null) log.error({ queue: q.name, code: (err as { code?: string }).code, err: err.message }, 'cannot page in messages; the queue delivers no more of its stored backlog');
    else log.error({ queue: q.name, missing: lost }, 'stored messages of a queue are fewer than its counts said');
  });
  // A failed stream write is retried every 100 ms until it succeeds: one line per stream per
  // 10 s says so (with the attempts since the last line), not one per attempt.
  const streamFailuresLogged = new WeakMap<Stream, { at: number; unlogged: number }>();
  const offStreamFailures = broker.watchStreamFailures((stream, err) => {
    const seen = streamFailuresLogged.get(stream);
    const now = Date.now();
    if (seen !== undefined && now - seen.at < 10_000) {
      seen.unlogged++;
      return;
    }
    streamFailuresLogged.set(stream, { at: now, unlogged: 0 });
    // The failed attempts this line stands for: this one and those since the last line.
    const attempts = (seen?.unlogged ?? 0) + 1;
    log.error({ stream: stream.name, vhost: stream.vhost, attempts, err: err.message }, 'cannot write to a stream; its publishes are not confirmed until a retry succeeds');
  });
  const disk = store === null ? null : new DiskAlarm({ dir: store.dataDir, limitBytes: config.diskFreeLimit, log, onChange: (raised) => broker.setAlarm('disk', raised) });
  let addr;
  let amqpAddr;
  let http: HttpListener | null = null;
  let ws: WsEndpoint | null = null;
  let wsListener: WsListener | null = null;
  let wsPath = '';
  const tlsServers: TlsServer[] = [];
  let tlsAddr: { host: string; port: number } | null = null;
  let amqpsAddr: { host: string; port: number } | null = null;
  let stopping = false;
  const closeTls = (): Promise<unknown> => Promise.all(tlsServers.map((t) => new Promise((resolve) => t.close(resolve))));
  // TLS sockets handshaken before the store is restored wait here, as TcpListener holds plain ones.
  let heldTls: TLSSocket[] | null = [];
  const tlsAccepts = new WeakMap<TLSSocket, () => void>();
  const serveTls = (): void => {
    const held = heldTls ?? [];
    heldTls = null;
    for (const socket of held) {
      if (socket.destroyed) continue;
      tlsAccepts.get(socket)?.();
      socket.resume();
    }
  };
  /** A TLS port for a front end: its accept gets each handshaken socket and who its certificate names. */
  const tlsPort = async (protocol: string, accept: (socket: TLSSocket, peer: PeerInfo) => unknown, port: number, host: string): Promise<{ host: string; port: number }> => {
    const hand = (socket: TLSSocket): void => void accept(socket, { ...peerOfSocket(socket), certificateUser: certificateUser(socket) });
    const server = tlsListener(
      credentials as TlsCredentials,
      (socket) => {
        if (heldTls === null) return hand(socket);
        socket.pause();
        socket.on('error', () => socket.destroy());
        tlsAccepts.set(socket, () => hand(socket));
        heldTls.push(socket);
      },
      log.child({ listener: protocol }),
    );
    tlsServers.push(server);
    const a = await listenOn(server, port, host);
    registry.addListener({ protocol, host: a.address, port: a.port });
    return { host: a.address, port: a.port };
  };
  try {
    addr = await native.listen(config.port, config.host, true);
    if (credentials !== null) tlsAddr = await tlsPort('skiffs', (s, peer) => native.accept(s, peer), config.tls.port, config.tls.host === '' ? config.host : config.tls.host);
    amqpAddr = await amqp?.listen(config.amqp.port, config.amqp.host, true);
    if (credentials !== null && amqp !== null) {
      amqpsAddr = await tlsPort('amqp/ssl', (s, peer) => amqp.accept(s, peer), config.tls.amqpsPort, config.tls.host === '' ? config.amqp.host : config.tls.host);
    }
    // Loaded only now (fastify and ws take a few hundred ms): the native and AMQP ports accept
    // connections, held until the restore is done, while they load.
    const web = config.http.enabled || config.ws.enabled ? await loadWebModules() : null;
    if (web !== null && config.http.enabled) {
      const host = web.daemonHost({
        broker,
        vhosts,
        vhostDirectory,
        registry,
        auth,
        users,
        permissions,
        limits,
        policies,
        version: native.version,
        startedAt: native.startedAt,
        store,
        disk,
        frameMax: config.frameMax,
        memoryHighWatermark: config.memoryHighWatermark,
        log,
        stopping: () => stopping,
        websockets: () => ws?.stats() ?? null,
        ...(runtime.clusterStatus !== undefined && { clusterStatus: runtime.clusterStatus }),
      });
      http = await web.HttpListener.start(host, config.http, log, config.tls.http ? credentials : null);
      const bound = http.address;
      if (bound !== null) registry.addListener({ protocol: http.tls ? 'https' : 'http', host: bound.address, port: bound.port });
    }
    if (web !== null && config.ws.enabled && (http !== null || config.ws.port >= 0)) {
      // No message larger than the largest frame any subprotocol on it may send; each front end checks its own frame max.
      const maxPayload = Math.max(config.frameMax, amqp?.frameMax ?? 0);
      ws = new web.WsEndpoint({ ...config.ws, allowedOrigins: web.parseAllowedOrigins(config.ws.allowedOrigins) }, maxPayload, log.child({ listener: 'ws' }));
      ws.register('skiff', web.nativeFrontEnd(native));
      // AMQP 0-9-1 over WebSocket, as LavinMQ: subprotocol amqp, or none (@cloudamqp/amqp-client offers none).
      if (amqp !== null) ws.register('amqp', (stream) => amqp.accept(stream, stream.peer), { whenNoneOffered: true });
      // Mounted and bound now, like the other listeners (wss:// when the HTTP listener has TLS); upgrades get 503 until it serves, after the restore.
      http?.onUpgrade(web.WS_PATH, ws.upgrade);
      if (config.ws.port >= 0) {
        wsListener = await web.WsListener.start(ws, config.ws.host, config.ws.port);
        wsPath = web.WS_PATH;
        const bound = wsListener.address;
        if (bound !== null) registry.addListener({ protocol: 'ws', host: bound.address, port: bound.port });
      }
    }
    if (store !== null) {
      await store.open();
      await store.restore(vhosts);
      // A cluster leader refuses new streams and durable delayed exchanges: replication does not carry them yet.
      if (runtime.replication !== undefined) broker.shared.replicated = true;
      // Read before any client is served, so a full disk blocks the first publisher too.
      await disk?.start();
    }
    users.loadStored();
    vhostDirectory.loadStored();
    permissions.loadStored();
    limits.loadStored();
    policies.loadStored();
  } catch (err) {
    ws?.close();
    await wsListener?.close().catch(() => undefined);
    disk?.stop();
    admin.stop();
    await closeTls();
    offPageFailures();
    offStreamFailures();
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
  serveTls();
  if (amqpAddr !== undefined) log.info({ host: amqpAddr.address, port: amqpAddr.port }, 'amqp listening');
  // Before 'skiff listening': whoever waits for that line finds the HTTP port already logged.
  if (http?.address != null) log.info({ host: http.address.address, port: http.address.port, tls: http.tls }, 'http listening');
  if (wsListener?.address != null) log.info({ host: wsListener.address.address, port: wsListener.address.port, path: wsPath }, 'ws listening');
  if (tlsAddr !== null) log.info(tlsAddr, 'skiffs listening');
  if (amqpsAddr !== null) log.info(amqpsAddr, 'amqps listening');
  const clear = (what: string, host: string): void => {
    if (!isLoopbackHost(host)) log.warn({ host }, `the ${what} listener is plain TCP on a non-loopback address: passwords and messages travel in clear (set tls_cert_file and use TLS)`);
  };
  clear('native', addr.address);
  if (amqpAddr !== undefined) clear('AMQP', amqpAddr.address);
  if (http?.address != null && !http.tls) clear('HTTP', http.address.address);
  if (wsListener?.address != null) clear('WebSocket', wsListener.address.address);
  // One line names every protocol listener, so an operator (and a test) learns both ports from it.
  log.info({ host: addr.address, port: addr.port, ...(amqpAddr !== undefined && { amqpHost: amqpAddr.address, amqpPort: amqpAddr.port }) }, 'skiff listening');
  let stopped: Promise<void> | null = null;
  return {
    config,
    broker,
    vhosts,
    vhostDirectory,
    registry,
    native,
    users,
    permissions,
    limits,
    policies,
    store,
    host: addr.address,
    port: addr.port,
    http,
    tls: tlsAddr,
    reloadTls: () => credentials?.reload() ?? false,
    amqp,
    ws,
    wsListener,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        // Upgraded sockets keep a listener's close waiting: it settles once the endpoint has closed them.
        const listenersClosed = Promise.all([http?.close(), wsListener?.close()]);
        const tlsClosed = closeTls();
        // The front ends close their WebSocket connections too (CONNECTION_FORCED); the endpoint the rest.
        await amqp?.close();
        await native.close();
        ws?.close();
        await listenersClosed;
        await tlsClosed;
        registry.close();
        disk?.stop();
        admin.stop();
        offPageFailures();
        offStreamFailures();
        await store?.close();
      })()),
  };
}

function tlsSettings(config: Config): TlsSettings {
  const t = config.tls;
  return { certFile: t.certFile, keyFile: t.keyFile, caFile: t.caFile === '' ? null : t.caFile, verifyPeer: t.verifyPeer, failIfNoPeerCert: t.failIfNoPeerCert };
}
