import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync, existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join, resolve as resolvePath } from 'node:path';
import type { Logger } from '../log/logger.js';
import { ReplicaStore, type ChangeSet } from '../store/replica.js';
import { Frame, FrameReader, decodeChangeSet, indexFrame, jsonFrame, type ReceivedFrame } from './wire.js';

/** Written beside the store files once a snapshot is installed: a disk without it never campaigns. */
export const REPLICA_MARKER = 'cluster-replica.json';

export interface FollowerOptions {
  readonly cluster: string;
  readonly node: string;
  readonly dataDir: string;
  readonly syncWorkers: number;
  readonly synchronous: 'FULL' | 'NORMAL';
  readonly log: Logger;
}

/** The leader a follower replicates, as etcd names it. */
export interface LeaderAddress {
  readonly node: string;
  readonly term: number;
  readonly host: string;
  readonly port: number;
}

export interface FollowerStatus {
  readonly leader: string;
  readonly term: number;
  readonly state: 'connecting' | 'snapshot' | 'streaming';
  readonly appliedIndex: number;
  readonly receivedIndex: number;
  readonly applying: number;
}

/** Whether `dataDir` holds a replica installed for `cluster` (or this node led it). */
export function hasReplica(dataDir: string, cluster: string): boolean {
  const file = join(resolvePath(dataDir), REPLICA_MARKER);
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { cluster?: unknown }).cluster === cluster;
  } catch {
    return false;
  }
}

export function writeReplicaMarker(dataDir: string, cluster: string, term: number): void {
  const dir = resolvePath(dataDir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, REPLICA_MARKER), `${JSON.stringify({ cluster, term, at: new Date().toISOString() })}\n`);
}

/**
 * One follower's replication from one leader (one term): receives a snapshot of every file,
 * installs it in place of its own, then applies each change set to its replica and acknowledges
 * it once committed on its disk. Any frame of another term, any failure, ends it (`ended`);
 * the node starts a new one, with a new snapshot.
 */
export class Follower {
  private readonly o: FollowerOptions;
  private readonly log: Logger;
  private readonly leader: LeaderAddress;
  private socket: Socket | null = null;
  private state: FollowerStatus['state'] = 'connecting';
  private replica: ReplicaStore | null = null;
  private readonly incoming: string;
  private readonly files = new Map<number, { fd: number; path: string }>();
  private readonly done = new Map<number, string>();
  /** Change sets received before the snapshot was installed. */
  private early: { index: number; set: ChangeSet }[] = [];
  /** Indexes sent to the replica, in order, and whether each has committed. */
  private readonly applying: { index: number; committed: boolean }[] = [];
  private acked = 0;
  private received = 0;
  private ended = false;
  private installing = false;
  private readonly onEnd: (err: Error | null) => void;
  private onStreaming: (() => void) | null;

  constructor(o: FollowerOptions, leader: LeaderAddress, events: { streaming: () => void; ended: (err: Error | null) => void }) {
    this.o = o;
    this.leader = leader;
    this.log = o.log.child({ component: 'follower', leader: leader.node, term: leader.term });
    this.incoming = join(resolvePath(o.dataDir), '.incoming');
    this.onEnd = events.ended;
    this.onStreaming = events.streaming;
  }

  get term(): number {
    return this.leader.term;
  }

  get leaderNode(): string {
    return this.leader.node;
  }

  get streaming(): boolean {
    return this.state === 'streaming' && !this.ended;
  }

