/**
 * A load-generator process: forked by the harness, never sharing a process with the broker. It
 * opens its connections, runs its publishers and consumers, and answers the harness over IPC.
 */
import { loadDriver, type BenchConnection, type BenchDriver, type BenchPublisher, type PublishTarget } from './driver.js';
import { ageMicros, encodeHistogram, newHistogram, stamp } from './latency.js';
import type { AgentReport, ConsumerRole, FromAgent, PublisherRole, Role, ToAgent } from './roles.js';

/** Max-rate publishers hand the event loop back after this many messages, so writes flush and IPC is heard. */
const BATCH = 100;
/** Connections opened at once; thousands in one burst overflow the listen backlog. */
const CONNECT_CONCURRENCY = 64;
const PROGRESS_MS = 25;

const send = (m: FromAgent): void => {
  process.send?.(m);
};

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

/** One publisher's send path: fresh stamped bodies, routing keys in turn. */
class Sender {
  private readonly targets: PublishTarget[];
  private k = 0;

  constructor(
    readonly role: PublisherRole,
    private readonly pub: BenchPublisher,
    private readonly counts: { sent(n: number): void },
  ) {
    this.targets = role.keys.map((key) => ({ exchange: role.exchange, routingKey: key, persistent: role.persistent }));
  }

  /** Sends `n` messages; resolves when the last backpressure signal among them clears. */
  burst(n: number, onConfirm?: (ok: boolean) => void): Promise<void> | undefined {
    const { targets, pub } = this;
    const size = this.role.bodySize;
    let wait: Promise<void> | null = null;
    for (let i = 0; i < n; i++) {
      const body = Buffer.allocUnsafe(size);
      stamp(body);
      const p = pub.publish(targets[this.k] as PublishTarget, body, onConfirm);
      if (++this.k === targets.length) this.k = 0;
      if (p !== null) wait = p;
    }
    this.counts.sent(n);
    return wait ?? undefined;
  }
}

class Agent {
  private driver!: BenchDriver;
  private readonly connections: BenchConnection[] = [];
  private readonly hist = newHistogram();
  private received = 0;
  private receivedTotal = 0;
  private published = 0;
  private publishedTotal = 0;
  private confirmed = 0;
  private confirmedTotal = 0;
  private readonly errors: string[] = [];
  private markCpu = process.cpuUsage();
  private markAt = performance.now();
  private stopping = false;
  private paused = false;
  /** Publishers waiting out a pause. */
  private resumers: (() => void)[] = [];
  private readonly loops: Promise<void>[] = [];
  private publishers: { role: PublisherRole; pub: BenchPublisher }[] = [];
  private progressTimer: NodeJS.Timeout | null = null;

  async init(broker: Parameters<typeof loadDriver>[0], url: string, roles: Role[]): Promise<void> {
    this.driver = await loadDriver(broker);
    for (const role of roles) {
      if (role.kind === 'consumer') await this.setupConsumers(url, role);
      else if (role.kind === 'publisher') await this.setupPublishers(url, role);
      else await this.openMany(url, role.connections);
    }
    this.progressTimer = setInterval(() => this.progress(), PROGRESS_MS);
    send({ t: 'ready', connections: this.connections.length });
  }

