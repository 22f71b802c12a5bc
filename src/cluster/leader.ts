import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { ReplicationSink } from '../store/replication.js';
import type { Store } from '../store/store.js';
import { TOPOLOGY_SHARD, type MessagesPart, type TopologyBatch } from '../store/wire.js';
import { FILE_CHUNK_BYTES, Frame, FrameReader, changeFrame, encodePart, jsonFrame, shardFrame, type ReceivedFrame } from './wire.js';

/** A follower whose socket holds more unsent bytes than this is dropped (it catches up by a new snapshot). */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
const CHECK_INTERVAL_MS = 250;

/** One committed change set in the leader's log, kept until every follower that counts has it. */
interface Entry {
  readonly index: number;
  readonly durableBefore: number;
  readonly at: number;
  readonly bytes: number;
}

type SessionState = 'hello' | 'snapshot' | 'streaming';

/** One follower's connection. */
class Session {
  node = '';
  state: SessionState = 'hello';
  /** Per file: change sets from this index on are sent (earlier ones are in its snapshot). */
  readonly from = new Map<number, number>();
  /** Change sets held while its snapshot is being sent. */
  backlog: Buffer[] = [];
  /** Highest index it acknowledged (committed on its disk). */
  acked = 0;
  /** It joins the in-sync set once it acknowledges this index (where its snapshot ended). */
  joinAt = Infinity;
  connectedAt = Date.now();
  closed = false;
  constructor(readonly socket: Socket) {}

  send(b: Buffer): void {
    if (!this.closed) this.socket.write(b);
  }
}

/** What the leader shows of itself and its followers (`skiff status`, /api/cluster, metrics). */
export interface LeaderStatus {
  readonly term: number;
  readonly lastIndex: number;
  readonly syncFollowers: number;
  readonly inSync: string[];
  readonly followers: {
    node: string;
    address: string;
    state: 'snapshot' | 'streaming';
    inSync: boolean;
    ackedIndex: number;
    lagChanges: number;
    lagBytes: number;
    lagSeconds: number;
  }[];
}

export interface LeaderOptions {
  readonly cluster: string;
  readonly node: string;
  readonly term: number;
  readonly syncFollowers: number;
  readonly followerTimeoutMs: number;
  readonly dataDir: string;
  readonly log: Logger;
  /** Writes the in-sync set (this node first) to etcd, fenced by the term; false if no longer the leader. */
  readonly writeInSync: (members: string[]) => Promise<boolean>;
  /** A follower knows of a newer term: this node has been deposed. */
  readonly deposed: (why: string) => void;
  /** Whether the lease is still certainly held (checked before any confirm goes out). */
  readonly leaseValid: () => boolean;
}

/**
 * The leader's replication: the store's {@link ReplicationSink}, and the listener followers
 * connect to. Each committed change set gets the next index and goes to every follower; a new
 * follower first gets a snapshot of every file, taken by the file's own worker at a known point
 * of its commits, then the change sets after that point. Confirms wait until every in-sync
 * follower has committed what they cover, and until there are at least `syncFollowers` of
 * them; a follower leaves the in-sync set (written to etcd first) when it disconnects or stops
 * acknowledging.
 */
export class Leader implements ReplicationSink {
  private readonly o: LeaderOptions;
  private readonly log: Logger;
  private store: Store | null = null;
  private server: Server | null = null;
  private readonly sessions = new Set<Session>();
  /** Per file: the parts of the attempt in flight (reset by a retry's first part). */
  private readonly parts = new Map<number, { batch: number; parts: Buffer[] }>();
  /** Change sets not yet held by every follower that counts, oldest first, from `head`. */
  private readonly entries: Entry[] = [];
  private head = 0;
  private lastIndex = 0;
  /** Followers in the in-sync set as etcd holds it (the last write that succeeded). */
  private held = new Set<string>();
  /** The followers the set should hold; written to etcd one change at a time. */
  private readonly wanted = new Set<string>();
  private writing = false;
  private refusing = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly snapshotDir: string;
  private nextSnapshot = 1;

