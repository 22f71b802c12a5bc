import amqplib from 'amqplib';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Channel, type Connection, type Message } from '../../src/client/index.js';
import type { ClusterStatus } from '../../protocol/index.js';
import { skiff } from '../helpers/cli.js';
import { TestCluster, type NodeProcess } from '../helpers/cluster.js';
import { deferred, waitFor, within } from '../helpers/wait.js';

/** Leader kills under load; the issue asks for at least 10. */
const ROUNDS = 10;
/** Confirms between two kills. */
const CONFIRMS_PER_ROUND = 40;

/**
 * What the client was told. An ack is known committed once a publish sent after it on the
 * same connection is confirmed: the leader records the two in that order, and a confirm
 * covers everything recorded before it, here and on the in-sync followers.
 */
class Model {
  readonly confirmed = new Set<string>();
  readonly received = new Set<string>();
  readonly durablyAcked = new Set<string>();
  private pendingAcks: { id: string; published: number }[] = [];
  readonly violations: string[] = [];

  confirmedPublish(id: string, index: number): void {
    this.confirmed.add(id);
    this.pendingAcks = this.pendingAcks.filter((a) => {
      if (a.published >= index) return true;
      this.durablyAcked.add(a.id);
      return false;
    });
  }

  ack(id: string, published: number): void {
    this.pendingAcks.push({ id, published });
  }

  /** The link went: acks not yet covered by a confirm may or may not have reached the leader. */
  lost(): void {
    this.pendingAcks = [];
  }

  seen(id: string): void {
    this.received.add(id);
    if (this.durablyAcked.has(id)) this.violations.push(`${id} came back although its ack was committed`);
  }
}

