import { cpus } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { ProtocolError } from '../../../../protocol/index.js';
import { EXCHANGE_TYPES } from '../../../broker/exchange/types.js';
import { VhostDirectory } from '../../vhosts.js';
import { vhostsOf, type ApiContext } from '../api-context.js';
import { tagsOf } from '../basic-auth.js';
import { badRequest, notFound } from '../errors.js';
import { parseListParams, sendListing } from '../listing.js';
import { maxFds, openFds } from '../process-info.js';
import { CHANNEL_FIELDS, GLOBAL_FIELDS, globalTotals, globalValues, queueDepths, type GlobalField } from '../sampler.js';
import type { Json } from '../shapes.js';

/** The version of RabbitMQ's management API whose paths and fields this API follows. */
export const MANAGEMENT_API_VERSION = '3.13.0';

const EXCHANGE_TYPE_INFO = (): Json[] =>
  [...EXCHANGE_TYPES.keys()].map((name) => ({ name, description: `AMQP ${name} exchange, as per the AMQP specification`, enabled: true }));

/** `?msg_rates_age=600&msg_rates_incr=5`: the history to put in `*_details.samples` (seconds). */
interface Range {
  ageMs: number;
  incrMs: number;
}

function range(query: Record<string, unknown>, prefix: string): Range | null {
  const age = query[`${prefix}_age`];
  const incr = query[`${prefix}_incr`];
  if (age === undefined && incr === undefined) return null;
  const a = Number(age);
  const i = Number(incr);
  if (!Number.isInteger(a) || !Number.isInteger(i) || a <= 0 || i <= 0 || a / i > 500) {
    throw badRequest(`Invalid range parameters: age ${String(age)}, incr ${String(incr)}`);
  }
  return { ageMs: a * 1000, incrMs: i * 1000 };
}

/**
 * `{publish: n, publish_details: {rate, samples?, avg_rate?, avg?}, …}` from the broker-wide
 * counters (read now) and the sampler's history (rates and samples, newest first as RabbitMQ).
 */
function globalStats(ctx: ApiContext, fields: readonly GlobalField[], now: Float64Array, r: Range | null): Json {
  const history = ctx.sampler.samples();
  const picked = r === null ? [] : thin(history, r);
  const out: Json = {};
  for (const f of fields) {
    const i = GLOBAL_FIELDS.indexOf(f);
    const d: Json = { rate: round(ctx.sampler.globalRate(f)) };
    if (r !== null) {
      d['samples'] = picked.map((s) => ({ sample: s.values[i], timestamp: s.at }));
      const first = picked[picked.length - 1];
      const last = picked[0];
      const seconds = first !== undefined && last !== undefined ? (last.at - first.at) / 1000 : 0;
      d['avg_rate'] = seconds > 0 ? round(((last?.values[i] ?? 0) - (first?.values[i] ?? 0)) / seconds) : 0;
      d['avg'] = picked.length === 0 ? 0 : round(picked.reduce((s, p) => s + (p.values[i] ?? 0), 0) / picked.length);
    }
    out[f] = now[i];
    out[`${f}_details`] = d;
  }
  return out;
}