  constructor(o: LeaderOptions) {
    this.o = o;
    this.log = o.log.child({ component: 'replication', term: o.term });
    this.snapshotDir = join(o.dataDir, '.replication');
  }

  get term(): number {
    return this.o.term;
  }

  /** Starts the term: the in-sync set is this node alone until followers catch up. */
  async start(host: string, port: number): Promise<AddressInfo> {
    rmSync(this.snapshotDir, { recursive: true, force: true });
    mkdirSync(this.snapshotDir, { recursive: true });
    if (!(await this.o.writeInSync([this.o.node]))) throw new Error('lost the leadership before serving');
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    const addr = await new Promise<AddressInfo>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
    this.timer = setInterval(() => this.check(), CHECK_INTERVAL_MS);
    this.timer.unref();
    this.log.info({ host: addr.address, port: addr.port }, 'replication listening');
    return addr;
  }

  /** Set once the daemon has built its store (before it restores). */
  attach(store: Store): void {
    this.store = store;
  }

  /** From now on no confirm goes out (the lease is lost); followers are dropped. */
  refuse(): void {
    this.refusing = true;
    this.store?.replicationAdvanced();
    for (const s of this.sessions) this.drop(s, 'this node is no longer the leader');
  }

  async stop(): Promise<void> {
    this.refuse();
    if (this.timer !== null) clearInterval(this.timer);
    await new Promise<void>((resolve) => (this.server === null ? resolve() : this.server.close(() => resolve())));
    rmSync(this.snapshotDir, { recursive: true, force: true });
  }

  // ---- ReplicationSink ----

  posted(part: MessagesPart | TopologyBatch): void {
    if (part.t === 'topo') {
      this.parts.set(TOPOLOGY_SHARD, { batch: part.batch, parts: [encodePart(part)] });
      return;
    }
    let p = this.parts.get(part.shard);
    if (part.first || p === undefined || p.batch !== part.batch) {
      p = { batch: part.batch, parts: [] };
      this.parts.set(part.shard, p);
    }
    // Encoded at once: the part's buffers are transferred to the worker after this call.
    p.parts.push(encodePart(part));
  }

  committed(shard: number, batch: number, durableBefore: number): void {
    const p = this.parts.get(shard);
    this.parts.delete(shard);
    if (p === undefined || p.batch !== batch) {
      // Cannot happen (every post passes through posted); refusing is safer than a gap.
      this.log.error({ shard, batch }, 'committed change set was never seen; followers resync');
      for (const s of this.sessions) this.drop(s, 'the leader lost track of a change set');
      return;
    }
    const index = ++this.lastIndex;
    const f = changeFrame(this.o.term, index, shard, p.parts);
    this.entries.push({ index, durableBefore, at: Date.now(), bytes: f.length });
    for (const s of this.sessions) {
      if (s.state === 'streaming') s.send(f);
      else if (s.state === 'snapshot') {
        const from = s.from.get(shard);
        if (from !== undefined && index >= from) s.backlog.push(f);
      }
    }
    if (this.sessions.size === 0 && this.held.size === 0) this.trim();
  }

