import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/schema.js';
import { startDaemon, type Daemon, type DaemonRuntime } from '../daemon.js';
import type { Logger } from '../log/logger.js';
import { Etcd } from './etcd.js';
import type { ClusterNodeStatus, ClusterStatus } from '../../protocol/index.js';
import { Follower, hasReplica, writeReplicaMarker } from './follower.js';
import { Leader } from './leader.js';
import { splitList } from './options.js';
import { Redirector } from './redirect.js';

/** How often a follower looks at the leader key in etcd. */
const POLL_MS = 200;
/** How often the leader checks its lease deadline (a paused process sees it at once on resume). */
const DEADLINE_CHECK_MS = 50;

/** What the leader key holds: who leads, and where clients and followers reach it. */
export interface LeaderInfo {
  readonly node: string;
  readonly native?: string;
  readonly amqp?: string | null;
  readonly http?: string | null;
  readonly replication?: string;
}

/** How often a node reports itself under `/skiff/<cluster>/nodes/` (with a lease of its own). */
const PRESENCE_MS = 1000;

/**
 * One node of a Skiff cluster (`skiff server --cluster`). It watches the leader key in etcd:
 * with no leader it campaigns (if its disk is in the in-sync set etcd records), and as leader it
 * runs the daemon with a {@link Leader} on its store; otherwise it replicates the leader
 * ({@link Follower}) and refuses clients with the leader's address ({@link Redirector}). A
 * leader whose lease lapses — etcd unreachable, or the process paused past its TTL — stops at
 * once: no confirm goes out from then on, clients are disconnected, and it becomes a follower.
 */
export class ClusterNode {
  readonly name: string;
  private readonly config: Config;
  private readonly runtime: DaemonRuntime;
  private readonly log: Logger;
  private readonly etcd: Etcd;
  private readonly prefix: string;
  private role: ClusterStatus['role'] = 'follower';
  private daemon_: Daemon | null = null;
  private leader: Leader | null = null;
  private follower: Follower | null = null;
  private leaderInfo: LeaderInfo | null = null;
  private leaderTerm = 0;
  private redirector: Redirector | null = null;
  private lease: string | null = null;
  private validUntil = 0;
  private timers: NodeJS.Timeout[] = [];
  private poll: NodeJS.Timeout | null = null;
  private busy = false;
  private stopping = false;
  private readonly waiters: (() => void)[] = [];
  private presenceLease: string | null = null;
  private presenceTimer: NodeJS.Timeout | null = null;
  private nodes: ClusterNodeStatus[] = [];

  private constructor(config: Config, runtime: DaemonRuntime) {
    this.config = config;
    this.runtime = runtime;
    const c = config.cluster;
    this.name = c.nodeName === '' ? hostname() : c.nodeName;
    this.log = runtime.log.child({ cluster: c.name, node: this.name });
    this.etcd = new Etcd(splitList(c.etcdEndpoints));
    this.prefix = `/skiff/${c.name}`;
  }

  /** Joins the cluster: binds the client ports (refusing, until this node leads) and starts watching etcd. */
  static async start(config: Config, runtime: DaemonRuntime): Promise<ClusterNode> {
    const node = new ClusterNode(config, runtime);
    await node.openRedirector();
    node.log.info({ etcd: config.cluster.etcdEndpoints, syncFollowers: config.cluster.syncFollowers }, 'cluster node started');
    node.schedule(0);
    node.presenceTimer = setInterval(() => void node.report(), PRESENCE_MS);
    void node.report();
    return node;
  }

  /** The daemon, while this node leads. */
  get daemon(): Daemon | null {
    return this.daemon_;
  }

  private get leaderKey(): string {
    return `${this.prefix}/leader`;
  }

  private get inSyncKey(): string {
    return `${this.prefix}/in-sync`;
  }

  private advertised(port: number): string {
    const c = this.config.cluster;
    return `${c.advertisedHost === '' ? this.config.host : c.advertisedHost}:${port}`;
  }

  private redirectText(): string {
    const l = this.leaderInfo;
    const where = l === null || l.native === undefined ? 'no leader is serving yet; try again shortly' : `the leader is node '${l.node}' at ${l.native}${l.amqp != null ? ` (AMQP ${l.amqp})` : ''}`;
    return `node '${this.name}' is a follower in cluster '${this.config.cluster.name}'; ${where}`;
  }

  private async openRedirector(): Promise<void> {
    const r = new Redirector(() => this.redirectText(), () => this.status());
    const c = this.config;
    try {
      await r.listen(
        { host: c.host, port: c.port },
        c.amqp.enabled ? { host: c.amqp.host, port: c.amqp.port } : null,
        c.http.enabled && c.http.port !== 0 && c.tls.http === false ? { host: c.http.host, port: c.http.port } : null,
      );
    } catch (err) {
      await r.close();
      throw err;
    }
    this.redirector = r;
  }

