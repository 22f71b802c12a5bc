import { hostname } from 'node:os';
import { ReplyCode } from '../../../protocol/index.js';
import type { DiskAlarm } from '../../store/disk-alarm.js';
import type { Store } from '../../store/store.js';
import type { Connection } from '../connection.js';
import type { SkiffServer } from '../server.js';
import type { UserDirectory } from '../users.js';
import { DEFAULT_VHOST, type ClientConnectionView, type ConnectionRegistryView, type HttpHost, type ListenerView } from './host.js';

export interface NativeHostOptions {
  server: SkiffServer;
  users: UserDirectory;
  store: Store | null;
  disk: DiskAlarm | null;
  memoryHighWatermark: number;
  /** The native listeners' bound addresses (plain, and TLS when there is one). */
  listeners: readonly ListenerView[];
  /** Read when `/api/overview` or a readiness check asks. */
  stopping(): boolean;
}

/**
 * The {@link HttpHost} of today's daemon: one native-protocol {@link SkiffServer}, one broker
 * for the vhost `/`. The one place that knows the server's internals; a shared connection
 * registry replaces `connectionsOf` when more listeners arrive.
 */
export function nativeHost(o: NativeHostOptions): HttpHost {
  const { server } = o;
  return {
    vhostNames: () => [DEFAULT_VHOST],
    vhost: (name) => (name === DEFAULT_VHOST ? server.broker : undefined),
    connections: connectionsOf(server),
    auth: server.auth,
    users: () => o.users.list(),
    userDirectory: o.users,
    version: server.version,
    nodeName: `skiff@${hostname()}`,
    startedAt: server.startedAt,
    listeners: () => o.listeners,
    storeStats: () => (o.store === null ? null : o.store.stats()),
    disk: () => ({ freeBytes: o.disk?.freeBytes ?? null, limitBytes: o.disk?.limitBytes ?? 0 }),
    // A delivery's frame also holds its header, method id, and arguments of up to three names.
    maxMessageBytes: server.frameMax - 1024,
    alarms: () => server.broker.alarmReasons,
    queuedBytes: () => server.broker.queuedBytes,
    memoryHighWatermark: o.memoryHighWatermark,
    get stopping() {
      return o.stopping();
    },
  };
}

function connectionsOf(server: SkiffServer): ConnectionRegistryView {
  const find = (idOrName: string): Connection | undefined => {
    const byId = server.connections.get(idOrName);
    if (byId !== undefined) return byId;
    for (const c of server.connections.values()) if (c.name === idOrName) return c;
    return undefined;
  };
  return {
    *list() {
      for (const c of server.connections.values()) yield view(c);
    },
    get: (idOrName) => {
      const c = find(idOrName);
      return c === undefined ? undefined : view(c);
    },
    close: (id, reason) => {
      const c = find(id);
      if (c === undefined) return false;
      c.log.info({ user: c.user, reason }, 'closed over the HTTP API');
      c.closeConnection(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
      return true;
    },
  };
}

function view(c: Connection): ClientConnectionView {
  const s = c.socket;
  const given = c.clientProperties['connectionName'];
  return {
    id: c.id,
    name: c.name,
    userProvidedName: typeof given === 'string' ? given : null,
    user: c.user,
    protocol: 'Skiff 1.0',
    peerHost: c.remoteAddress,
    peerPort: s.remotePort ?? 0,
    host: s.localAddress ?? '',
    port: s.localPort ?? 0,
    connectedAt: c.connectedAt,
    heartbeatMs: c.heartbeatMs,
    frameMax: c.frameMax,
    channelMax: c.channelMax,
    clientProperties: c.clientProperties,
    // The socket counts its own bytes: nothing is added to the frame path for these.
    bytesIn: s.bytesRead,
    bytesOut: s.bytesWritten,
    publishes: c.publishes,
    blocked: c.publishes !== 0 && c.ctx.broker.blocked,
    session: c.session,
  };
}