  confirmable(): number {
    if (this.refusing || !this.o.leaseValid()) return -1;
    if (this.o.syncFollowers === 0) return Infinity;
    // Too few in-sync followers: nothing more is confirmed (what they held was released already).
    if (this.held.size < this.o.syncFollowers) return -1;
    let min = Infinity;
    // Every follower etcd may hold must have it: one being added (etcd may hold it already) or
    // being removed (etcd still holds it), and one without a session holds everything back.
    for (const n of this.required()) {
      const s = this.sessionOf(n);
      const acked = s === undefined ? 0 : s.acked;
      if (acked < min) min = acked;
    }
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      if (e.index > min) return e.durableBefore;
    }
    return Infinity;
  }

  /** Forgets entries every follower that counts has (in-sync ones and streaming ones). */
  private trim(): void {
    let min = this.lastIndex;
    for (const s of this.sessions) if (s.state === 'streaming' && s.acked < min) min = s.acked;
    for (const n of this.required()) {
      const s = this.sessionOf(n);
      if (s === undefined) min = 0;
      else if (s.acked < min) min = s.acked;
    }
    while (this.head < this.entries.length && (this.entries[this.head] as Entry).index <= min) this.head++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  private sessionOf(node: string): Session | undefined {
    for (const s of this.sessions) if (s.node === node && !s.closed) return s;
    return undefined;
  }

  // ---- followers ----

  private accept(socket: Socket): void {
    const s = new Session(socket);
    this.sessions.add(s);
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (f) => this.onFrame(s, f));
      } catch (err) {
        this.drop(s, (err as Error).message);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.closed(s));
    if (this.refusing) this.drop(s, 'this node is no longer the leader');
  }

  private onFrame(s: Session, f: ReceivedFrame): void {
    if (f.term > this.o.term) {
      this.o.deposed(`follower '${s.node}' knows of term ${f.term}`);
      this.drop(s, `term ${this.o.term} is over`);
      return;
    }
    switch (f.type) {
      case Frame.HELLO: {
        if (s.state !== 'hello') return this.drop(s, 'HELLO twice');
        let hello: { cluster?: unknown; node?: unknown };
        try {
          hello = JSON.parse(f.body.toString('utf8')) as typeof hello;
        } catch {
          return this.drop(s, 'HELLO is not JSON');
        }
        if (hello.cluster !== this.o.cluster) return this.drop(s, `this is cluster '${this.o.cluster}', not '${String(hello.cluster)}'`);
        if (typeof hello.node !== 'string' || hello.node === '' || hello.node === this.o.node) return this.drop(s, 'HELLO needs a node name other than the leader\'s');
        const old = this.sessionOf(hello.node);
        if (old !== undefined) this.drop(old, 'the same node connected again');
        s.node = hello.node;
        void this.sendSnapshot(s).catch((err: unknown) => this.drop(s, `snapshot failed: ${(err as Error).message}`));
        return;
      }
      case Frame.ACK: {
        if (s.state !== 'streaming' || f.body.length < 8) return;
        const index = f.body.readDoubleBE(0);
        if (index > s.acked) s.acked = index;
        if (s.acked >= s.joinAt && !this.wanted.has(s.node)) {
          this.wanted.add(s.node);
          this.writeInSync();
        }
        this.trim();
        this.store?.replicationAdvanced();
        return;
      }
      case Frame.REFUSE:
        return this.drop(s, `follower refused: ${f.body.toString('utf8')}`);
      default:
        return this.drop(s, `unexpected frame ${f.type}`);
    }
  }

  /** Every file, each copied by its own worker, then the change sets after each copy. */
  private async sendSnapshot(s: Session): Promise<void> {
    const store = this.store;
    if (store === null) throw new Error('the store is not open yet');
    s.state = 'snapshot';
    const shards = store.shardIds();
    s.send(jsonFrame(Frame.WELCOME, this.o.term, { leader: this.o.node, shards }));
    const started = Date.now();
    for (const shard of shards) {
      const path = join(this.snapshotDir, `${this.nextSnapshot++}.db`);
      await new Promise<void>((resolve, reject) =>
        store.snapshot(shard, path, (err) => {
          if (err !== null) return reject(err);
          s.from.set(shard, this.lastIndex + 1);
          resolve();
        }),
      );
      try {
        for await (const chunk of createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES })) {
          if (s.closed) return;
          if (!s.socket.write(shardFrame(Frame.FILE_CHUNK, this.o.term, shard, chunk as Buffer))) {
            await new Promise<void>((resolve) => {
              s.socket.once('drain', resolve);
              s.socket.once('close', resolve);
            });
          }
        }
      } finally {
        rmSync(path, { force: true });
      }
      s.send(shardFrame(Frame.FILE_END, this.o.term, shard, null));
    }
    if (s.closed) return;
    for (const f of s.backlog) s.send(f);
    s.backlog = [];
    s.state = 'streaming';
    s.acked = 0;
    s.joinAt = this.lastIndex;
    s.send(jsonFrame(Frame.SNAPSHOT_END, this.o.term, { upTo: this.lastIndex }));
    this.log.info({ follower: s.node, files: shards.length, ms: Date.now() - started }, 'follower snapshot sent');
  }

  private drop(s: Session, why: string): void {
    if (s.closed) return;
    this.log.warn({ follower: s.node || null, why }, 'dropping follower');
    s.send(jsonFrame(Frame.REFUSE, this.o.term, { error: why }));
    s.closed = true;
    s.socket.end();
    s.socket.destroySoon?.();
    setTimeout(() => s.socket.destroy(), 1000).unref();
    this.closed(s);
  }

  private closed(s: Session): void {
    s.closed = true;
    if (!this.sessions.delete(s)) return;
    if (s.node !== '' && this.wanted.has(s.node) && this.sessionOf(s.node) === undefined) {
      this.wanted.delete(s.node);
      this.writeInSync();
    }
    this.trim();
    this.store?.replicationAdvanced();
  }

  /** Followers etcd holds or is being asked to hold: each must acknowledge before a confirm. */
  private required(): Set<string> {
    return new Set([...this.held, ...this.wanted]);
  }

  /** Writes the wanted set to etcd (fenced by the term) unless it is there or a write is under way. */
  private writeInSync(): void {
    if (this.writing || this.refusing || sameSet(this.wanted, this.held)) return;
    this.writing = true;
    const followers = [...this.wanted].sort();
    const members = [this.o.node, ...followers];
    this.o.writeInSync(members).then(
      (ok) => {
        this.writing = false;
        if (!ok) return this.o.deposed('etcd no longer names this node the leader');
        const before = this.held;
        this.held = new Set(followers);
        for (const n of followers) if (!before.has(n)) this.log.info({ follower: n, inSync: members }, 'follower in sync');
        for (const n of before) if (!this.held.has(n)) this.log.warn({ follower: n, inSync: members }, 'follower left the in-sync set');
        this.trim();
        this.store?.replicationAdvanced();
        this.writeInSync();
      },
      (err: unknown) => {
        // Tried again by the next change or check; confirms that need the change wait.
        this.writing = false;
        this.log.error({ err: (err as Error).message }, 'cannot write the in-sync set to etcd; confirms wait');
      },
    );
  }

  /** Drops followers that stopped acknowledging, or whose socket is full. */
  private check(): void {
    const now = Date.now();
    for (const s of this.sessions) {
      if (s.socket.writableLength > MAX_BUFFERED_BYTES) {
        this.drop(s, `more than ${MAX_BUFFERED_BYTES} bytes unsent`);
        continue;
      }
      if (s.state !== 'streaming') continue;
      const oldest = this.firstAfter(s.acked);
      if (oldest !== undefined && now - oldest.at > this.o.followerTimeoutMs) this.drop(s, `no acknowledgement for ${this.o.followerTimeoutMs} ms`);
    }
    // A change that failed to reach etcd is tried again.
    this.writeInSync();
  }

  private firstAfter(index: number): Entry | undefined {
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      if (e.index > index) return e;
    }
    return undefined;
  }

  status(): LeaderStatus {
    const now = Date.now();
    const followers: LeaderStatus['followers'] = [];
    for (const s of this.sessions) {
      if (s.node === '' || s.state === 'hello') continue;
      let lagChanges = 0;
      let lagBytes = 0;
      let since = 0;
      for (let i = this.head; i < this.entries.length; i++) {
        const e = this.entries[i] as Entry;
        if (e.index <= s.acked) continue;
        if (since === 0) since = e.at;
        lagChanges++;
        lagBytes += e.bytes;
      }
      followers.push({
        node: s.node,
        address: `${s.socket.remoteAddress ?? ''}:${s.socket.remotePort ?? 0}`,
        state: s.state === 'snapshot' ? 'snapshot' : 'streaming',
        inSync: this.held.has(s.node),
        ackedIndex: s.acked,
        lagChanges: s.state === 'snapshot' ? this.lastIndex : lagChanges,
        lagBytes,
        lagSeconds: since === 0 ? 0 : (now - since) / 1000,
      });
    }
    followers.sort((a, b) => (a.node < b.node ? -1 : 1));
    return { term: this.o.term, lastIndex: this.lastIndex, syncFollowers: this.o.syncFollowers, inSync: [this.o.node, ...[...this.held].sort()], followers };
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
