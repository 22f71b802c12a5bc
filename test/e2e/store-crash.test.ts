import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Channel, type Connection, type Message } from '../../src/client/index.js';
import { cleanEnv, launchServer } from '../helpers/cli.js';
import { Random } from '../helpers/random.js';
import { within } from '../helpers/wait.js';
import { freshDataDir, removeDataDirs } from '../helpers/durable.js';

/**
 * The crash test (STYLE §24): `skiff server` as a child process, publishers with confirms and
 * consumers under load, `kill -9` at random moments (some during start-up and restore), then a
 * restart on the same data directory, many times over. A model of what the client was told
 * decides what must survive:
 *  - a confirmed message is present afterwards unless it was acked (at least once);
 *  - an ack followed on the same channel by a confirmed publish was committed with it (a
 *    confirm covers every change the broker recorded before it), so that message never comes
 *    back;
 *  - the topology is intact after every crash.
 */

const CRASHES = 24;
const QUEUES = ['crash.q0', 'crash.q1', 'crash.q2', 'crash.q3'];
const SEED = 20240611;

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  removeDataDirs();
});

interface Server {
  proc: ChildProcess;
  /** Resolves with the port once the daemon logs "skiff listening". */
  port: Promise<number>;
  exited: Promise<number | null>;
  lines: string[];
}

function spawnServer(dataDir: string): Server {
  // Checkpoints often, so kills land in the middle of them; two workers, two queue files.
  const s = launchServer(dataDir, [], cleanEnv({ SKIFF_CHECKPOINT_INTERVAL_MS: '25', SKIFF_SYNC_WORKERS: '2' }));
  children.add(s.proc);
  void s.exited.then(() => children.delete(s.proc));
  return { proc: s.proc, port: s.listening, exited: s.exited, lines: s.lines };
}

async function kill9(s: Server): Promise<void> {
  s.proc.kill('SIGKILL');
  await within(s.exited, 'the killed daemon to exit', 10_000);
}

/** What the clients were told, across every run. */
class Model {
  readonly confirmed = new Set<string>();
  readonly acked = new Set<string>();
  /** Acked, and a publish sent after the ack on the same channel was confirmed. */
  readonly durablyAcked = new Set<string>();
  /** Acks not yet known to be committed: id and how many publishes preceded the ack. */
  private pendingAcks: { id: string; published: number }[] = [];
  readonly violations: string[] = [];
  delivered = 0;

  confirmedPublish(id: string, index: number): void {
    this.confirmed.add(id);
    // Publish number `index` was sent after every ack recorded with fewer publishes before it.
    this.pendingAcks = this.pendingAcks.filter((a) => {
      if (a.published >= index) return true;
      this.durablyAcked.add(a.id);
      return false;
    });
  }

  ack(id: string, published: number): void {
    this.acked.add(id);
    this.pendingAcks.push({ id, published });
  }

  /** A crash: acks not yet covered by a confirm may or may not have been committed. */
  crashed(): void {
    this.pendingAcks = [];
  }

  seen(id: string, run: number): void {
    this.delivered++;
    if (this.durablyAcked.has(id)) this.violations.push(`run ${run}: ${id} came back although its ack was committed`);
  }
}