  /** Role changes run one at a time, in order (a step-down waits for a start that is under way). */
  private serialize(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'cluster: role change failed'));
    return run;
  }

  private chain: Promise<void> = Promise.resolve();

  private schedule(ms: number): void {
    if (this.stopping || this.poll !== null) return;
    this.poll = setTimeout(() => {
      this.poll = null;
      void this.serialize(() => this.tick())
        .catch(() => undefined) // logged by serialize
        .finally(() => {
          if (!this.leading()) this.schedule(POLL_MS);
        });
    }, ms);
  }

  /** One look at etcd: follow the leader it names, or campaign when there is none. */
  private async tick(): Promise<void> {
    if (this.stopping || this.role === 'leader') return;
    try {
      if (this.redirector === null) await this.openRedirector();
      const kv = await this.etcd.get(this.leaderKey);
      if (this.stopping) return;
      if (kv === null) {
        this.leaderInfo = null;
        if (await this.eligible()) await this.campaign();
      } else {
        const info = JSON.parse(kv.value) as LeaderInfo;
        this.leaderInfo = info;
        this.leaderTerm = kv.createRevision;
        // Our own key from before a restart lives until its lease lapses; a leader still starting has no address yet.
        if (info.node !== this.name && info.replication !== undefined) await this.follow(info, kv.createRevision);
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cluster: cannot follow or campaign yet; retrying');
    }
  }

  /** A node campaigns only from a disk etcd records as holding every confirmed change. */
  private async eligible(): Promise<boolean> {
    const kv = await this.etcd.get(this.inSyncKey);
    if (kv === null) return true; // a new cluster: nothing was ever confirmed
    const members = (JSON.parse(kv.value) as { members?: string[] }).members ?? [];
    return members.includes(this.name) && hasReplica(this.config.store.dataDir, this.config.cluster.name);
  }

  private async follow(info: LeaderInfo, term: number): Promise<void> {
    const f = this.follower;
    if (f !== null && f.term === term && !this.followerEnded) return;
    if (f !== null) {
      this.follower = null;
      await f.close();
    }
    const [host, port] = splitAddress(info.replication as string);
    this.followerEnded = false;
    const c = this.config;
    const next = new Follower(
      { cluster: c.cluster.name, node: this.name, dataDir: c.store.dataDir, syncWorkers: c.store.syncWorkers, synchronous: c.store.synchronous, log: this.log },
      { node: info.node, term, host, port },
      {
        streaming: () => this.log.info({ leader: info.node, term }, 'following the leader'),
        ended: () => {
          if (this.follower === next) this.followerEnded = true;
        },
      },
    );
    this.follower = next;
    next.start();
  }

  private followerEnded = false;

  private async campaign(): Promise<void> {
    const c = this.config.cluster;
    const lease = await this.etcd.grant(c.leaseTtlS);
    const started = performance.now();
    const { created, kv } = await this.etcd.createIfAbsent(this.leaderKey, JSON.stringify({ node: this.name } satisfies LeaderInfo), lease.id);
    if (!created || kv === null) {
      await this.etcd.revoke(lease.id).catch(() => undefined);
      return;
    }
    this.lease = lease.id;
    this.validUntil = started + lease.ttlS * 1000;
    this.leaderTerm = kv.createRevision;
    this.role = 'leader';
    this.log.info({ term: kv.createRevision }, 'elected leader');
    try {
      await this.lead(kv.createRevision);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not start leading; stepping down');
      this.stepDown('start failed');
    }
  }

  private async lead(term: number): Promise<void> {
    const c = this.config;
    this.keepAlive();
    const f = this.follower;
    this.follower = null;
    await f?.close();
    await this.redirector?.close();
    this.redirector = null;
    const leader = new Leader({
      cluster: c.cluster.name,
      node: this.name,
      term,
      syncFollowers: c.cluster.syncFollowers,
      followerTimeoutMs: c.cluster.followerTimeoutMs,
      dataDir: c.store.dataDir,
      log: this.log,
      writeInSync: (members) => this.etcd.putIfHeld(this.inSyncKey, JSON.stringify({ term, members }), this.leaderKey, term),
      deposed: (why) => this.stepDown(why),
      leaseValid: () => performance.now() < this.validUntil,
    });
    this.leader = leader;
    writeReplicaMarker(c.store.dataDir, c.cluster.name, term);
    const repl = await leader.start(c.cluster.replicationHost, c.cluster.replicationPort);
    if (!this.leading()) return;
    // Set at once: a step-down during the start stops it.
    this.daemon_ = await startDaemon(c, { ...this.runtime, replication: leader, clusterStatus: () => this.status() });
    if (!this.leading()) return;
    const daemon = this.daemon_;
    const info: LeaderInfo = {
      node: this.name,
      native: this.advertised(daemon.port),
      amqp: daemon.amqp?.address != null ? this.advertised(daemon.amqp.address.port) : null,
      http: daemon.http?.address != null ? this.advertised(daemon.http.address.port) : null,
      replication: this.advertised(repl.port),
    };
    this.leaderInfo = info;
    if (!(await this.etcd.putIfHeld(this.leaderKey, JSON.stringify(info), this.leaderKey, term, this.lease as string))) throw new Error('the leader key is gone');
    this.log.info({ term, ...info }, 'leading');
    for (const w of this.waiters.splice(0)) w();
  }

  private keepAlive(): void {
    const ttlMs = this.config.cluster.leaseTtlS * 1000;
    const every = Math.max(100, Math.floor(ttlMs / 3));
    const renew = setInterval(() => {
      const lease = this.lease;
      if (lease === null) return;
      const sent = performance.now();
      this.etcd.keepAlive(lease, every).then(
        (ttl) => {
          if (this.lease !== lease) return;
          if (ttl <= 0) return this.stepDown('the etcd lease expired');
          this.validUntil = Math.max(this.validUntil, sent + ttl * 1000);
        },
        (err: unknown) => this.log.warn({ err: (err as Error).message }, 'lease keepalive failed'),
      );
    }, every);
    const deadline = setInterval(() => {
      if (performance.now() >= this.validUntil) this.stepDown('the etcd lease could not be renewed in time');
    }, DEADLINE_CHECK_MS);
    this.timers.push(renew, deadline);
  }

  /**
   * Stops leading: at once, no confirm goes out (the replication refuses them); then, in turn
   * with any start under way, the daemon stops (clients are disconnected), the lease is given up,
   * and the node follows again.
   */
  private stepDown(why: string): void {
    if (this.role !== 'leader') return;
    this.role = 'follower';
    this.log.error({ why, term: this.leaderTerm }, 'no longer the leader: stopped serving');
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.leader?.refuse();
    void this.serialize(() => this.release())
      .catch(() => undefined) // logged by serialize
      .finally(() => this.schedule(POLL_MS));
  }

  private leading(): boolean {
    return this.role === 'leader';
  }

  /** Stops what leading started: the daemon, the replication listener, the lease. */
  private async release(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    const daemon = this.daemon_;
    this.daemon_ = null;
    await daemon?.stop().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'stopping the deposed daemon'));
    await this.leader?.stop();
    this.leader = null;
    if (lease !== null) await this.etcd.revoke(lease).catch(() => undefined);
    if (this.stopping) return;
    try {
      await this.openRedirector();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot bind the client ports yet; retrying');
    }
  }

  /** Puts this node's line under `nodes/` (its own lease, so a dead node's line goes), and reads everyone's. */
  private async report(): Promise<void> {
    try {
      const ttl = this.config.cluster.leaseTtlS;
      if (this.presenceLease === null || (await this.etcd.keepAlive(this.presenceLease, 1000)) <= 0) this.presenceLease = (await this.etcd.grant(ttl)).id;
      const f = this.follower?.status() ?? null;
      const me: ClusterNodeStatus = {
        node: this.name,
        role: this.role,
        term: this.leaderTerm,
        native: this.advertised(this.daemon_?.port ?? this.config.port),
        appliedIndex: this.role === 'leader' || f === null ? null : f.appliedIndex,
      };
      await this.etcd.put(`${this.prefix}/nodes/${this.name}`, JSON.stringify(me), this.presenceLease);
      const all = await this.etcd.list(`${this.prefix}/nodes/`);
      this.nodes = all.map((kv) => JSON.parse(kv.value) as ClusterNodeStatus).sort((a, b) => (a.node < b.node ? -1 : 1));
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'cluster: cannot report to etcd');
    }
  }

  /** Resolves once this node leads and serves (tests, embedding). */
  whenLeading(): Promise<void> {
    if (this.daemon_ !== null) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  status(): ClusterStatus {
    return {
      cluster: this.config.cluster.name,
      node: this.name,
      role: this.role,
      term: this.leaderTerm,
      leader: this.leaderInfo,
      syncFollowers: this.config.cluster.syncFollowers,
      replication: this.role === 'leader' ? (this.leader?.status() ?? null) : null,
      following: this.role === 'leader' ? null : (this.follower?.status() ?? null),
      nodes: this.nodes,
    };
  }

  /** Leaves the cluster: a leader stops its daemon and gives up its lease, so another takes over at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.poll !== null) clearTimeout(this.poll);
    if (this.presenceTimer !== null) clearInterval(this.presenceTimer);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.serialize(async () => {
      this.role = 'follower';
      await this.release();
      await this.follower?.close();
      await this.redirector?.close();
      if (this.presenceLease !== null) await this.etcd.revoke(this.presenceLease).catch(() => undefined);
    });
  }
}

function splitAddress(a: string): [string, number] {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i).replace(/^\[|\]$/g, ''), Number(a.slice(i + 1))];
}