/** Samples within the age, at least `incr` apart, newest first. */
function thin<T extends { at: number }>(history: readonly T[], r: Range): T[] {
  const out: T[] = [];
  const newest = history[history.length - 1];
  if (newest === undefined) return out;
  let next = newest.at;
  for (let i = history.length - 1; i >= 0; i--) {
    const s = history[i] as T;
    if (newest.at - s.at > r.ageMs) break;
    if (s.at <= next) {
      out.push(s);
      next = s.at - r.incrMs + 1;
    }
  }
  return out;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function objectTotals(ctx: ApiContext): Json {
  let exchanges = 0;
  let queues = 0;
  let channels = 0;
  let consumers = 0;
  for (const { broker } of vhostsOf(ctx, undefined)) {
    exchanges += broker.exchanges.size;
    queues += broker.queues.size;
    for (const q of broker.queues.values()) consumers += q.consumerCount;
  }
  let connections = 0;
  for (const c of ctx.host.connections.list()) {
    connections++;
    channels += c.session?.channels.size ?? 0;
  }
  return { channels, connections, consumers, exchanges, queues };
}

export function nodeJson(ctx: ApiContext): Json {
  const host = ctx.host;
  const disk = host.disk();
  const alarms = host.alarms();
  const store = host.storeStats();
  const contexts = ctx.listeners().filter((l) => l.protocol === 'http').map((l) => ({ description: 'Skiff management', path: '/', port: String(l.port) }));
  return {
    name: host.nodeName,
    type: 'disc',
    running: true,
    os_pid: String(process.pid),
    uptime: Date.now() - host.startedAt,
    mem_used: process.memoryUsage.rss(),
    mem_limit: host.memoryHighWatermark,
    mem_alarm: alarms.includes('memory'),
    queued_bytes: host.queuedBytes(),
    disk_free: disk.freeBytes,
    disk_free_limit: disk.limitBytes,
    disk_free_alarm: alarms.includes('disk'),
    store_alarm: alarms.includes('store'),
    fd_used: openFds(),
    fd_total: maxFds(),
    sockets_used: [...host.connections.list()].length,
    processors: cpus().length,
    run_queue: 0,
    rates_mode: 'basic',
    exchange_types: EXCHANGE_TYPE_INFO(),
    auth_mechanisms: [{ name: 'PLAIN', description: 'SASL PLAIN authentication mechanism', enabled: true }],
    contexts,
    partitions: [],
    being_drained: false,
    store,
  };
}

/** Overview, nodes, who am I, users, vhosts: the management API's "about the system" endpoints. */
export function overviewRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const host = ctx.host;

  // A cluster node's role, term, in-sync set and each follower's lag; followers answer it too (src/cluster/redirect.ts).
  app.get('/api/cluster', () => host.clusterStatus?.() ?? { cluster: null, role: 'standalone', node: host.nodeName });

  app.get('/api/overview', (req) => {
    const q = req.query as Record<string, unknown>;
    const now = globalValues(ctx.host);
    const listeners = ctx.listeners();
    return {
      management_version: MANAGEMENT_API_VERSION,
      rabbitmq_version: MANAGEMENT_API_VERSION,
      product_name: 'Skiff',
      product_version: host.version,
      rates_mode: 'basic',
      statistics_interval: ctx.sampler.intervalMs,
      sample_retention_policies: { global: [ctx.sampler.intervalMs * ctx.sampler.capacity / 1000] },
      exchange_types: EXCHANGE_TYPE_INFO(),
      cluster_name: host.clusterStatus?.()?.cluster ?? host.nodeName,
      node: host.nodeName,
      // Skiff's own: this node's role, term and replication (null when it runs alone; see /api/cluster).
      skiff_cluster: host.clusterStatus?.() ?? null,
      message_stats: globalStats(ctx, CHANNEL_FIELDS, now, range(q, 'msg_rates')),
      queue_totals: globalStats(ctx, ['messages', 'messages_ready', 'messages_unacknowledged'], now, range(q, 'lengths')),
      object_totals: objectTotals(ctx),
      statistics_db_event_queue: 0,
      listeners: listeners.map((l) => ({ node: host.nodeName, protocol: l.protocol, ip_address: l.host, port: l.port, socket_opts: {} })),
      contexts: listeners.filter((l) => l.protocol === 'http').map((l) => ({ node: host.nodeName, description: 'Skiff management', path: '/', port: String(l.port) })),
      alarms: host.alarms(),
    };
  });

  app.get('/api/cluster-name', () => ({ name: host.nodeName }));
  app.get('/api/nodes', () => [nodeJson(ctx)]);
  app.get<{ Params: { node: string } }>('/api/nodes/:node', (req) => {
    if (req.params.node !== host.nodeName) throw notFound(`no node '${req.params.node}'`);
    return nodeJson(ctx);
  });
  app.get('/api/extensions', () => []);

  app.get('/api/whoami', { config: { access: 'user' } }, (req) => {
    const p = req.principal;
    return { name: p?.user ?? '', tags: tagsOf(p ?? { admin: false }) };
  });

  const vhostJson = (name: string): Json => {
    let ready = 0;
    let unacked = 0;
    for (const q of host.vhost(name)?.queues.values() ?? []) {
      ready += q.messageCount;
      unacked += q.unackedCount;
    }
    const info = host.vhostDirectory?.get(name);
    const description = info?.description ?? (name === '/' ? 'Default virtual host' : '');
    const tags = [...(info?.tags ?? [])];
    return {
      name,
      description,
      tags,
      metadata: { description, tags },
      default_queue_type: info?.defaultQueueType ?? 'classic',
      tracing: false,
      messages: ready + unacked,
      messages_ready: ready,
      messages_unacknowledged: unacked,
    };
  };
  // Users see the vhosts they have access to; administrators and monitoring users see all, as RabbitMQ.
  const sees = (p: { user: string; admin: boolean; tags?: readonly string[] } | null | undefined, vhost: string): boolean =>
    p == null || p.admin || (p.tags ?? []).includes('monitoring') || host.permissions.guard(p.user, vhost).hasAccess;
  const anyUser = { config: { access: 'user' as const } };
  app.get('/api/vhosts', anyUser, (req) => host.vhostNames().filter((v) => sees(req.principal, v)).map(vhostJson));
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost', anyUser, (req) => {
    vhostsOf(ctx, req.params.vhost);
    if (!sees(req.principal, req.params.vhost)) throw notFound(`no vhost '${req.params.vhost}'`);
    return vhostJson(req.params.vhost);
  });
  // RabbitMQ's PUT /api/vhosts/{name}: {description?, tags?, default_queue_type?}; 201 created, 204 updated.
  app.put<{ Params: { vhost: string } }>('/api/vhosts/:vhost', { config: { access: 'admin' } }, async (req, reply) => {
    const dir = host.vhostDirectory;
    if (dir === undefined) throw badRequest('this daemon serves only the vhost /');
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (typeof b !== 'object' || Array.isArray(b)) throw badRequest('body: must be a JSON object');
    const extra = Object.keys(b).find((k) => !['description', 'tags', 'default_queue_type', 'tracing', 'name', 'metadata'].includes(k));
    if (extra !== undefined) throw badRequest(`body.${extra}: unknown key (expected description, tags, default_queue_type, tracing)`);
    if (b['tracing'] === true) throw badRequest('body.tracing: message tracing is not supported');
    const meta = (typeof b['metadata'] === 'object' && b['metadata'] !== null ? b['metadata'] : {}) as Record<string, unknown>;
    const fields = { description: b['description'] ?? meta['description'], tags: b['tags'] ?? meta['tags'], defaultQueueType: b['default_queue_type'] };
    const problem = VhostDirectory.problem(req.params.vhost, fields, 'body');
    if (problem !== null) throw badRequest(problem);
    const r = await dir.put(req.params.vhost, fields);
    return reply.code(r === 'created' ? 201 : 204).send();
  });
  app.delete<{ Params: { vhost: string } }>('/api/vhosts/:vhost', { config: { access: 'admin' } }, async (req, reply) => {
    const dir = host.vhostDirectory;
    if (dir === undefined || !dir.has(req.params.vhost)) throw notFound(`no vhost '${req.params.vhost}'`);
    try {
      await dir.delete(req.params.vhost);
    } catch (e) {
      if (e instanceof ProtocolError) throw badRequest(e.message);
      throw e;
    }
    return reply.code(204).send();
  });

  // The status map of the native admin method (SPEC §3.7.3), for scripts that want one object.
  app.get('/api/stats', () => {
    const t = globalTotals(host);
    const totals = objectTotals(ctx);
    const d = queueDepths(ctx.host);
    const mem = process.memoryUsage();
    return {
      version: host.version,
      node: process.version,
      pid: process.pid,
      uptimeMs: Date.now() - host.startedAt,
      connections: totals['connections'],
      channels: totals['channels'],
      consumers: totals['consumers'],
      exchanges: totals['exchanges'],
      queues: totals['queues'],
      messagesReady: d.ready,
      messagesUnacked: d.unacked,
      published: t.publish,
      delivered: t.deliverGet,
      unroutable: t.returnUnroutable + t.dropUnroutable,
      publishRate: round(ctx.sampler.globalRate('publish')),
      deliverRate: round(ctx.sampler.globalRate('deliver_get')),
      memory: { rss: mem.rss, heapUsed: mem.heapUsed, arrayBuffers: mem.arrayBuffers, queuedBytes: host.queuedBytes(), highWatermark: host.memoryHighWatermark, blocked: host.alarms().length !== 0 },
      store: host.storeStats(),
      alarms: host.alarms(),
    };
  });
}
