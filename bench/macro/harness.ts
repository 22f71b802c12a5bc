import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BrokerKind } from './driver.js';
import type { AgentReport, FromAgent, Role, ToAgent } from './roles.js';

const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));

type Pending = { want: FromAgent['t']; resolve: (m: FromAgent) => void; reject: (e: Error) => void };

/** One forked agent process and its request/answer plumbing. */
class AgentProcess {
  readonly child: ChildProcess;
  readonly roles: Role[];
  readonly publishes: boolean;
  readonly consumes: boolean;
  publishedTotal = 0;
  receivedTotal = 0;
  confirmedTotal = 0;
  private waiting: Pending[] = [];
  private exited: Error | null = null;
  private markDone!: () => void;
  /** Resolves when the agent's publishers with a `limit` have finished. */
  readonly done = new Promise<void>((r) => (this.markDone = r));

  constructor(roles: Role[]) {
    this.roles = roles;
    this.publishes = roles.some((r) => r.kind === 'publisher');
    this.consumes = roles.some((r) => r.kind === 'consumer');
    // A big heap: 5,000 connections' buffers and a histogram must not trip the default limit.
    // SKIFF_BENCH_AGENT_NODE_ARGS: extra node flags for the load processes (e.g. --trace-gc).
    const extra = (process.env['SKIFF_BENCH_AGENT_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    this.child = fork(AGENT, [], { execArgv: ['--max-old-space-size=4096', ...extra], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromAgent) => this.onMessage(m));
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`agent exited (${signal ?? code})`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
  }

  private onMessage(m: FromAgent): void {
    if (m.t === 'progress') {
      this.publishedTotal = m.publishedTotal;
      this.receivedTotal = m.receivedTotal;
      this.confirmedTotal = m.confirmedTotal;
      return;
    }
    if (m.t === 'done') {
      this.markDone();
      return;
    }
    if (m.t === 'failed') {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`agent failed: ${m.message}`));
      return;
    }
    const i = this.waiting.findIndex((w) => w.want === m.t);
    if (i === -1) return;
    const [w] = this.waiting.splice(i, 1);
    w?.resolve(m);
  }

  send(m: ToAgent): void {
    if (this.exited === null && this.child.connected) this.child.send(m);
  }

  ask<T extends FromAgent['t']>(m: ToAgent, want: T, timeoutMs: number): Promise<Extract<FromAgent, { t: T }>> {
    if (this.exited !== null) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`agent did not answer '${m.t}' within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push({
        want,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as Extract<FromAgent, { t: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.send(m);
    });
  }

  kill(): void {
    if (this.exited === null) this.child.kill('SIGKILL');
  }

  /** Waits up to `ms` for the agent to exit by itself (a `--cpu-prof` agent writes its profile then). */
  exit(ms: number): Promise<void> {
    if (this.exited !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export interface AgentOptions {
  broker: BrokerKind;
  url: string;
  /** Each inner list runs in one process. */
  groups: Role[][];
  /**
   * Pause publishers while published − consumed (in consumer deliveries ÷ `copies`) exceeds
   * this; 0 = never. Keeps a max-rate run measuring the broker, not an ever-growing backlog.
   */
  maxLag?: number;
  copies?: number;
  setupTimeoutMs?: number;
}

/** The load generators of one run: separate processes, driven in phases. */
export class Agents {
  private readonly procs: AgentProcess[];
  private readonly options: AgentOptions;
  private lagTimer: NodeJS.Timeout | null = null;
  private paused = false;

  private constructor(options: AgentOptions) {
    this.options = options;
    this.procs = options.groups.map((g) => new AgentProcess(g));
  }

  /** Forks the agents and waits until every connection, consumer and publisher is set up. */
  static async start(options: AgentOptions): Promise<Agents> {
    const a = new Agents(options);
    try {
      await Promise.all(
        a.procs.map((p) => p.ask({ t: 'init', broker: options.broker, url: options.url, roles: p.roles }, 'ready', options.setupTimeoutMs ?? 120_000)),
      );
    } catch (err) {
      a.kill();
      throw err;
    }
    return a;
  }

  get publishedTotal(): number {
    return this.procs.reduce((s, p) => s + p.publishedTotal, 0);
  }

  get receivedTotal(): number {
    return this.procs.reduce((s, p) => s + p.receivedTotal, 0);
  }

  get confirmedTotal(): number {
    return this.procs.reduce((s, p) => s + p.confirmedTotal, 0);
  }

  /** Publishers start. */
  go(): void {
    for (const p of this.procs) p.send({ t: 'go' });
    const maxLag = this.options.maxLag ?? 0;
    if (maxLag > 0) {
      const copies = this.options.copies ?? 1;
      this.lagTimer = setInterval(() => {
        const lag = this.publishedTotal - this.receivedTotal / copies;
        if (!this.paused && lag > maxLag) this.setPaused(true);
        else if (this.paused && lag < maxLag / 2) this.setPaused(false);
      }, 10);
    }
  }

  private setPaused(p: boolean): void {
    this.paused = p;
    for (const a of this.procs) if (a.publishes) a.send({ t: p ? 'pause' : 'resume' });
  }

  /** Starts the measurement window: counters and histograms reset. */
  mark(): void {
    for (const p of this.procs) p.send({ t: 'mark' });
  }

  async report(): Promise<AgentReport[]> {
    return (await Promise.all(this.procs.map((p) => p.ask({ t: 'report' }, 'report', 30_000)))).map((m) => m.report);
  }

  /** Resolves when every publisher with a `limit` has sent (and, in confirm mode, had confirmed) all of it. */
  async publishersDone(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`publishers did not finish within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(this.procs.filter((p) => p.publishes).map((p) => p.done)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops publishers (waiting for outstanding confirms). */
  async stopPublishing(): Promise<void> {
    if (this.lagTimer !== null) clearInterval(this.lagTimer);
    this.lagTimer = null;
    await Promise.all(this.procs.filter((p) => p.publishes).map((p) => p.ask({ t: 'stop' }, 'stopped', 30_000)));
  }

  /** Waits until consumers have received `expected` messages in all, or the deadline passes. */
  async waitReceived(expected: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    let lastChange = Date.now();
    while (Date.now() < deadline) {
      const got = this.receivedTotal;
      if (got >= expected) return true;
      if (got !== last) {
        last = got;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > 3000) {
        return false; // nothing moved for 3 s: what is missing is not coming
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.receivedTotal >= expected;
  }

  async close(): Promise<void> {
    if (this.lagTimer !== null) clearInterval(this.lagTimer);
    await Promise.all(this.procs.map((p) => p.ask({ t: 'close' }, 'closed', 60_000).catch(() => undefined)));
    await Promise.all(this.procs.map((p) => p.exit(10_000)));
    this.kill();
  }

  kill(): void {
    for (const p of this.procs) p.kill();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