  private async openMany(url: string, n: number): Promise<BenchConnection[]> {
    const out: BenchConnection[] = new Array(n);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        const c = await this.driver.connect(url);
        out[i] = c;
        this.connections.push(c);
      }
    };
    await Promise.all(Array.from({ length: Math.min(n, CONNECT_CONCURRENCY) }, worker));
    return out;
  }

  private async setupConsumers(url: string, role: ConsumerRole): Promise<void> {
    const per = Math.max(1, role.perConnection);
    const conns = await this.openMany(role.url ?? url, Math.ceil(role.queues.length / per));
    const onBody = (body: Buffer): void => {
      this.received++;
      this.receivedTotal++;
      this.hist.recordValue(ageMicros(body));
    };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < role.queues.length) {
        const i = next++;
        const q = role.queues[i] as { name: string; route: string };
        await (conns[Math.floor(i / per)] as BenchConnection).consume(q.name, { noAck: role.noAck, prefetch: role.prefetch, route: q.route }, onBody);
      }
    };
    await Promise.all(Array.from({ length: Math.min(role.queues.length, CONNECT_CONCURRENCY) }, worker));
  }

  private async setupPublishers(url: string, role: PublisherRole): Promise<void> {
    const conns = await this.openMany(url, role.count);
    for (const c of conns) this.publishers.push({ role, pub: await c.publisher(role.confirm) });
  }

  go(): void {
    for (const { role, pub } of this.publishers) {
      const sender = new Sender(role, pub, this);
      const loop = role.rate > 0 ? this.paced(sender) : role.confirm ? this.withConfirms(sender) : this.flat(sender);
      this.loops.push(loop.catch((err: unknown) => void this.errors.push(String(err))));
    }
    // Publishers with a limit finish by themselves: tell the harness.
    void Promise.all(this.loops).then(() => {
      if (!this.stopping) {
        this.progress();
        send({ t: 'done' });
      }
    });
  }

  /** @internal counts for {@link Sender}. */
  sent(n: number): void {
    this.published += n;
    this.publishedTotal += n;
  }

  private async waitResume(): Promise<void> {
    while (this.paused && !this.stopping) await new Promise<void>((r) => this.resumers.push(r));
  }

  /** As fast as the broker takes them, honouring backpressure. */
  private async flat(s: Sender): Promise<void> {
    let left = s.role.limit > 0 ? s.role.limit : Infinity;
    while (!this.stopping && left > 0) {
      if (this.paused) await this.waitResume();
      const n = Math.min(BATCH, left);
      left -= n;
      await s.burst(n);
      await immediate();
    }
  }

  /** Confirm mode: pipelined, at most `maxOutstanding` unconfirmed. */
  private async withConfirms(s: Sender): Promise<void> {
    const max = s.role.maxOutstanding;
    const low = Math.max(1, Math.floor(max / 2));
    let outstanding = 0;
    let wake: (() => void) | null = null;
    let left = s.role.limit > 0 ? s.role.limit : Infinity;
    const onConfirm = (ok: boolean): void => {
      outstanding--;
      if (ok) {
        this.confirmed++;
        this.confirmedTotal++;
      } else if (this.errors.length < 10) this.errors.push('nack');
      if (wake !== null && outstanding <= low) {
        const w = wake;
        wake = null;
        w();
      }
    };
    while (!this.stopping && left > 0) {
      if (this.paused) await this.waitResume();
      if (outstanding >= max) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const n = Math.min(BATCH, max - outstanding, left);
      left -= n;
      outstanding += n;
      await s.burst(n, onConfirm);
      await immediate();
    }
    // Let the last confirms arrive so totals are complete.
    const deadline = Date.now() + 60_000;
    while (outstanding > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  /** A fixed rate: each ~1 ms tick sends what the schedule says is due by now. */
  private async paced(s: Sender): Promise<void> {
    const start = performance.now();
    let sent = 0;
    while (!this.stopping) {
      const due = Math.floor(((performance.now() - start) / 1000) * s.role.rate) - sent;
      if (due > 0) {
        sent += due;
        await s.burst(due);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  mark(): void {
    this.received = 0;
    this.published = 0;
    this.confirmed = 0;
    this.hist.reset();
    this.markCpu = process.cpuUsage();
    this.markAt = performance.now();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeResumers();
    await Promise.all(this.loops);
  }

  report(): AgentReport {
    const cpu = process.cpuUsage(this.markCpu);
    return {
      published: this.published,
      received: this.received,
      confirmed: this.confirmed,
      publishedTotal: this.publishedTotal,
      receivedTotal: this.receivedTotal,
      confirmedTotal: this.confirmedTotal,
      histogram: this.hist.totalCount === 0 ? '' : encodeHistogram(this.hist),
      cpuMs: (cpu.user + cpu.system) / 1000,
      windowMs: performance.now() - this.markAt,
      connections: this.connections.length,
      connectionsOpen: this.connections.filter((c) => c.isOpen).length,
      errors: this.errors.slice(0, 10),
    };
  }

  setPaused(p: boolean): void {
    this.paused = p;
    if (!p) this.wakeResumers();
  }

  private wakeResumers(): void {
    const rs = this.resumers;
    this.resumers = [];
    for (const r of rs) r();
  }

  progress(): void {
    send({ t: 'progress', publishedTotal: this.publishedTotal, receivedTotal: this.receivedTotal, confirmedTotal: this.confirmedTotal });
  }

  async close(): Promise<void> {
    if (this.progressTimer !== null) clearInterval(this.progressTimer);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.connections.length) await (this.connections[next++] as BenchConnection).close().catch(() => undefined);
    };
    await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  }
}

const agent = new Agent();

process.on('message', (m: ToAgent) => {
  const run = async (): Promise<void> => {
    switch (m.t) {
      case 'init':
        await agent.init(m.broker, m.url, m.roles);
        return;
      case 'go':
        agent.go();
        return;
      case 'mark':
        agent.mark();
        return;
      case 'pause':
        agent.setPaused(true);
        return;
      case 'resume':
        agent.setPaused(false);
        return;
      case 'stop':
        await agent.stop();
        agent.progress();
        send({ t: 'stopped' });
        return;
      case 'report':
        send({ t: 'report', report: agent.report() });
        return;
      case 'close':
        await agent.close();
        send({ t: 'closed' });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 50).unref();
        return;
    }
  };
  run().catch((err: unknown) => {
    send({ t: 'failed', message: err instanceof Error ? err.message : String(err) });
  });
});

// The harness died or dropped us: never outlive it.
process.on('disconnect', () => setTimeout(() => process.exit(0), 1000).unref());
