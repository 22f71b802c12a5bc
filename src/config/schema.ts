import { DEFAULT_CHANNEL_MAX, DEFAULT_FRAME_MAX, DEFAULT_HEARTBEAT_MS, DEFAULT_AMQP_PORT, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TLS_PORT, DEFAULT_AMQPS_PORT, MAX_FRAME_MAX, MIN_FRAME_MAX } from '../../protocol/index.js';
import type { LogLevel } from '../log/logger.js';
import { DEFAULT_HTTP_OPTIONS, METRICS_PREFIXES, type HttpOptions } from '../server/http/options.js';
import { DEFAULT_WS_OPTIONS, checkAllowedOrigins, type WsOptions } from '../server/websocket/options.js';
import { DEFAULT_LOGIN_THROTTLE, type LoginThrottleOptions } from '../server/login-throttle.js';
import { DEFAULT_DISK_FREE_LIMIT } from '../store/disk-alarm.js';
import { DEFAULT_STORE_OPTIONS, type StoreOptions } from '../store/options.js';
import { DEFAULT_CLUSTER_OPTIONS, checkEtcdEndpoints, checkName, checkNodeName, type ClusterOptions } from '../cluster/options.js';

/** A user from the `[[users]]` tables. */
export interface UserConfig {
  readonly name: string;
  /** As printed by `skiff hash-password`; checked at load time. */
  readonly passwordHash: string;
  readonly admin: boolean;
}

/** `log_format`: json, pretty, or auto (pretty when stdout is a terminal). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** The HTTP listener's settings, and whether it runs at all (`http_enabled`). */
export interface HttpConfig extends HttpOptions {
  readonly enabled: boolean;
}

/** The WebSocket endpoint's settings; `allowedOrigins` as written (comma-separated). */
export interface WsConfig extends Omit<WsOptions, 'allowedOrigins'> {
  readonly allowedOrigins: string;
}

/** The `tls_*` keys: file paths are '' when unset; TLS listeners run only with a certificate. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly host: string;
  readonly port: number;
  /** The AMQP TLS port (`amqps://`), when the AMQP listener runs. */
  readonly amqpsPort: number;
  readonly http: boolean;
  readonly verifyPeer: boolean;
  readonly failIfNoPeerCert: boolean;
  readonly certLogin: boolean;
}

/** The AMQP 0-9-1 listener's address, and whether it runs at all (`amqp_enabled`). */
export interface AmqpConfig {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
}

/** The daemon's settings after defaults, file, flags and environment (in that order) are applied. Frozen. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatMs: number;
  /** Bytes of queued messages above which publishers are blocked; 0 = no limit. */
  readonly memoryHighWatermark: number;
  /** Free bytes on the data directory's disk below which publishers are blocked; 0 = never. */
  readonly diskFreeLimit: number;
  readonly allowGuest: boolean;
  readonly tls: Readonly<TlsConfig>;
  /** How failed logins are slowed and limited per source address. */
  readonly loginThrottle: Readonly<LoginThrottleOptions>;
  readonly users: readonly UserConfig[];
  readonly store: Readonly<StoreOptions>;
  readonly http: Readonly<HttpConfig>;
  readonly ws: Readonly<WsConfig>;
  readonly amqp: Readonly<AmqpConfig>;
  /** High availability: replicated nodes with a leader elected through etcd (`cluster_*`). */
  readonly cluster: Readonly<ClusterOptions>;
}

interface Common {
  /** The TOML key; the environment variable is `SKIFF_` + its upper case. */
  readonly key: string;
  /** Where the value goes in {@link Config}: `port`, `store.dataDir`. */
  readonly path: string;
  /** One line for config.example.toml and `--help`. */
  readonly doc: string;
}

/** One scalar key: its type, range or allowed values, and default. */
export type ScalarSpec = Common &
  (
    | { readonly type: 'int'; readonly min: number; readonly max: number; readonly default: number }
    | {
        readonly type: 'string';
        readonly default: string;
        /** '' (the default) means unset. */
        readonly optional?: boolean;
        /** Further validation: the problem with `value`, or null. */
        readonly check?: (value: string) => string | null;
      }
    | { readonly type: 'bool'; readonly default: boolean }
    | { readonly type: 'enum'; readonly values: readonly string[]; readonly default: string }
  );

