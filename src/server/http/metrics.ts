import type { ClusterStatus } from '../../../protocol/index.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { Registry, type Metric } from 'prom-client';
import type { Channel } from '../../broker/channel.js';
import { ChannelTotals } from '../../broker/channel-totals.js';
import type { Queue } from '../../broker/queue.js';
import { vhostsOf, type ApiContext } from './api-context.js';
import type { ClientConnectionView, WebSocketStatsView } from './host.js';
import { maxFds, openFds } from './process-info.js';
import { globalTotals } from './sampler.js';
import { channelName } from './shapes.js';

type Labels = Record<string, string>;
type Emit = (value: number, labels?: Labels) => void;
/** Reads values at scrape time and emits them; may be async to yield on long listings. */
type Collect = (emit: Emit) => void | Promise<void>;

/** Values emitted between two turns of the event loop, so a scrape of 10,000 queues never stalls it. */
const PER_TURN = 2000;
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One metric whose values are read when Prometheus scrapes, never kept up per message. It is a
 * prom-client metric (the registry formats and serves it) that builds its values straight from
 * `collect`, without prom-client's per-label-set bookkeeping, which costs more than the reading
 * when there are 10,000 queues.
 */
class ScrapedMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'gauge' | 'counter',
    private readonly collect: Collect,
  ) {}

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { value: number; labels: Labels }[] }> {
    const values: { value: number; labels: Labels }[] = [];
    await this.collect((value, labels = {}) => values.push({ value, labels }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

function metric(reg: Registry, type: 'gauge' | 'counter', name: string, help: string, _labelNames: string[], collect: Collect): void {
  reg.registerMetric(new ScrapedMetric(name, help, type, collect) as unknown as Metric);
}

/** Each value of `items`, yielding to the event loop every {@link PER_TURN}. */
async function each<T>(items: Iterable<T>, f: (item: T) => void): Promise<void> {
  let n = 0;
  for (const item of items) {
    if (++n % PER_TURN === 0) await tick();
    f(item);
  }
}

/**
 * The Prometheus endpoints: `/metrics`, aggregated (one value per metric, what dashboards and
 * alerts need, cheap to scrape whatever the number of queues), and `/metrics/per-object`, with a
 * series per queue, channel and connection. Names follow RabbitMQ's Prometheus plugin after the
 * `metrics_prefix` (`skiff_` or `rabbitmq_`), so RabbitMQ's Grafana dashboards and alerts work
 * with `metrics_prefix = "rabbitmq"`. Broker-wide message counters include closed channels, so
 * they never go down (RabbitMQ's `global` counters).
 */
export function registerMetrics(app: FastifyInstance, ctx: ApiContext): void {
  const p = `${ctx.options.metricsPrefix}_`;
  const host = ctx.host;
  const aggregated = new Registry();
  const perObject = new Registry();
  // 10 wakeups a second: a stall delays the pending timer whatever the resolution, so the max is still seen.
  const loopDelay = monitorEventLoopDelay({ resolution: 100 });
  loopDelay.enable();
  /** The delays since the last scrape of /metrics, read when it starts. */
  let loop = { p99: 0, max: 0 };
  app.addHook('onClose', async () => loopDelay.disable());

  // Every message-counter family reads the same sum; one per scrape is enough.
  let scraped: ChannelTotals | null = null;
  const totals = (): ChannelTotals => (scraped ??= globalTotals(host));
  // The aggregated figures, in one pass over queues and channels per scrape.
  let summed: Sums | null = null;
  const sums = (): Sums => {
    if (summed !== null) return summed;
    const t: Sums = { queues: 0, ready: 0, unacked: 0, readyBytes: 0, consumers: 0, published: 0, channels: 0, channelUnacked: 0, channelUnconfirmed: 0 };
    for (const { q } of queues()) {
      t.queues++;
      t.ready += q.messageCount;
      t.unacked += q.unackedCount;
      t.readyBytes += q.readyBytes;
      t.consumers += q.consumerCount;
      t.published += q.publishedTotal;
    }
    for (const { ch } of channels()) {
      t.channels++;
      t.channelUnacked += ch.unackedCount;
      t.channelUnconfirmed += ch.confirms?.outstanding ?? 0;
    }
    return (summed = t);
  };

  const queues = function* (): Generator<{ q: Queue; vhost: string }> {
    for (const v of vhostsOf(ctx, undefined)) for (const q of v.broker.queues.values()) yield { q, vhost: v.name };
  };
  const channels = function* (): Generator<{ ch: Channel; name: string; vhost: string }> {
    for (const v of vhostsOf(ctx, undefined)) {
      for (const s of v.broker.sessions.values()) {
        const conn = host.connections.get(s.id);
        if (conn === undefined) continue;
        for (const ch of s.channels.values()) yield { ch, name: channelName(conn.name, ch.id), vhost: v.name };
      }
    }
  };

  for (const reg of [aggregated, perObject]) {
    metric(reg, 'gauge', `${p}identity_info`, 'Node and cluster identity', [`${p}node`, `${p}cluster`], (emit) => emit(1, { [`${p}node`]: host.nodeName, [`${p}cluster`]: host.nodeName }));
    metric(reg, 'gauge', `${p}build_info`, 'Skiff and Node.js versions', ['version', 'nodejs_version'], (emit) => emit(1, { version: host.version, nodejs_version: process.version }));
  }

  // ---- the node ----
  const r = aggregated;
  metric(r, 'gauge', `${p}connections`, 'Connections currently open', [], (emit) => emit([...host.connections.list()].length));
  metric(r, 'gauge', `${p}channels`, 'Channels currently open', [], (emit) => emit(sums().channels));
  metric(r, 'gauge', `${p}consumers`, 'Consumers currently connected', [], (emit) => emit(sums().consumers));
  metric(r, 'gauge', `${p}queues`, 'Queues available', [], (emit) => emit(sums().queues));
  metric(r, 'gauge', `${p}exchanges`, 'Exchanges available', [], (emit) => emit(vhostsOf(ctx, undefined).reduce((n, v) => n + v.broker.exchanges.size, 0)));
  const churn = (name: string, help: string, f: (b: ReturnType<typeof vhostsOf>[number]['broker']) => number): void =>
    metric(r, 'counter', `${p}${name}`, help, [], (emit) => emit(vhostsOf(ctx, undefined).reduce((n, v) => n + f(v.broker), 0)));
  churn('connections_opened_total', 'Total number of connections opened', (b) => b.sessionsClosedTotal + b.sessions.size);
  churn('connections_closed_total', 'Total number of connections closed or terminated', (b) => b.sessionsClosedTotal);
  churn('channels_opened_total', 'Total number of channels opened', (b) => b.channelsClosedTotal + [...b.sessions.values()].reduce((n, s) => n + s.channels.size, 0));
  churn('channels_closed_total', 'Total number of channels closed', (b) => b.channelsClosedTotal);
  churn('queues_declared_total', 'Total number of queues declared', (b) => b.queuesDeclaredTotal);
  churn('queues_created_total', 'Total number of queues created', (b) => b.queuesDeletedTotal + b.queues.size);
  churn('queues_deleted_total', 'Total number of queues deleted', (b) => b.queuesDeletedTotal);

  metric(r, 'gauge', `${p}process_resident_memory_bytes`, 'Memory used in bytes', [], (emit) => emit(process.memoryUsage.rss()));
  metric(r, 'gauge', `${p}resident_memory_limit_bytes`, 'Memory high watermark in bytes (memory_high_watermark: queued message bytes; 0 = none)', [], (emit) =>
    emit(host.memoryHighWatermark),
  );
  metric(r, 'gauge', `${p}queued_message_bytes`, 'Bytes of queued messages, the figure memory_high_watermark applies to', [], (emit) => emit(host.queuedBytes()));
  metric(r, 'gauge', `${p}disk_space_available_bytes`, 'Disk space available in bytes (data directory)', [], (emit) => {
    const free = host.disk().freeBytes;
    if (free !== null) emit(free);
  });
  metric(r, 'gauge', `${p}disk_space_available_limit_bytes`, 'Free disk space low watermark in bytes (disk_free_limit)', [], (emit) => emit(host.disk().limitBytes));
  metric(r, 'gauge', `${p}process_open_fds`, 'Open file descriptors', [], (emit) => {
    const n = openFds();
    if (n !== null) emit(n);
  });
  metric(r, 'gauge', `${p}process_max_fds`, 'Open file descriptors limit', [], (emit) => {
    const n = maxFds();
    if (n !== null) emit(n);
  });
  metric(r, 'gauge', `${p}uptime_seconds`, 'Time since the daemon started', [], (emit) => emit((Date.now() - host.startedAt) / 1000));
  metric(r, 'gauge', `${p}event_loop_delay_p99_seconds`, 'Event loop delay, 99th percentile since the last scrape', [], (emit) => emit(loop.p99));
  metric(r, 'gauge', `${p}event_loop_delay_max_seconds`, 'Event loop delay, longest since the last scrape', [], (emit) => emit(loop.max));
  const alarm = (name: string, reason: string, help: string): void =>
    metric(r, 'gauge', `${p}alarms_${name}`, help, [], (emit) => emit(host.alarms().includes(reason) ? 1 : 0));
  alarm('memory_used_watermark', 'memory', 'Is the memory alarm in effect (1) or not (0)');
  alarm('free_disk_space_watermark', 'disk', 'Is the disk alarm in effect (1) or not (0)');
  alarm('store_backlog', 'store', 'Is the store backlog alarm (max_pending_bytes) in effect (1) or not (0)');

  // ---- the WebSocket endpoint ----
  const websockets = (name: string, type: 'gauge' | 'counter', help: string, labels: string[], f: (s: WebSocketStatsView, emit: Emit) => void): void =>
    metric(r, type, `${p}websocket_${name}`, help, labels, (emit) => {
      const s = host.websockets?.() ?? null;
      if (s !== null) f(s, emit);
    });
  websockets('connections', 'gauge', 'WebSockets currently open (/ws, ws_port)', [], (s, emit) => emit(s.open));
  websockets('connections_opened_total', 'counter', 'WebSocket upgrades accepted', [], (s, emit) => emit(s.opened));
  websockets('upgrades_refused_total', 'counter', 'WebSocket upgrades refused, by reason (origin, connection_limit, subprotocol)', ['reason'], (s, emit) => {
    for (const [reason, n] of Object.entries(s.refused)) emit(n, { reason });
  });
  websockets('connections_dropped_total', 'counter', 'WebSockets the endpoint dropped, by reason (handshake_timeout, idle)', ['reason'], (s, emit) => {
    for (const [reason, n] of Object.entries(s.dropped)) emit(n, { reason });
  });

  const store = (name: string, type: 'gauge' | 'counter', help: string, f: (s: NonNullable<ReturnType<typeof host.storeStats>>) => number): void =>
    metric(r, type, `${p}store_${name}`, help, [], (emit) => {
      const s = host.storeStats();
      if (s !== null) emit(f(s));
    });
  store('checkpoint_lag_seconds', 'gauge', 'Age of the oldest change not yet committed to disk', (s) => s.checkpointLagMs / 1000);
  store('pending_bytes', 'gauge', 'Bytes recorded but not yet committed (bounded by max_pending_bytes)', (s) => s.pendingBytes);
  store('checkpoints_in_flight', 'gauge', 'Checkpoints being written', (s) => s.checkpointsInFlight);
  store('confirms_waiting', 'gauge', 'Publisher confirms waiting for a commit', (s) => s.confirmsWaiting);
  store('checkpoints_total', 'counter', 'Committed checkpoints (one per shard transaction)', (s) => s.checkpoints);
  store('checkpoint_failures_total', 'counter', 'Failed checkpoints', (s) => s.failedCheckpoints);

  // ---- cluster (skiff server --cluster): nothing when the node runs alone ----
  const cluster = (name: string, help: string, labels: string[], f: (s: ClusterStatus, emit: (v: number, l?: Labels) => void) => void): void =>
    metric(r, 'gauge', `${p}cluster_${name}`, help, labels, (emit) => {
      const s = host.clusterStatus?.() ?? null;
      if (s !== null) f(s, emit);
    });
  cluster('leader', '1 on the leader, 0 on a follower', [], (s, emit) => emit(s.role === 'leader' ? 1 : 0));
  cluster('term', "The leader's term (its election revision in etcd)", [], (s, emit) => emit(s.term));
  cluster('in_sync_followers', 'Followers in the in-sync set (leader only)', [], (s, emit) => {
    if (s.replication !== null) emit(s.replication.inSync.length - 1);
  });
  cluster('follower_lag_bytes', 'Bytes of committed change sets a follower has not acknowledged (leader only)', ['follower'], (s, emit) => {
    for (const f of s.replication?.followers ?? []) emit(f.lagBytes, { follower: f.node });
  });
  cluster('follower_lag_seconds', 'Age of the oldest change set a follower has not acknowledged (leader only)', ['follower'], (s, emit) => {
    for (const f of s.replication?.followers ?? []) emit(f.lagSeconds, { follower: f.node });
  });
  cluster('follower_in_sync', '1 while a follower is in the in-sync set (leader only)', ['follower'], (s, emit) => {
    for (const f of s.replication?.followers ?? []) emit(f.inSync ? 1 : 0, { follower: f.node });
  });

  // ---- queues, summed ----
  const queueSum = (name: string, help: string, f: (s: Sums) => number): void => metric(r, 'gauge', `${p}queue_${name}`, help, [], (emit) => emit(f(sums())));
  queueSum('messages_ready', 'Messages ready to be delivered to consumers', (t) => t.ready);
  queueSum('messages_unacked', 'Messages delivered to consumers but not yet acknowledged', (t) => t.unacked);
  queueSum('messages', 'Sum of ready and unacknowledged messages - total queue depth', (t) => t.ready + t.unacked);
  queueSum('messages_ready_bytes', 'Size in bytes of ready messages', (t) => t.readyBytes);
  queueSum('consumers', 'Consumers on a queue', (t) => t.consumers);
  metric(r, 'counter', `${p}queue_messages_published_total`, 'Total number of messages published to queues (existing queues)', [], (emit) => emit(sums().published));

  // ---- message counters, broker-wide (they survive channel churn) ----
  const g = (name: string, help: string, f: (t: ChannelTotals) => number): void =>
    metric(r, 'counter', `${p}global_messages_${name}`, help, [], (emit) => emit(f(totals())));
  g('received_total', 'Total number of messages received from publishers', (t) => t.publish);
  g('received_confirm_total', 'Total number of messages received from publishers expecting confirmations', (t) => t.publishConfirm);
  g('routed_total', 'Total number of messages routed to queues', (t) => t.publish - t.returnUnroutable - t.dropUnroutable);
  g('unroutable_dropped_total', 'Total number of messages published as non-mandatory into an exchange and dropped as unroutable', (t) => t.dropUnroutable);
  g('unroutable_returned_total', 'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable', (t) => t.returnUnroutable);
  g('confirmed_total', 'Total number of messages confirmed to publishers', (t) => t.confirm);
  g('delivered_total', 'Total number of messages delivered to consumers', (t) => t.deliverGet);
  g('delivered_consume_manual_ack_total', 'Total number of messages delivered to consumers using basic.consume with manual acknowledgment', (t) => t.deliver);
  g('delivered_consume_auto_ack_total', 'Total number of messages delivered to consumers using basic.consume with automatic acknowledgment', (t) => t.deliverNoAck);
  g('delivered_get_manual_ack_total', 'Total number of messages delivered to consumers using basic.get with manual acknowledgment', (t) => t.get);
  g('delivered_get_auto_ack_total', 'Total number of messages delivered to consumers using basic.get with automatic acknowledgment', (t) => t.getNoAck);
  g('get_empty_total', 'Total number of times basic.get operations fetched no message', (t) => t.getEmpty);
  g('redelivered_total', 'Total number of messages returned to queues for redelivery', (t) => t.redeliver);
  g('acknowledged_total', 'Total number of messages acknowledged by consumers', (t) => t.ack);

  // The channel families RabbitMQ's dashboards read, summed; here from the same global counters.
  const c = (name: string, help: string, f: (t: ChannelTotals) => number): void => metric(r, 'counter', `${p}channel_${name}`, help, [], (emit) => emit(f(totals())));
  channelFamilies(c);
  metric(r, 'gauge', `${p}channel_messages_unacked`, 'Delivered but not yet acknowledged messages', [], (emit) => emit(sums().channelUnacked));
  metric(r, 'gauge', `${p}channel_messages_unconfirmed`, 'Published but not yet confirmed messages', [], (emit) => emit(sums().channelUnconfirmed));

  // ---- per object ----
  const o = perObject;
  const ql = ['vhost', 'queue'];
  const perQueue = (type: 'gauge' | 'counter', name: string, help: string, f: (q: Queue) => number): void =>
    metric(o, type, `${p}queue_${name}`, help, ql, (emit) => each(queues(), (i) => emit(f(i.q), { vhost: i.vhost, queue: i.q.name })));
  perQueue('gauge', 'messages_ready', 'Messages ready to be delivered to consumers', (q) => q.messageCount);
  perQueue('gauge', 'messages_unacked', 'Messages delivered to consumers but not yet acknowledged', (q) => q.unackedCount);
  perQueue('gauge', 'messages', 'Sum of ready and unacknowledged messages - total queue depth', (q) => q.messageCount + q.unackedCount);
  perQueue('gauge', 'messages_ready_bytes', 'Size in bytes of ready messages', (q) => q.readyBytes);
  perQueue('gauge', 'consumers', 'Consumers on a queue', (q) => q.consumerCount);
  perQueue('counter', 'messages_published_total', 'Total number of messages published to the queue', (q) => q.publishedTotal);
  perQueue('counter', 'messages_delivered_total', 'Total number of messages delivered from the queue (consumers and get)', (q) => q.deliveredTotal);
  perQueue('counter', 'messages_acked_total', 'Total number of messages from the queue acknowledged', (q) => q.ackTotal);
  perQueue('counter', 'messages_redelivered_total', 'Total number of messages returned to the queue for redelivery', (q) => q.redeliverTotal);

  const cl = ['vhost', 'channel'];
  const perChannel = (name: string, help: string, f: (t: ChannelTotals) => number): void =>
    metric(o, 'counter', `${p}channel_${name}`, help, cl, (emit) => each(channels(), (i) => emit(f(new ChannelTotals().add(i.ch)), { vhost: i.vhost, channel: i.name })));
  channelFamilies(perChannel);
  const channelGauge = (name: string, help: string, f: (ch: Channel) => number): void =>
    metric(o, 'gauge', `${p}channel_${name}`, help, cl, (emit) => each(channels(), (i) => emit(f(i.ch), { vhost: i.vhost, channel: i.name })));
  channelGauge('consumers', 'Consumers on a channel', (ch) => ch.consumers.size);
  channelGauge('messages_unacked', 'Delivered but not yet acknowledged messages', (ch) => ch.unackedCount);
  channelGauge('messages_unconfirmed', 'Published but not yet confirmed messages', (ch) => ch.confirms?.outstanding ?? 0);
  channelGauge('prefetch', 'Total limit of unacknowledged messages for all consumers on a channel', (ch) => ch.channelPrefetch);

  const perConnection = (type: 'gauge' | 'counter', name: string, help: string, f: (c: ClientConnectionView) => number): void =>
    metric(o, type, `${p}connection_${name}`, help, ['connection'], (emit) => each(host.connections.list(), (conn) => emit(f(conn), { connection: conn.name })));
  perConnection('counter', 'incoming_bytes_total', 'Total number of bytes received on a connection', (conn) => conn.bytesIn);
  perConnection('counter', 'outgoing_bytes_total', 'Total number of bytes sent on a connection', (conn) => conn.bytesOut);
  perConnection('gauge', 'channels', 'Channels on a connection', (conn) => conn.session?.channels.size ?? 0);

  const serve = (reg: Registry) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    scraped = null;
    summed = null;
    if (reg === aggregated) {
      loop = { p99: loopDelay.percentile(99) / 1e9, max: loopDelay.max / 1e9 };
      loopDelay.reset();
    }
    // One metric per event-loop turn: formatting 10,000 series of each is not a single stall.
    const parts: string[] = [];
    for (const m of reg.getMetricsAsArray()) {
      parts.push(await reg.getSingleMetricAsString(m.name));
      await tick();
    }
    return reply.type(reg.contentType).header('cache-control', 'no-cache').send(`${parts.join('\n\n')}\n`);
  };
  const access = ctx.options.metricsPublic ? 'none' : 'admin';
  app.get('/metrics', { config: { access } }, serve(aggregated));
  app.get('/metrics/per-object', { config: { access } }, serve(perObject));
}

interface Sums {
  queues: number;
  ready: number;
  unacked: number;
  readyBytes: number;
  consumers: number;
  published: number;
  channels: number;
  channelUnacked: number;
  channelUnconfirmed: number;
}

/** RabbitMQ's channel counter families, in either registry. */
function channelFamilies(def: (name: string, help: string, f: (t: ChannelTotals) => number) => void): void {
  def('messages_published_total', 'Total number of messages published into an exchange on a channel', (t) => t.publish);
  def('messages_confirmed_total', 'Total number of messages published into an exchange and confirmed on the channel', (t) => t.confirm);
  def('messages_unroutable_returned_total', 'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable', (t) => t.returnUnroutable);
  def('messages_unroutable_dropped_total', 'Total number of messages published as non-mandatory into an exchange and dropped as unroutable', (t) => t.dropUnroutable);
  def('messages_delivered_ack_total', 'Total number of messages delivered to consumers in manual acknowledgement mode', (t) => t.deliver);
  def('messages_delivered_total', 'Total number of messages delivered to consumers in automatic acknowledgement mode', (t) => t.deliverNoAck);
  def('get_ack_total', 'Total number of messages fetched with basic.get in manual acknowledgement mode', (t) => t.get);
  def('get_total', 'Total number of messages fetched with basic.get in automatic acknowledgement mode', (t) => t.getNoAck);
  def('get_empty_total', 'Total number of times basic.get operations fetched no message', (t) => t.getEmpty);
  def('messages_redelivered_total', 'Total number of messages returned for redelivery', (t) => t.redeliver);
  def('messages_acked_total', 'Total number of messages acknowledged by consumers', (t) => t.ack);
}