describe('cluster failover (etcd, three nodes, one sync follower)', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start(3, { SKIFF_CLUSTER_SYNC_FOLLOWERS: '1' });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('followers refuse clients with CONNECTION_FORCED naming the leader (native client and amqplib)', async () => {
    const leader = await c.leader();
    const follower = c.nodes.find((n) => n !== leader) as NodeProcess;
    await (follower.child?.seen((r) => r.msg === 'following the leader', 'the follower to follow') as Promise<unknown>);
    const text = `node '${follower.name}' is a follower in cluster 'test'; the leader is node '${leader.name}' at 127.0.0.1:${leader.port} (AMQP 127.0.0.1:${leader.amqpPort})`;
    await expect(connect(`skiff://guest:guest@127.0.0.1:${follower.port}`, { reconnect: false })).rejects.toThrow(`CONNECTION_FORCED - ${text}`);
    await expect(amqplib.connect(`amqp://guest:guest@127.0.0.1:${follower.amqpPort}`)).rejects.toThrow(`CONNECTION_FORCED - ${text}`);
    // With every node's URL the client finds the leader, whichever it tries first.
    const conn = await connect([`skiff://guest:guest@127.0.0.1:${follower.port}`, ...c.urls()], { reconnect: false });
    expect(conn.port).toBe(leader.port);
    // What replication does not carry yet is refused on the leader, so no confirm outlives a failover's promise.
    const ch = await conn.channel();
    await expect(ch.declareQueue('events', { durable: true, arguments: { 'x-queue-type': 'stream' } })).rejects.toMatchObject({
      replyCode: 406,
      message: "PRECONDITION_FAILED - stream 'events' in vhost '/': streams are not replicated to cluster followers yet; declare streams on a node without --cluster",
    });
    const ch2 = await conn.channel();
    await expect(ch2.declareExchange('later', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } })).rejects.toMatchObject({
      replyCode: 406,
      message:
        "PRECONDITION_FAILED - exchange 'later' in vhost '/': durable delayed exchanges are not replicated to cluster followers yet; declare it non-durable or on a node without --cluster",
    });
    await conn.close();
  }, 60_000);

  it('skiff status, /api/cluster, /api/overview and /metrics show each role, the term, the in-sync set and the lag', async () => {
    const leader = await c.currentLeader();
    const members = await c.inSync((m) => m.length === 3, 'both followers in sync');
    const followers = c.nodes.filter((n) => n !== leader);
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    const api = (n: NodeProcess, path: string): Promise<Response> => fetch(`http://127.0.0.1:${n.httpPort}${path}`, { headers: auth });
    const status = (await (await api(leader, '/api/cluster')).json()) as ClusterStatus;
    expect(status).toMatchObject({ cluster: 'test', node: leader.name, role: 'leader', syncFollowers: 1 });
    expect(status.replication?.inSync).toEqual(members);
    expect(status.replication?.followers.map((f) => [f.node, f.state, f.inSync])).toEqual(followers.map((f) => [f.name, 'streaming', true]));
    for (const f of status.replication?.followers ?? []) expect(f.lagBytes).toBeGreaterThanOrEqual(0);
    const overview = (await (await api(leader, '/api/overview')).json()) as { cluster_name: string; skiff_cluster: ClusterStatus };
    expect(overview.cluster_name).toBe('test');
    expect(overview.skiff_cluster.role).toBe('leader');
    const metrics = await (await api(leader, '/metrics')).text();
    expect(metrics).toContain('skiff_cluster_leader 1');
    expect(metrics).toContain(`skiff_cluster_term ${status.term}`);
    expect(metrics).toContain('skiff_cluster_in_sync_followers 2');
    for (const f of followers) expect(metrics).toMatch(new RegExp(`skiff_cluster_follower_lag_seconds\\{follower="${f.name}"\\} `));
    // A follower answers /api/cluster itself, and 503 with the redirect to everything else.
    const fs = (await (await api(followers[0] as NodeProcess, '/api/cluster')).json()) as ClusterStatus;
    expect(fs).toMatchObject({ role: 'follower', term: status.term, leader: { node: leader.name } });
    expect(fs.following?.state).toBe('streaming');
    const other = await api(followers[0] as NodeProcess, '/api/overview');
    expect(other.status).toBe(503);
    expect(((await other.json()) as { reason: string }).reason).toContain(`the leader is node '${leader.name}'`);
    // skiff status: every node reports itself in etcd (once a second).
    let reported = 0;
    while (reported < 3) {
      reported = ((await (await api(leader, '/api/cluster')).json()) as ClusterStatus).nodes.length;
      if (reported < 3) await new Promise((r) => setTimeout(r, 100));
    }
    const out = await skiff(['status', '--url', `skiff://guest:guest@127.0.0.1:${leader.port}`]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(new RegExp(`cluster +'test', node '${leader.name}' is leader, term ${status.term}, 1 sync follower required`));
    expect(out.stdout).toMatch(new RegExp(`in sync +${members.join(', ')} `));
    for (const f of followers) expect(out.stdout).toMatch(new RegExp(`follower ${f.name} +streaming, in sync; lag `));
    for (const n of c.nodes) expect(out.stdout).toMatch(new RegExp(`node ${n.name} +(leader|follower) at 127.0.0.1:${n.port}`));
  }, 60_000);

  it(`kill -9 the leader ${ROUNDS} times under a confirmed publisher and a consumer: no confirmed message lost, no committed ack undone`, async () => {
    const first = await c.leader();
    await first.child?.seen((r) => r.msg === 'follower in sync', 'a follower in sync', 30_000);
    const model = new Model();
    let generation = 0;
    let reconnected = deferred<number>();
    const conn: Connection = await connect(c.urls(), {
      heartbeatMs: 1000,
      reconnect: { initialDelayMs: 50, maxDelayMs: 500, maxAttempts: Infinity },
    });
    conn.on('disconnected', () => {
      generation++;
      model.lost();
    });
    conn.on('reconnected', () => reconnected.resolve(Date.now()));
    const ch: Channel = await conn.channel();
    await ch.declareQueue('ha.q', { durable: true });
    await ch.confirmSelect();
    let published = 0;
    let running = true;
    ch.consume(
      'ha.q',
      (m: Message) => {
        const id = m.text();
        model.seen(id);
        m.ack();
        model.ack(id, published);
      },
      { prefetch: 200 },
    ).catch(() => undefined);
    let seq = 0;
    const publisher = (async () => {
      while (running) {
        const window: Promise<void>[] = [];
        for (let i = 0; i < 20; i++) {
          const id = `m${++seq}`;
          const index = ++published;
          const gen = generation;
          window.push(
            ch.publish('', 'ha.q', id, { persistent: true }).then(
              () => {
                if (gen === generation) model.confirmedPublish(id, index);
                else model.confirmed.add(id);
              },
              () => undefined,
            ),
          );
        }
        await Promise.all(window);
        if (conn.state === 'reconnecting') await new Promise((r) => conn.once('reconnected', r));
      }
    })();
    const failovers: number[] = [];
    let leader = await c.leader();
    for (let round = 1; round <= ROUNDS; round++) {
      const target = model.confirmed.size + CONFIRMS_PER_ROUND;
      await waitFor(() => model.confirmed.size >= target, `round ${round}: ${CONFIRMS_PER_ROUND} confirms`, 30_000);
      reconnected = deferred<number>();
      const next = c.leader(false, 30_000);
      const killedAt = Date.now();
      await leader.kill('SIGKILL');
      const old = leader;
      leader = await next;
      const back = await within(reconnected.promise, `round ${round}: the client to reconnect`, 30_000);
      failovers.push(back - killedAt);
      old.start();
    }
    const target = model.confirmed.size + CONFIRMS_PER_ROUND;
    await waitFor(() => model.confirmed.size >= target, 'confirms after the last kill', 30_000);
    running = false;
    await publisher;
    // Every confirmed message is delivered at some point (before a kill, or after it, again).
    await waitFor(() => [...model.confirmed].every((id) => model.received.has(id)), 'every confirmed message to arrive', 30_000);
    const sorted = [...failovers].sort((a, b) => a - b);
    console.log(
      `cluster failover: ${ROUNDS} leader kills, ${model.confirmed.size} confirmed; kill to client reconnected (ms): ${failovers.join(', ')}; ` +
        `p50 ${sorted[Math.floor(sorted.length / 2)]} max ${sorted[sorted.length - 1]}`,
    );
    expect(model.violations).toEqual([]);
    expect([...model.confirmed].filter((id) => !model.received.has(id))).toEqual([]);
    await conn.close();
  }, 180_000);

  it('a leader paused past its lease (SIGSTOP) and resumed confirms nothing and leaves the new leader\'s data alone', async () => {
    const old = await c.currentLeader();
    await c.inSync((m) => m.length >= 2, 'a follower in sync');
    const conn = await connect(`skiff://guest:guest@127.0.0.1:${old.port}`, { reconnect: false, heartbeatMs: 0 });
    conn.on('error', () => undefined);
    const ch = await conn.channel();
    await ch.declareQueue('stop.q', { durable: true });
    await ch.confirmSelect();
    for (let i = 0; i < 10; i++) await ch.publish('', 'stop.q', `before-${i}`, { persistent: true });
    const others = c.nodes.filter((n) => n !== old);
    const next = c.leader(false, 30_000, others);
    old.child?.proc.kill('SIGSTOP');
    const fresh = await next;
    // Sent to the paused leader: they wait in its socket until it resumes.
    const outcomes: string[] = [];
    const stale = Array.from({ length: 20 }, (_, i) =>
      ch.publish('', 'stop.q', `stale-${i}`, { persistent: true }).then(
        () => outcomes.push(`stale-${i} confirmed`),
        () => outcomes.push('refused'),
      ),
    );
    const steppedDown = old.child?.next((r) => r.msg === 'no longer the leader: stopped serving', 'the old leader to step down', 30_000);
    old.child?.proc.kill('SIGCONT');
    await steppedDown;
    await within(Promise.all(stale), 'the stale publishes to settle', 30_000);
    expect(outcomes.filter((o) => o !== 'refused')).toEqual([]);
    // It rejoins as a follower of the new term, from a snapshot of the new leader's files.
    await old.child?.seen((r) => r.msg === 'following the leader' && r['leader'] === fresh.name, 'the old leader to follow', 30_000);
    const c2 = await connect(c.urls(), { reconnect: false, heartbeatMs: 0 });
    expect(c2.port).toBe(fresh.port);
    const ch2 = await c2.channel();
    const got: string[] = [];
    for (let m = await ch2.get('stop.q', { noAck: true }); m !== null; m = await ch2.get('stop.q', { noAck: true })) got.push(m.text());
    expect(got.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `before-${i}`).sort());
    await c2.close();
    await conn.close().catch(() => undefined);
  }, 120_000);

  it('a follower restarted with an empty disk catches up, and can take over with everything confirmed', async () => {
    const leader = await c.currentLeader();
    await c.inSync((m) => m.length === 3, 'both followers in sync');
    const [f, g] = c.nodes.filter((n) => n !== leader) as [NodeProcess, NodeProcess];
    const conn = await connect(c.urls(), { reconnect: false, heartbeatMs: 0 });
    const ch = await conn.channel();
    await ch.declareQueue('disk.q', { durable: true });
    await ch.confirmSelect();
    const ids = Array.from({ length: 50 }, (_, i) => `disk-${i}`);
    await Promise.all(ids.map((id) => ch.publish('', 'disk.q', id, { persistent: true })));
    await conn.close();
    await f.kill('SIGKILL');
    rmSync(f.dataDir, { recursive: true, force: true });
    f.start();
    await f.child?.seen((r) => r.msg === 'snapshot installed; streaming', 'the wiped follower to install a snapshot', 30_000);
    await c.inSync((m) => m.includes(f.name), 'the wiped follower back in sync');
    // Only the wiped follower is left to take over: it must hold every confirmed message.
    await g.kill('SIGKILL');
    await c.inSync((m) => !m.includes(g.name), 'the killed follower out of the in-sync set');
    const next = c.leader(false, 30_000, [f]);
    await leader.kill('SIGKILL');
    await next;
    const c2 = await connect(`skiff://guest:guest@127.0.0.1:${f.port}`, { reconnect: false, heartbeatMs: 0 });
    const ch2 = await c2.channel();
    const got: string[] = [];
    for (let m = await ch2.get('disk.q', { noAck: true }); m !== null; m = await ch2.get('disk.q', { noAck: true })) got.push(m.text());
    expect(got.sort()).toEqual([...ids].sort());
    await c2.close();
  }, 120_000);
});
