import type { ClusterStatus } from '../../../protocol/index.js';
import { hostname } from 'node:os';
import type { Broker } from '../../broker/broker.js';
import type { VirtualHosts } from '../../broker/vhosts.js';
import type { VhostDirectory } from '../vhosts.js';
import type { DiskAlarm } from '../../store/disk-alarm.js';
import type { Store } from '../../store/store.js';
import type { Authenticator } from '../auth.js';
import type { ConnectionRegistry } from '../registry.js';
import type { UserDirectory } from '../users.js';
import type { Limits } from '../limits.js';
import type { Policies } from '../policies.js';
import type { Permissions } from '../permissions.js';
import { ReplyCode } from '../../../protocol/index.js';
import type { Logger } from '../../log/logger.js';
import { DEFAULT_VHOST, type ConnectionRegistryView, type HttpHost, type WebSocketStatsView } from './host.js';

export interface DaemonHostOptions {
  broker: Broker;
  /** Every vhost (`broker` is the default one's); absent: `broker` alone, as `/`. */
  vhosts?: VirtualHosts;
  /** Where vhosts are made and deleted (`/api/vhosts/{name}`); absent: not offered. */
  vhostDirectory?: VhostDirectory;
  registry: ConnectionRegistry;
  auth: Authenticator;
  users: UserDirectory;
  permissions: Permissions;
  limits: Limits;
  policies: Policies;
  version: string;
  startedAt: number;
  store: Store | null;
  disk: DiskAlarm | null;
  /** `frame_max`: bounds the largest message a client can be sent. */
  frameMax: number;
  memoryHighWatermark: number;
  log: Logger;
  /** Read when `/api/overview` or a readiness check asks. */
  stopping(): boolean;
  /** The WebSocket endpoint's counters, once it exists (it mounts on the HTTP listener after this). */
  websockets?(): WebSocketStatsView | null;
  /** This node's part in its cluster; absent when it runs alone. */
  clusterStatus?(): ClusterStatus;
}

/**
 * The {@link HttpHost} of the daemon: one broker for the vhost `/`, and the connections and
 * listeners of every front end from the shared {@link ConnectionRegistry}.
 */
export function daemonHost(o: DaemonHostOptions): HttpHost {
  return {
    vhostNames: () => o.vhosts?.names() ?? [DEFAULT_VHOST],
    vhost: (name) => (o.vhosts !== undefined ? o.vhosts.get(name) : name === DEFAULT_VHOST ? o.broker : undefined),
    ...(o.vhostDirectory !== undefined && { vhostDirectory: o.vhostDirectory }),
    connections: connectionsOf(o.registry, o.log),
    auth: o.auth,
    users: () => o.users.list(),
    userDirectory: o.users,
    permissions: o.permissions,
    limits: o.limits,
    policies: o.policies,
    version: o.version,
    nodeName: `skiff@${hostname()}`,
    websockets: () => o.websockets?.() ?? null,
    clusterStatus: () => o.clusterStatus?.() ?? null,
    startedAt: o.startedAt,
    listeners: () => o.registry.listeners(),
    storeStats: () => (o.store === null ? null : o.store.stats()),
    disk: () => ({ freeBytes: o.disk?.freeBytes ?? null, limitBytes: o.disk?.limitBytes ?? 0 }),
    // A delivery's frame also holds its header, method id, and arguments of up to three names.
    maxMessageBytes: o.frameMax - 1024,
    alarms: () => o.broker.alarmReasons,
    queuedBytes: () => o.broker.queuedBytes,
    memoryHighWatermark: o.memoryHighWatermark,
    get stopping() {
      return o.stopping();
    },
  };
}

function connectionsOf(registry: ConnectionRegistry, log: Logger): ConnectionRegistryView {
  return {
    list: () => registry.list(),
    get: (idOrName) => registry.get(idOrName),
    close: (id, reason) => {
      const c = registry.get(id);
      if (c === undefined) return false;
      log.info({ conn: c.id, user: c.user, protocol: c.protocol, reason }, 'closed over the HTTP API');
      c.close(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
      return true;
    },
  };
}
