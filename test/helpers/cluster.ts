import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SKIFF_BIN, cleanEnv } from './cli.js';
import { within } from './wait.js';

/** Debian's etcd (etcd-server); the cluster tests need it. */
export const ETCD_BIN = process.env['SKIFF_ETCD'] ?? '/usr/bin/etcd';

/** A port free right now (the OS picks it); the cluster's client ports must be fixed across restarts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A JSON log line of a child. */
export type LogRecord = Record<string, unknown> & { msg?: string };

/** A child process whose JSON log lines a test waits on. */
class LoggedChild {
  readonly records: LogRecord[] = [];
  private readonly watchers: { pred: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(readonly proc: ChildProcess, json: boolean) {
    let partial = '';
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    const out = json ? proc.stdout : proc.stderr;
    out?.setEncoding('utf8').on('data', (s: string) => {
      const parts = (partial + s).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        let rec: LogRecord;
        try {
          rec = JSON.parse(line) as LogRecord;
        } catch {
          continue;
        }
        this.records.push(rec);
        for (const w of [...this.watchers]) {
          if (w.pred(rec)) {
            this.watchers.splice(this.watchers.indexOf(w), 1);
            w.resolve(rec);
          }
        }
      }
    });
    if (json) proc.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
  }

  /** The next record (from now on) `pred` accepts. */
  next(pred: (r: LogRecord) => boolean, what: string, ms = 20_000): Promise<LogRecord> {
    return within(new Promise<LogRecord>((resolve) => this.watchers.push({ pred, resolve })), what, ms);
  }

  /** A record so far, or the next one, that `pred` accepts. */
  seen(pred: (r: LogRecord) => boolean, what: string, ms = 20_000): Promise<LogRecord> {
    const r = this.records.find(pred);
    return r !== undefined ? Promise.resolve(r) : this.next(pred, what, ms);
  }
}

export interface Etcd {
  readonly url: string;
  stop(): Promise<void>;
}

