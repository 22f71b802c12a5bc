/** Cluster settings (config keys `cluster_*`; see config.example.toml and the README's "High availability"). */
export interface ClusterOptions {
  /** Join a cluster instead of running alone (`cluster_enabled`, flag `--cluster`). */
  readonly enabled: boolean;
  /** etcd v3 client URLs, comma-separated (`cluster_etcd_endpoints`). */
  readonly etcdEndpoints: string;
  /** Names the cluster: every key lives under `/skiff/<name>/` in etcd (`cluster_name`). */
  readonly name: string;
  /** This node's name, unique in the cluster (`cluster_node_name`); '' = the host name. */
  readonly nodeName: string;
  /** The address clients and other nodes reach this node at (`cluster_advertised_host`); '' = `host`. */
  readonly advertisedHost: string;
  /** Where the replication listener binds (`cluster_replication_host`). */
  readonly replicationHost: string;
  /** The replication listener's port (`cluster_replication_port`). */
  readonly replicationPort: number;
  /** In-sync followers that must hold a change before its confirm is sent (`cluster_sync_followers`). */
  readonly syncFollowers: number;
  /** Seconds the leader's etcd lease lives without a keepalive (`cluster_lease_ttl_s`). */
  readonly leaseTtlS: number;
  /** A follower that has not acknowledged a change for this long leaves the in-sync set (`cluster_follower_timeout_ms`). */
  readonly followerTimeoutMs: number;
}

export const DEFAULT_CLUSTER_OPTIONS: ClusterOptions = {
  enabled: false,
  etcdEndpoints: 'http://127.0.0.1:2379',
  name: 'skiff',
  nodeName: '',
  advertisedHost: '',
  replicationHost: '127.0.0.1',
  replicationPort: 5690,
  syncFollowers: 1,
  leaseTtlS: 5,
  followerTimeoutMs: 5000,
};

/** `cluster_etcd_endpoints`: the problem with the list, or null. */
export function checkEtcdEndpoints(value: string): string | null {
  const list = splitList(value);
  if (list.length === 0) return 'must name at least one etcd endpoint (http://host:port)';
  for (const e of list) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      return `'${e}' is not a URL (want http://host:port)`;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return `'${e}' must start with http:// or https://`;
  }
  return null;
}

/** `cluster_name` and `cluster_node_name`: etcd key segments, so no slashes. */
export function checkName(value: string): string | null {
  return /^[A-Za-z0-9._-]{1,64}$/.test(value) ? null : `must be 1 to 64 letters, digits, '.', '_' or '-', got ${JSON.stringify(value)}`;
}

export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** `cluster_node_name`: '' (the host name) or a name as {@link checkName} wants. */
export function checkNodeName(value: string): string | null {
  return value === '' ? null : checkName(value);
}
