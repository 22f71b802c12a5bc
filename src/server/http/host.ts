import type { ClusterStatus } from '../../../protocol/index.js';
import type { Broker } from '../../broker/broker.js';
import type { VhostDirectory } from '../vhosts.js';
import type { Session } from '../../broker/session.js';
import type { StoreStats } from '../../store/store.js';
import type { Authenticator } from '../auth.js';
import type { UserDirectory } from '../users.js';
import type { Limits } from '../limits.js';
import type { Policies } from '../policies.js';
import type { Permissions } from '../permissions.js';
import type { ClientConnection, ListenerInfo } from '../registry.js';

/** The default (and, until vhosts exist, only) virtual host. */
export const DEFAULT_VHOST = '/';

/**
 * Everything the HTTP listener knows of the rest of the daemon. It reaches the broker, the
 * client connections of every other listener, users, the store and the disk only through this,
 * so a change on the daemon's side (vhosts, a new front end) is made in the adapter that builds
 * it ({@link daemonHost}), not in the routes.
 */
export interface HttpHost {
  /** Names of the virtual hosts, `/` first. */
  vhostNames(): readonly string[];
  /** The broker serving a virtual host, or undefined for one that does not exist. */
  vhost(name: string): Broker | undefined;
  /** Where vhosts are made and deleted, with their descriptions and tags; absent = only `/`, fixed. */
  readonly vhostDirectory?: VhostDirectory;
  readonly connections: ConnectionRegistryView;
  /** The daemon's users, for HTTP basic auth (the same as on the wire). */
  readonly auth: Authenticator;
  /** Users and their tags, for `/api/users` and definitions. */
  users(): readonly UserView[];
  /** Where run-time users are added, changed and deleted (`PUT`/`DELETE /api/users/{name}`). */
  readonly userDirectory: UserDirectory;
  /** Who may do what per vhost: checked by the routes that touch objects, changed by `/api/permissions`. */
  readonly permissions: Permissions;
  /** User and vhost limits (`/api/user-limits`, `/api/vhost-limits`). */
  readonly limits: Limits;
  /** Policies and operator policies (`/api/policies`, `/api/operator-policies`, definitions). */
  readonly policies: Policies;
  readonly version: string;
  /** `skiff@<hostname>`: the node name in RabbitMQ-shaped replies. */
  readonly nodeName: string;
  /** ms since the epoch. */
  readonly startedAt: number;
  /** The other listeners (native, later AMQP), for `/api/overview` and port health checks. */
  listeners(): readonly ListenerView[];
  /** Checkpoint lag and health of the durable store; null without one. */
  storeStats(): StoreStats | null;
  /** This node's part in its cluster (`skiff server --cluster`); null when it runs alone. */
  clusterStatus?(): ClusterStatus | null;
  /** Free space of the data directory's disk (null when unknown) and `disk_free_limit`. */
  disk(): { freeBytes: number | null; limitBytes: number };
  /** The largest message (properties and body) a client of this daemon can be sent (`frame_max`). */
  readonly maxMessageBytes: number;
  /** The WebSocket endpoint's counters, when it runs (for `/metrics`). */
  websockets?(): WebSocketStatsView | null;
  /** The alarms in force (`memory`, `disk`, `store`): while any is, publishers are blocked. */
  alarms(): readonly string[];
  /** Bytes of queued messages, the figure `memory_high_watermark` applies to. */
  queuedBytes(): number;
  /** `memory_high_watermark`: queued-message bytes that block publishers; 0 = none. */
  readonly memoryHighWatermark: number;
  /** True once the daemon has begun to stop. */
  readonly stopping: boolean;
}

export interface UserView {
  readonly name: string;
  readonly admin: boolean;
  readonly tags: readonly string[];
  /** `config`, `builtin` (guest) or `runtime`. */
  readonly source: string;
  readonly passwordHash: string;
  readonly hashingAlgorithm: string;
}

/** A listener of the daemon: `{ protocol: 'skiff', host: '127.0.0.1', port: 5680 }`. */
export type ListenerView = ListenerInfo;

/** The open client connections of every listener. */
export interface ConnectionRegistryView {
  list(): Iterable<ClientConnectionView>;
  /** By id (`c12`) or by name (`127.0.0.1:50000 -> 127.0.0.1:5680`). */
  get(idOrName: string): ClientConnectionView | undefined;
  /** Closes it with CONNECTION_FORCED and `reason`; false when there is no such connection. */
  close(id: string, reason: string): boolean;
}

/** One client connection as the HTTP API shows it, whichever front end accepted it. */
export type ClientConnectionView = Omit<ClientConnection, 'close' | 'setBlocked'>;

/** What `/metrics` reports of the WebSocket endpoint. */
export interface WebSocketStatsView {
  /** WebSockets open now. */
  readonly open: number;
  /** Upgrades accepted since start. */
  readonly opened: number;
  /** Upgrades refused since start, by reason: `origin`, `connection_limit`, `subprotocol`. */
  readonly refused: Readonly<Record<string, number>>;
  /** Sockets the endpoint dropped since start, by reason: `handshake_timeout`, `idle`. */
  readonly dropped: Readonly<Record<string, number>>;
}