  start(): void {
    const socket = connect({ host: this.leader.host, port: this.leader.port, noDelay: true });
    this.socket = socket;
    const reader = new FrameReader();
    socket.on('connect', () => socket.write(jsonFrame(Frame.HELLO, this.leader.term, { cluster: this.o.cluster, node: this.o.node })));
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (f) => this.onFrame(f));
      } catch (err) {
        this.end(err as Error);
      }
    });
    socket.on('error', (err) => this.end(err));
    socket.on('close', () => this.end(new Error('the leader closed the replication connection')));
  }

  private onFrame(f: ReceivedFrame): void {
    if (this.ended) return;
    // The fencing token: only the term etcd named is obeyed.
    if (f.term !== this.leader.term) {
      this.end(new Error(`frame of term ${f.term} from a leader of term ${this.leader.term}; refused`));
      return;
    }
    switch (f.type) {
      case Frame.WELCOME:
        this.state = 'snapshot';
        rmSync(this.incoming, { recursive: true, force: true });
        mkdirSync(this.incoming, { recursive: true });
        // The disk is about to be replaced: until the new copy is installed it must not campaign.
        rmSync(join(resolvePath(this.o.dataDir), REPLICA_MARKER), { force: true });
        this.log.info('receiving snapshot');
        return;
      case Frame.FILE_CHUNK: {
        const shard = f.body.readInt32BE(0);
        let file = this.files.get(shard);
        if (file === undefined) {
          const path = join(this.incoming, `${shard === -1 ? 'topology' : `queues-${shard}`}.db`);
          file = { fd: openSync(path, 'w'), path };
          this.files.set(shard, file);
        }
        writeSync(file.fd, f.body, 4);
        return;
      }
      case Frame.FILE_END: {
        const shard = f.body.readInt32BE(0);
        const file = this.files.get(shard);
        if (file === undefined) {
          // An empty file: VACUUM INTO never writes less than a page, so this cannot be; refuse it.
          this.end(new Error(`snapshot of shard ${shard} is empty`));
          return;
        }
        fsyncSync(file.fd);
        closeSync(file.fd);
        this.files.delete(shard);
        this.done.set(shard, file.path);
        return;
      }
      case Frame.CHANGE: {
        const index = f.body.readDoubleBE(0);
        const set = decodeChangeSet(f.body.subarray(8));
        this.received = index;
        if (this.state !== 'streaming' || this.installing) this.early.push({ index, set });
        else this.apply(index, set);
        return;
      }
      case Frame.SNAPSHOT_END: {
        const { upTo } = JSON.parse(f.body.toString('utf8')) as { upTo: number };
        void this.install(upTo).catch((err: unknown) => this.end(err as Error));
        return;
      }
      case Frame.REFUSE:
        this.end(new Error(`the leader refused: ${f.body.toString('utf8')}`));
        return;
      default:
        this.end(new Error(`unexpected replication frame ${f.type}`));
    }
  }

  private async install(upTo: number): Promise<void> {
    this.installing = true;
    this.state = 'streaming';
    if (this.replica !== null) await this.replica.close();
    this.replica = null;
    if (this.ended) return;
    ReplicaStore.install(this.o.dataDir, this.done);
    this.done.clear();
    this.replica = await ReplicaStore.open({ dataDir: this.o.dataDir, syncWorkers: this.o.syncWorkers, synchronous: this.o.synchronous }, this.log);
    if (this.ended) {
      await this.replica.close();
      return;
    }
    writeReplicaMarker(this.o.dataDir, this.o.cluster, this.leader.term);
    this.installing = false;
    this.acked = upTo;
    const early = this.early;
    this.early = [];
    for (const e of early) this.apply(e.index, e.set);
    this.advance();
    this.sendAck();
    this.log.info({ upTo, early: early.length }, 'snapshot installed; streaming');
    this.onStreaming?.();
    this.onStreaming = null;
  }

  private apply(index: number, set: ChangeSet): void {
    const replica = this.replica;
    if (replica === null) return;
    const slot = { index, committed: false };
    this.applying.push(slot);
    replica.apply(set, index, (err) => {
      if (err !== null) {
        this.end(err);
        return;
      }
      slot.committed = true;
      if (this.advance()) this.sendAck();
    });
  }

  /** Moves the acknowledged index past every committed change set at the front. */
  private advance(): boolean {
    let moved = false;
    while (this.applying.length !== 0 && (this.applying[0] as { committed: boolean }).committed) {
      const s = this.applying.shift() as { index: number };
      if (s.index > this.acked) this.acked = s.index;
      moved = true;
    }
    return moved;
  }

  private sendAck(): void {
    if (!this.ended) this.socket?.write(indexFrame(Frame.ACK, this.leader.term, this.acked, null));
  }

  private end(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    // A leader not listening yet (or gone) is retried every poll: not worth a warning each time.
    if (err !== null) {
      const refused = (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
      this.log[refused || this.state === 'connecting' ? 'debug' : 'warn']({ err: err.message }, 'replication ended');
    }
    this.socket?.destroy();
    for (const f of this.files.values()) closeSync(f.fd);
    this.files.clear();
    this.onEnd(err);
  }

  /** Ends replication and closes the replica (its files are then the node's to restore or replace). */
  async close(): Promise<void> {
    this.end(null);
    const r = this.replica;
    this.replica = null;
    await r?.close();
  }

  status(): FollowerStatus {
    return { leader: this.leader.node, term: this.leader.term, state: this.state, appliedIndex: this.acked, receivedIndex: this.received, applying: this.applying.length };
  }
}