const GiB = 1024 * 1024 * 1024;
const HOUR_MS = 3_600_000;

/**
 * Every scalar key, in the order of config.example.toml. Adding a key: one entry here (with its
 * place in {@link Config}, which gets the field), and its block in config.example.toml (the
 * spec-drift test holds the two together). Loading, `SKIFF_*` overrides, `--check`, error
 * messages and {@link resolveConfig} follow from the entry. `users` (an array of tables) is
 * handled on its own by the loader.
 */
export const SCALARS: readonly ScalarSpec[] = [
  { key: 'host', path: 'host', type: 'string', default: DEFAULT_HOST, doc: 'Address to listen on; 0.0.0.0 or :: for every interface.' },
  { key: 'port', path: 'port', type: 'int', min: 0, max: 65535, default: DEFAULT_PORT, doc: 'TCP port; 0 picks a free one (the "skiff listening" log line tells which).' },
  {
    key: 'tls_cert_file',
    path: 'tls.certFile',
    type: 'string',
    optional: true,
    default: '',
    doc: 'PEM certificate (chain) for every TLS listener; set it (and tls_key_file) to turn TLS on.',
  },
  { key: 'tls_key_file', path: 'tls.keyFile', type: 'string', optional: true, default: '', doc: "PEM private key of tls_cert_file's certificate." },
  {
    key: 'tls_ca_file',
    path: 'tls.caFile',
    type: 'string',
    optional: true,
    default: '',
    doc: 'PEM CA bundle that client certificates must chain to (for tls_verify_peer).',
  },
  { key: 'tls_host', path: 'tls.host', type: 'string', optional: true, default: '', doc: "Address of the native TLS listener; '' = the same as host." },
  {
    key: 'tls_port',
    path: 'tls.port',
    type: 'int',
    min: 0,
    max: 65535,
    default: DEFAULT_TLS_PORT,
    doc: 'Port of the native TLS listener (skiffs://), when tls_cert_file is set; 0 picks a free one.',
  },
  {
    key: 'amqps_port',
    path: 'tls.amqpsPort',
    type: 'int',
    min: 0,
    max: 65535,
    default: DEFAULT_AMQPS_PORT,
    doc: "Port of the AMQP TLS listener (amqps://, RabbitMQ's), when tls_cert_file is set and amqp_enabled; 0 picks a free one.",
  },
  { key: 'tls_http', path: 'tls.http', type: 'bool', default: false, doc: 'Serve the HTTP listener as HTTPS (and its WebSockets as wss) with the same certificate.' },
  { key: 'tls_verify_peer', path: 'tls.verifyPeer', type: 'bool', default: false, doc: 'Ask TLS clients for a certificate and verify it against tls_ca_file (mutual TLS).' },
  {
    key: 'tls_fail_if_no_peer_cert',
    path: 'tls.failIfNoPeerCert',
    type: 'bool',
    default: false,
    doc: 'With tls_verify_peer: refuse TLS clients that send no certificate.',
  },
  {
    key: 'tls_cert_login',
    path: 'tls.certLogin',
    type: 'bool',
    default: false,
    doc: "A verified client certificate's subject CN logs in as that user, without a password (EXTERNAL).",
  },
  { key: 'amqp_enabled', path: 'amqp.enabled', type: 'bool', default: true, doc: 'Run the AMQP 0-9-1 listener, for RabbitMQ clients (amqplib, pika, the Java client, …).' },
  { key: 'amqp_host', path: 'amqp.host', type: 'string', default: DEFAULT_HOST, doc: 'Address the AMQP listener binds; 0.0.0.0 or :: for every interface.' },
  {
    key: 'amqp_port',
    path: 'amqp.port',
    type: 'int',
    min: 0,
    max: 65535,
    default: DEFAULT_AMQP_PORT,
    doc: 'AMQP port (RabbitMQ\'s); 0 picks a free one (the "amqp listening" log line tells which).',
  },
  { key: 'http_enabled', path: 'http.enabled', type: 'bool', default: true, doc: 'Run the HTTP listener: management API, Prometheus metrics, health checks and the dashboard.' },
  { key: 'http_host', path: 'http.host', type: 'string', default: DEFAULT_HTTP_OPTIONS.host, doc: 'Address the HTTP listener binds; 0.0.0.0 or :: for every interface.' },
  {
    key: 'http_port',
    path: 'http.port',
    type: 'int',
    min: 0,
    max: 65535,
    default: DEFAULT_HTTP_OPTIONS.port,
    doc: 'HTTP port (RabbitMQ management\'s); 0 picks a free one (the "http listening" log line tells which).',
  },
  {
    key: 'http_max_body_bytes',
    path: 'http.maxBodyBytes',
    type: 'int',
    min: 1024,
    max: 1024 * 1024 * 1024,
    default: DEFAULT_HTTP_OPTIONS.maxBodyBytes,
    doc: 'Largest HTTP request body (definitions, published messages); larger ones get 413.',
  },
  {
    key: 'http_request_timeout_ms',
    path: 'http.requestTimeoutMs',
    type: 'int',
    min: 100,
    max: HOUR_MS,
    default: DEFAULT_HTTP_OPTIONS.requestTimeoutMs,
    doc: 'An HTTP request not fully received within this long gets 408 and its connection is closed.',
  },
  {
    key: 'metrics_prefix',
    path: 'http.metricsPrefix',
    type: 'enum',
    values: METRICS_PREFIXES,
    default: DEFAULT_HTTP_OPTIONS.metricsPrefix,
    doc: 'First word of every Prometheus metric name: skiff, or rabbitmq for RabbitMQ\'s dashboards and alerts.',
  },
  { key: 'metrics_public', path: 'http.metricsPublic', type: 'bool', default: DEFAULT_HTTP_OPTIONS.metricsPublic, doc: 'Serve /metrics without credentials (for scrapers that send none).' },
  {
    key: 'stats_interval_ms',
    path: 'http.statsIntervalMs',
    type: 'int',
    min: 100,
    max: HOUR_MS,
    default: DEFAULT_HTTP_OPTIONS.statsIntervalMs,
    doc: 'How often message counters are sampled into rates for the HTTP API and dashboard.',
  },
  { key: 'stats_samples', path: 'http.statsSamples', type: 'int', min: 2, max: 10_000, default: DEFAULT_HTTP_OPTIONS.statsSamples, doc: 'Samples of message rates kept as history (the overview chart).' },
  { key: 'ws_enabled', path: 'ws.enabled', type: 'bool', default: DEFAULT_WS_OPTIONS.enabled, doc: 'Serve WebSockets at /ws on the HTTP listener: subprotocol skiff (the native protocol), amqp (AMQP 0-9-1).' },
  {
    key: 'ws_port',
    path: 'ws.port',
    type: 'int',
    min: -1,
    max: 65535,
    default: DEFAULT_WS_OPTIONS.port,
    doc: 'A port of its own for WebSockets (at /ws), besides the HTTP listener\'s; -1 = none, 0 picks a free one.',
  },
  { key: 'ws_host', path: 'ws.host', type: 'string', default: DEFAULT_WS_OPTIONS.host, doc: 'Address the WebSocket port (ws_port) binds.' },
  {
    key: 'ws_allowed_origins',
    path: 'ws.allowedOrigins',
    type: 'string',
    default: '',
    optional: true,
    check: checkAllowedOrigins,
    doc: 'Comma-separated origins whose pages may open WebSockets besides the endpoint\'s own, or * for any.',
  },
  {
    key: 'ws_max_connections_per_ip',
    path: 'ws.maxConnectionsPerIp',
    type: 'int',
    min: 0,
    max: 1_000_000,
    default: DEFAULT_WS_OPTIONS.maxConnectionsPerIp,
    doc: 'Open WebSockets one IP address may hold; more are refused with 429. 0 = no limit.',
  },
  {
    key: 'ws_handshake_timeout_ms',
    path: 'ws.handshakeTimeoutMs',
    type: 'int',
    min: 100,
    max: HOUR_MS,
    default: DEFAULT_WS_OPTIONS.handshakeTimeoutMs,
    doc: 'A WebSocket that has not logged in (protocol handshake) within this long is closed.',
  },
  {
    key: 'ws_idle_timeout_ms',
    path: 'ws.idleTimeoutMs',
    type: 'int',
    min: 0,
    max: HOUR_MS,
    default: DEFAULT_WS_OPTIONS.idleTimeoutMs,
    doc: 'WebSockets are pinged every half of this; one silent for this long is dropped. 0 = never.',
  },
  {
    key: 'log_level',
    path: 'logLevel',
    type: 'enum',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    doc: 'fatal, error, warn, info, debug, trace or silent.',
  },
  { key: 'log_format', path: 'logFormat', type: 'enum', values: ['auto', 'json', 'pretty'], default: 'auto', doc: 'json, pretty, or auto (pretty when stdout is a terminal).' },
  {
    key: 'frame_max',
    path: 'frameMax',
    type: 'int',
    min: MIN_FRAME_MAX,
    max: MAX_FRAME_MAX,
    default: DEFAULT_FRAME_MAX,
    doc: 'Largest frame in bytes, which bounds the largest message; clients may ask for less.',
  },
  { key: 'channel_max', path: 'channelMax', type: 'int', min: 1, max: 65535, default: DEFAULT_CHANNEL_MAX, doc: 'Most channels per connection.' },
  {
    key: 'heartbeat_ms',
    path: 'heartbeatMs',
    type: 'int',
    min: 0,
    max: HOUR_MS,
    default: DEFAULT_HEARTBEAT_MS,
    doc: 'Heartbeat interval offered to clients; a peer silent for twice this is dropped. 0 disables.',
  },
  {
    key: 'memory_high_watermark',
    path: 'memoryHighWatermark',
    type: 'int',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: GiB,
    doc: 'Bytes of queued messages above which publishers are blocked until usage falls to 80%; 0 = no limit.',
  },
  {
    key: 'disk_free_limit',
    path: 'diskFreeLimit',
    type: 'int',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: DEFAULT_DISK_FREE_LIMIT,
    doc: 'Free bytes on the data directory\'s disk below which publishers are blocked; 0 = no limit.',
  },
  {
    key: 'allow_guest',
    path: 'allowGuest',
    type: 'bool',
    default: true,
    doc: 'The built-in guest/guest admin user, accepted from loopback addresses only.',
  },
  {
    key: 'login_failure_delay_ms',
    path: 'loginThrottle.delayMs',
    type: 'int',
    min: 0,
    max: 60_000,
    default: DEFAULT_LOGIN_THROTTLE.delayMs,
    doc: 'A refused login (any listener) is answered after this long, so guessing passwords is slow.',
  },
  {
    key: 'login_max_failures',
    path: 'loginThrottle.maxFailures',
    type: 'int',
    min: 1,
    max: 1_000_000,
    default: DEFAULT_LOGIN_THROTTLE.maxFailures,
    doc: 'Failed logins from one address within login_failure_window_ms after which its logins are refused unchecked.',
  },
  {
    key: 'login_failure_window_ms',
    path: 'loginThrottle.windowMs',
    type: 'int',
    min: 1000,
    max: 24 * HOUR_MS,
    default: DEFAULT_LOGIN_THROTTLE.windowMs,
    doc: 'The window login_max_failures counts in; an address is let in again once it has passed.',
  },
  { key: 'data_dir', path: 'store.dataDir', type: 'string', default: DEFAULT_STORE_OPTIONS.dataDir, doc: 'Directory of the SQLite store and its lock (relative to the working directory).' },
  {
    key: 'checkpoint_interval_ms',
    path: 'store.checkpointIntervalMs',
    type: 'int',
    min: 1,
    max: HOUR_MS,
    default: DEFAULT_STORE_OPTIONS.checkpointIntervalMs,
    doc: 'How often a checkpoint writes changes to disk: the loss window for unconfirmed messages.',
  },
  { key: 'sync_workers', path: 'store.syncWorkers', type: 'int', min: 1, max: 64, default: DEFAULT_STORE_OPTIONS.syncWorkers, doc: 'Worker threads writing checkpoints, each owning its own database files.' },
  {
    key: 'max_confirm_delay_ms',
    path: 'store.maxConfirmDelayMs',
    type: 'int',
    min: 0,
    max: HOUR_MS,
    default: DEFAULT_STORE_OPTIONS.maxConfirmDelayMs,
    doc: 'A waiting publisher confirm starts a checkpoint after this long; 0 = at the end of the event-loop turn.',
  },
  {
    key: 'synchronous',
    path: 'store.synchronous',
    type: 'enum',
    values: ['FULL', 'NORMAL'],
    default: DEFAULT_STORE_OPTIONS.synchronous,
    doc: 'SQLite fsync policy: FULL survives power loss, NORMAL only process crashes.',
  },
  {
    key: 'max_pending_bytes',
    path: 'store.maxPendingBytes',
    type: 'int',
    min: 1024 * 1024,
    max: Number.MAX_SAFE_INTEGER,
    default: DEFAULT_STORE_OPTIONS.maxPendingBytes,
    doc: 'Unwritten checkpoint bytes above which publishers are blocked until the store catches up.',
  },
  {
    key: 'queue_memory_budget',
    path: 'store.queueMemoryBudget',
    type: 'int',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: DEFAULT_STORE_OPTIONS.queueMemoryBudget,
    doc: 'Memory for one durable queue\'s ready messages; past it persistent ones stay on disk and are paged in. 0 = memory_high_watermark / 32.',
  },
  {
    key: 'total_queue_memory_budget',
    path: 'store.totalQueueMemoryBudget',
    type: 'int',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: DEFAULT_STORE_OPTIONS.totalQueueMemoryBudget,
    doc: 'The same for all durable queues together. 0 = memory_high_watermark / 4.',
  },
  { key: 'cluster_enabled', path: 'cluster.enabled', type: 'bool', default: DEFAULT_CLUSTER_OPTIONS.enabled, doc: 'Join a cluster (flag --cluster): replicated nodes, one leader elected through etcd.' },
  {
    key: 'cluster_etcd_endpoints',
    path: 'cluster.etcdEndpoints',
    type: 'string',
    default: DEFAULT_CLUSTER_OPTIONS.etcdEndpoints,
    check: checkEtcdEndpoints,
    doc: 'etcd v3 client URLs, comma-separated (its JSON gateway is used).',
  },
  { key: 'cluster_name', path: 'cluster.name', type: 'string', default: DEFAULT_CLUSTER_OPTIONS.name, check: checkName, doc: 'The cluster: its keys live under /skiff/<name>/ in etcd.' },
  {
    key: 'cluster_node_name',
    path: 'cluster.nodeName',
    type: 'string',
    default: DEFAULT_CLUSTER_OPTIONS.nodeName,
    optional: true,
    check: checkNodeName,
    doc: 'This node, unique in the cluster; "" = the host name.',
  },
  {
    key: 'cluster_advertised_host',
    path: 'cluster.advertisedHost',
    type: 'string',
    default: DEFAULT_CLUSTER_OPTIONS.advertisedHost,
    optional: true,
    doc: 'Address clients and other nodes reach this node at; "" = host.',
  },
  { key: 'cluster_replication_host', path: 'cluster.replicationHost', type: 'string', default: DEFAULT_CLUSTER_OPTIONS.replicationHost, doc: 'Address the replication listener binds (followers connect to the leader there).' },
  {
    key: 'cluster_replication_port',
    path: 'cluster.replicationPort',
    type: 'int',
    min: 0,
    max: 65535,
    default: DEFAULT_CLUSTER_OPTIONS.replicationPort,
    doc: 'Replication port; 0 picks a free one (the leader publishes it in etcd).',
  },
  {
    key: 'cluster_sync_followers',
    path: 'cluster.syncFollowers',
    type: 'int',
    min: 0,
    max: 16,
    default: DEFAULT_CLUSTER_OPTIONS.syncFollowers,
    doc: 'Followers that must have committed a change before its confirm goes out; 0 = asynchronous replication.',
  },
  { key: 'cluster_lease_ttl_s', path: 'cluster.leaseTtlS', type: 'int', min: 2, max: 60, default: DEFAULT_CLUSTER_OPTIONS.leaseTtlS, doc: "Seconds the leader's etcd lease outlives its last renewal: the failover time." },
  {
    key: 'cluster_follower_timeout_ms',
    path: 'cluster.followerTimeoutMs',
    type: 'int',
    min: 100,
    max: HOUR_MS,
    default: DEFAULT_CLUSTER_OPTIONS.followerTimeoutMs,
    doc: 'A follower that has acknowledged nothing for this long leaves the in-sync set (and catches up anew).',
  },
];

/** Keys of one `[[users]]` table. */
export const USER_KEYS = ['name', 'password_hash', 'admin'] as const;

/** The environment variable of a key: `data_dir` → `SKIFF_DATA_DIR`. */
export function envName(key: string): string {
  return `SKIFF_${key.toUpperCase()}`;
}