/** A one-member etcd on free loopback ports, its data in a temp dir. */
export async function startEtcd(): Promise<Etcd> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-etcd-'));
  const client = await freePort();
  const peer = await freePort();
  const proc = spawn(
    ETCD_BIN,
    [
      '--data-dir', join(dir, 'data'),
      '--name', 'test',
      '--listen-client-urls', `http://127.0.0.1:${client}`,
      '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `test=http://127.0.0.1:${peer}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const child = new LoggedChild(proc, false);
  const url = `http://127.0.0.1:${client}`;
  await within(
    (async () => {
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}`);
        const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
        if (ok) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    'etcd to serve',
  );
  return {
    url: `http://127.0.0.1:${client}`,
    async stop() {
      proc.kill('SIGKILL');
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One `skiff server --cluster` child with fixed client ports. */
export class NodeProcess {
  child: LoggedChild | null = null;
  constructor(
    readonly name: string,
    readonly dataDir: string,
    readonly port: number,
    readonly amqpPort: number,
    readonly httpPort: number,
    private readonly env: Record<string, string>,
  ) {}

  start(): LoggedChild {
    const proc = spawn(process.execPath, [SKIFF_BIN, 'server', '--cluster', '--log-format', 'json'], {
      env: cleanEnv({
        SKIFF_HOST: '127.0.0.1',
        SKIFF_PORT: String(this.port),
        SKIFF_AMQP_PORT: String(this.amqpPort),
        SKIFF_HTTP_PORT: String(this.httpPort),
        SKIFF_DATA_DIR: this.dataDir,
        SKIFF_CLUSTER_NODE_NAME: this.name,
        SKIFF_CLUSTER_REPLICATION_PORT: '0',
        ...this.env,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = new LoggedChild(proc, true);
    return this.child;
  }

  get running(): boolean {
    return this.child !== null && this.child.proc.exitCode === null && this.child.proc.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (c === null || !this.running) return;
    c.proc.kill(signal);
    await within(c.exited, `${this.name} to exit`, 15_000);
  }
}

/** Three (or `n`) nodes of one cluster on one etcd, each with its own data dir. */
export class TestCluster {
  readonly nodes: NodeProcess[] = [];
  private readonly root: string;

  private constructor(readonly etcd: Etcd, root: string) {
    this.root = root;
  }

  static async start(n: number, env: Record<string, string> = {}): Promise<TestCluster> {
    const etcd = await startEtcd();
    const root = mkdtempSync(join(tmpdir(), 'skiff-cluster-'));
    const c = new TestCluster(etcd, root);
    for (let i = 1; i <= n; i++) {
      const node = new NodeProcess(`n${i}`, join(root, `n${i}`), await freePort(), await freePort(), await freePort(), {
        SKIFF_CLUSTER_ETCD_ENDPOINTS: etcd.url,
        SKIFF_CLUSTER_NAME: 'test',
        SKIFF_CLUSTER_LEASE_TTL_S: '3',
        SKIFF_CHECKPOINT_INTERVAL_MS: '50',
        ...env,
      });
      c.nodes.push(node);
      node.start();
    }
    return c;
  }

  /** skiff:// URLs of every node, for a client that follows the leader. */
  urls(): string[] {
    return this.nodes.map((n) => `skiff://guest:guest@127.0.0.1:${n.port}`);
  }

  amqpUrls(): string[] {
    return this.nodes.map((n) => `amqp://guest:guest@127.0.0.1:${n.amqpPort}`);
  }

  /** A key of this cluster in etcd, read through its JSON gateway; null when absent. */
  async key(name: string): Promise<Record<string, unknown> | null> {
    const res = await fetch(`${this.etcd.url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(`/skiff/test/${name}`).toString('base64') }) });
    const kvs = ((await res.json()) as { kvs?: { value: string }[] }).kvs;
    return kvs === undefined || kvs.length === 0 ? null : (JSON.parse(Buffer.from((kvs[0] as { value: string }).value, 'base64').toString('utf8')) as Record<string, unknown>);
  }

  /** The node etcd names the serving leader (waits until one serves). */
  async currentLeader(): Promise<NodeProcess> {
    let name = '';
    await waitUntil(async () => {
      const l = await this.key('leader');
      name = l !== null && typeof l['native'] === 'string' ? String(l['node']) : '';
      return name !== '' && this.nodes.some((n) => n.name === name && n.running);
    }, 'a serving leader');
    return this.nodes.find((n) => n.name === name) as NodeProcess;
  }

  /** Waits until the in-sync set in etcd is exactly `names` (leader first, then the others sorted). */
  async inSync(pred: (members: string[]) => boolean, what: string): Promise<string[]> {
    let members: string[] = [];
    await waitUntil(async () => {
      members = ((await this.key('in-sync'))?.['members'] as string[] | undefined) ?? [];
      return pred(members);
    }, what);
    return members;
  }

  /** Resolves with the node whose 'leading' line comes next (or came, for `sinceStart`). */
  async leader(sinceStart = true, ms = 20_000, among: NodeProcess[] = this.nodes): Promise<NodeProcess> {
    return within(
      Promise.any(
        among.filter((n) => n.running).map((n) => {
          const c = n.child as LoggedChild;
          const pred = (r: LogRecord): boolean => r.msg === 'leading';
          return (sinceStart ? c.seen(pred, `${n.name} to lead`, ms) : c.next(pred, `${n.name} to lead`, ms)).then(() => n);
        }),
      ),
      'a node to lead',
      ms,
    );
  }

  /** Every node's log lines in short form (printed when a test fails). */
  dump(): string {
    return this.nodes
      .map((n) => `${n.name}:\n${(n.child?.records ?? []).map((r) => `  ${String(r['time'] ?? '')} ${String(r.msg)} ${JSON.stringify({ ...r, msg: undefined, time: undefined, pid: undefined, hostname: undefined, level: undefined, cluster: undefined, node: undefined })}`).join('\n')}`)
      .join('\n');
  }

  async stop(): Promise<void> {
    if (process.env['SKIFF_CLUSTER_DUMP'] === '1') console.log(this.dump());
    await Promise.all(this.nodes.map((n) => n.kill('SIGKILL').catch(() => undefined)));
    await this.etcd.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Polls an async condition (etcd state) until it holds, bounded. */
async function waitUntil(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  await within(
    (async () => {
      while (!(await cond().catch(() => false))) await new Promise((r) => setTimeout(r, 50));
    })(),
    what,
    ms,
  );
}
