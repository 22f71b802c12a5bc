import { Broker } from './broker/broker.js';
import type { Logger } from './log/logger.js';
import { registerAdminMethods } from './server/admin.js';
import { GuestOnlyAuthenticator, type Authenticator } from './server/auth.js';
import { HttpListener } from './server/http/listener.js';
import { nativeHost } from './server/http/native-host.js';
import type { HttpOptions } from './server/http/options.js';
import { DiskAlarm } from './store/disk-alarm.js';
import type { StoreOptions } from './store/options.js';
import { Store } from './store/store.js';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle, type LoginThrottleOptions } from './server/login-throttle.js';
import { DEFAULT_HOST, DEFAULT_PORT, SkiffServer } from './server/server.js';
import { TlsCredentials, isLoopbackHost, listenOn, tlsListener, type TlsSettings } from './server/tls.js';
import { UserDirectory } from './server/users.js';
import type { Server as TlsServer } from 'node:tls';

export interface DaemonOptions {
  host?: string;
  port?: number;
  log: Logger;
  /** The config's users and the guest; run-time users (kept in the store) are layered over them. */
  auth?: Authenticator;
  /** How failed logins are slowed and limited per address (`login_*` keys). */
  loginThrottle?: Partial<LoginThrottleOptions>;
  /** scrypt cost of passwords set at run time (tests lower it); default auth.ts's. */
  scrypt?: { ln: number; r: number; p: number };
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
  /** TLS: the certificate for every TLS listener, and which listeners use it; absent = none. */
  tls?: DaemonTlsOptions;
}

export interface DaemonTlsOptions extends TlsSettings {
  /** The native protocol's TLS listener (`skiffs://`); null = none. Port 0 picks a free one. */
  native: { host: string; port: number } | null;
  /** Serve the HTTP listener over HTTPS (and its WebSockets as wss). */
  http: boolean;
  /** A verified client certificate's CN logs in as that user, without a password (`tls_cert_login`). */
  certLogin: boolean;
}

export interface Daemon {
  readonly server: SkiffServer;
  readonly broker: Broker;
  /** Every user who may log in, on every listener; run-time changes go through it. */
  readonly users: UserDirectory;
  /** The durable store, or null when running in memory only. `store.stats()` gives checkpoint lag. */
  readonly store: Store | null;
  readonly host: string;
  readonly port: number;
  /** The HTTP listener, when one was asked for. */
  readonly http: HttpListener | null;
  /** The native TLS listener's bound address, when there is one. */
  readonly tls: { host: string; port: number } | null;
  /** Re-reads the TLS certificate, key and CA (SIGHUP); open connections are kept. False if they could not be read. */
  reloadTls(): boolean;
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
  const users = new UserDirectory({
    base: options.auth ?? new GuestOnlyAuthenticator(),
    store,
    throttle: new LoginThrottle({ ...DEFAULT_LOGIN_THROTTLE, ...options.loginThrottle }),
    log: options.log.child({ component: 'users' }),
    ...(options.scrypt !== undefined && { scrypt: options.scrypt }),
  });
  let credentials: TlsCredentials | null = null;
  try {
    if (options.tls !== undefined) credentials = new TlsCredentials(options.tls, options.log.child({ component: 'tls' }));
  } catch (err) {
    await store?.close().catch(() => undefined);
    throw err;
  }
  const server = new SkiffServer({
    broker,
    log: options.log,
    auth: users,
    certLogin: options.tls?.certLogin ?? false,
    ...(options.frameMax !== undefined && { frameMax: options.frameMax }),
    ...(options.channelMax !== undefined && { channelMax: options.channelMax }),
    ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
  });
  const admin = registerAdminMethods(server, {
    memoryHighWatermarkBytes: options.memoryHighWatermarkBytes ?? 0,
    storeStatus: () => (store === null ? null : { ...store.stats() }),
    users,
  });
  // Read before any client connects, so a full disk blocks the first publisher too.
  const disk =
    store === null ? null : new DiskAlarm({ dir: store.dataDir, limitBytes: options.diskFreeLimitBytes ?? 0, log: options.log, onChange: (raised) => broker.setAlarm('disk', raised) });
  await disk?.start();
  let addr;
  let http: HttpListener | null = null;
  let native: TlsServer | null = null;
  let tlsAddr: { host: string; port: number } | null = null;
  let stopping = false;
  try {
    addr = await server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST);
    const listeners = [{ protocol: 'skiff', host: addr.address, port: addr.port }];
    if (credentials !== null && options.tls?.native != null) {
      native = tlsListener(credentials, (socket) => server.accept(socket), options.log.child({ listener: 'skiffs' }));
      const a = await listenOn(native, options.tls.native.port, options.tls.native.host);
      tlsAddr = { host: a.address, port: a.port };
      listeners.push({ protocol: 'skiffs', ...tlsAddr });
    }
    if (options.http !== undefined) {
      const host = nativeHost({ server, users, store, disk, memoryHighWatermark: options.memoryHighWatermarkBytes ?? 0, listeners, stopping: () => stopping });
      http = await HttpListener.start(host, options.http, options.log, options.tls?.http === true ? credentials : null);
    }
  } catch (err) {
    disk?.stop();
    admin.stop();
    await new Promise((resolve) => (native === null ? resolve(null) : native.close(resolve)));
    await server.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    throw err;
  }
  // Before 'skiff listening': whoever waits for that line finds the HTTP port already logged.
  if (http?.address != null) options.log.info({ host: http.address.address, port: http.address.port, tls: http.tls }, 'http listening');
  if (tlsAddr !== null) options.log.info(tlsAddr, 'skiffs listening');
  const clear = (what: string, host: string): void => {
    if (!isLoopbackHost(host)) options.log.warn({ host }, `the ${what} listener is plain TCP on a non-loopback address: passwords and messages travel in clear (configure tls_cert_file and use TLS)`);
  };
  clear('native', addr.address);
  if (http?.address != null && !http.tls) clear('HTTP', http.address.address);
  options.log.info({ host: addr.address, port: addr.port }, 'skiff listening');
  let stopped: Promise<void> | null = null;
  return {
    server,
    broker,
    users,
    store,
    host: addr.address,
    port: addr.port,
    http,
    tls: tlsAddr,
    reloadTls: () => credentials?.reload() ?? false,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        await http?.close();
        const tlsClosed = new Promise((resolve) => (native === null ? resolve(null) : native.close(resolve)));
        await server.close();
        await tlsClosed;
        disk?.stop();
        admin.stop();
        await store?.close();
      })()),
  };
}