/** One run: connect, check topology, publish with confirms and consume until the kill. */
async function load(port: number, run: number, model: Model, rnd: Random, killAfterMs: number, server: Server): Promise<void> {
  let conn: Connection;
  try {
    conn = await connect(`skiff://guest:guest@127.0.0.1:${port}`, { heartbeatMs: 0 });
  } catch {
    return; // killed before we got in
  }
  const ch: Channel = await conn.channel();
  if (run === 0) {
    await ch.declareExchange('crash.x', 'direct', { durable: true });
    for (const [i, q] of QUEUES.entries()) {
      await ch.declareQueue(q, { durable: true });
      await ch.bindQueue(q, 'crash.x', `k${i}`);
    }
  } else {
    // Topology intact after the crash: every durable piece is there as declared.
    await ch.declareExchange('crash.x', 'direct', { durable: true, passive: true });
    for (const q of QUEUES) await ch.declareQueue(q, { durable: true, passive: true });
  }
  await ch.confirmSelect();
  // A confirmed publish covers the declarations before it: from here on the topology is committed.
  await ch.publish('crash.x', 'k0', `${run}.setup`, { persistent: true }).then(() => model.confirmedPublish(`${run}.setup`, 0));
  const killed = (async () => {
    await new Promise((r) => setTimeout(r, killAfterMs));
    await kill9(server);
  })();
  try {
    let published = 1;
    const onMessage = (m: Message): void => {
      const id = m.text();
      model.seen(id, run);
      // Most are acked at once; some stay unacked and must come back after the crash.
      if (rnd.next() < 0.8) {
        m.ack();
        model.ack(id, published);
      }
    };
    for (const q of QUEUES) await ch.consume(q, onMessage, { prefetch: 100 });
    const window: Promise<void>[] = [];
    for (let n = 0; ; n++) {
      const id = `${run}.${n}`;
      const index = ++published;
      window.push(
        ch.publish('crash.x', `k${n % QUEUES.length}`, id, { persistent: true }).then(() => model.confirmedPublish(id, index)),
      );
      if (window.length >= 64) await Promise.all(window.splice(0));
    }
  } catch {
    // The kill closed the connection under us: expected.
  }
  await killed;
  model.crashed();
  await conn.close().catch(() => undefined);
}

describe('crash consistency', () => {
  it(`kill -9 at random moments, ${CRASHES} times: confirmed messages survive, committed acks stay acked, topology stays`, async () => {
    const dataDir = freshDataDir();
    const rnd = new Random(SEED);
    const model = new Model();
    let restoredRuns = 0;
    for (let run = 0; run < CRASHES; run++) {
      const server = spawnServer(dataDir);
      if (run % 6 === 5) {
        // Crash during start-up or restore, before any client gets in.
        await new Promise((r) => setTimeout(r, rnd.int(0, 150)));
        await kill9(server);
        continue;
      }
      const port = await within(server.port, `run ${run}: the daemon to listen`, 20_000);
      if (server.lines.some((l) => l.includes('"msg":"store restored"') && !l.includes('"messages":0,'))) restoredRuns++;
      await load(port, run, model, rnd, rnd.int(80, 400), server);
    }

    // Last start: drain everything that is left, then stop with SIGTERM (final checkpoint, exit 0).
    const server = spawnServer(dataDir);
    const port = await within(server.port, 'the final daemon to listen', 20_000);
    const conn = await connect(`skiff://guest:guest@127.0.0.1:${port}`, { heartbeatMs: 0 });
    const ch = await conn.channel();
    await ch.declareExchange('crash.x', 'direct', { durable: true, passive: true });
    const present = new Set<string>();
    for (const q of QUEUES) {
      await ch.declareQueue(q, { durable: true, passive: true });
      for (let m = await ch.get(q); m !== null; m = await ch.get(q)) {
        model.seen(m.text(), CRASHES);
        present.add(m.text());
        m.ack();
      }
    }
    // The bindings survived too: a publish through the exchange reaches its queue.
    await ch.confirmSelect();
    await ch.publish('crash.x', 'k2', 'after', { persistent: true, mandatory: true });
    expect((await ch.get('crash.q2'))?.text()).toBe('after');
    await conn.close();
    server.proc.kill('SIGTERM');
    expect(await within(server.exited, 'the daemon to stop on SIGTERM', 15_000)).toBe(0);

    const lost = [...model.confirmed].filter((id) => !present.has(id) && !model.acked.has(id));
    expect({ violations: model.violations.slice(0, 10), lost: lost.slice(0, 10), counts: [model.violations.length, lost.length] }).toEqual({
      violations: [],
      lost: [],
      counts: [0, 0],
    });
    // The test did what it says: real load, and restarts that brought messages back.
    expect(model.confirmed.size).toBeGreaterThan(CRASHES * 50);
    expect(model.durablyAcked.size).toBeGreaterThan(0);
    expect(restoredRuns).toBeGreaterThan(CRASHES / 2);
  }, 120_000);
});
