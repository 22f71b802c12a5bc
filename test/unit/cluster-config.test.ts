import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type LoadOptions } from '../../src/config/load.js';
import { useTempDir } from '../helpers/tmp.js';

const tmp = useTempDir('skiff-cluster-config-');

function problems(options: LoadOptions): readonly string[] {
  try {
    loadConfig({ env: {}, ...options });
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
}

describe('cluster settings', () => {
  it('come from the file, flags and SKIFF_CLUSTER_* variables, the environment last', () => {
    const file = tmp.file('c.toml', 'cluster_enabled = true\ncluster_name = "prod"\ncluster_sync_followers = 2\ncluster_etcd_endpoints = "http://10.0.0.1:2379, http://10.0.0.2:2379"\n');
    const c = loadConfig({
      file,
      env: { SKIFF_CLUSTER_NODE_NAME: 'node-a', SKIFF_CLUSTER_SYNC_FOLLOWERS: '1', SKIFF_CLUSTER_REPLICATION_PORT: '7000' },
    });
    expect(c.cluster).toEqual({
      enabled: true,
      etcdEndpoints: 'http://10.0.0.1:2379, http://10.0.0.2:2379',
      name: 'prod',
      nodeName: 'node-a',
      advertisedHost: '',
      replicationHost: '127.0.0.1',
      replicationPort: 7000,
      syncFollowers: 1,
      leaseTtlS: 5,
      followerTimeoutMs: 5000,
    });
    // --cluster is the flag form of cluster_enabled.
    expect(loadConfig({ env: {}, flags: [{ key: 'cluster_enabled', flag: '--cluster', value: 'true' }] }).cluster.enabled).toBe(true);
  });

  it('bad values are refused naming the key', () => {
    const file = tmp.file(
      'bad.toml',
      [
        'cluster_etcd_endpoints = "etcd:2379"',
        'cluster_name = "a/b"',
        'cluster_node_name = "has space"',
        'cluster_sync_followers = -1',
        'cluster_lease_ttl_s = 1',
        'cluster_follower_timeout_ms = 10',
        'cluster_replication_port = 70000',
      ].join('\n'),
    );
    expect(problems({ file })).toEqual([
      `${file}:1: cluster_etcd_endpoints: 'etcd:2379' must start with http:// or https://`,
      `${file}:2: cluster_name: must be 1 to 64 letters, digits, '.', '_' or '-', got "a/b"`,
      `${file}:3: cluster_node_name: must be 1 to 64 letters, digits, '.', '_' or '-', got "has space"`,
      `${file}:4: cluster_sync_followers: must be an integer from 0 to 16, got -1`,
      `${file}:5: cluster_lease_ttl_s: must be an integer from 2 to 60, got 1`,
      `${file}:6: cluster_follower_timeout_ms: must be an integer from 100 to 3600000, got 10`,
      `${file}:7: cluster_replication_port: must be an integer from 0 to 65535, got 70000`,
    ]);
    expect(problems({ env: { SKIFF_CLUSTER_ETCD_ENDPOINTS: ' , ' } })).toEqual([
      'SKIFF_CLUSTER_ETCD_ENDPOINTS: must name at least one etcd endpoint (http://host:port)',
    ]);
    expect(problems({ env: { SKIFF_CLUSTER_ETCD_ENDPOINTS: 'http://ok:2379,not a url' } })).toEqual([
      "SKIFF_CLUSTER_ETCD_ENDPOINTS: 'not a url' is not a URL (want http://host:port)",
    ]);
  });

  it('a cluster node needs fixed client ports: clients reconnect to the leader where the others say it is', () => {
    expect(problems({ env: { SKIFF_CLUSTER_ENABLED: 'true', SKIFF_PORT: '0', SKIFF_AMQP_PORT: '0' } })).toEqual([
      'port: must not be 0 with cluster_enabled (clients reconnect to the leader at its fixed address)',
      'amqp_port: must not be 0 with cluster_enabled (clients reconnect to the leader at its fixed address)',
    ]);
    expect(problems({ env: { SKIFF_PORT: '0', SKIFF_AMQP_PORT: '0' } })).toEqual([]);
  });
});
