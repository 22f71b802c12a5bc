import {
  Method,
  ProtocolError,
  ReplyCode,
  argsOf,
  isAdminListKind,
  packValue,
  type AdminListKind,
  type BindingRow,
  type ConnectionRow,
  type ConsumerRow,
  type ExchangeRow,
  type ParsedMethod,
  type QueueRow,
  type ServerStatus,
  type StoreStatus,
  type ClusterStatus,
  type UserRow,
} from '../../../protocol/index.js';
import type { Stream } from '../../broker/stream.js';
import type { Broker } from '../../broker/broker.js';
import { DelayedExchange } from '../../broker/exchange/delayed.js';
import type { ConnectionRegistry } from '../registry.js';
import type { Connection } from './connection.js';
import type { ConnectionMethodHandler } from './context.js';
import { putUser } from '../user-change.js';
import type { UserDirectory } from '../users.js';
import type { Permissions } from '../permissions.js';
import { mayManagePolicies, type Policies } from '../policies.js';
import type { PolicyKind } from '../../broker/policy.js';
import { VirtualHosts } from '../../broker/vhosts.js';
import { Limits } from '../limits.js';
import type { VhostDirectory } from '../vhosts.js';

/** What the admin methods need of the front end ({@link NativeFrontEnd} has all of it). */
export interface AdminHost {
  readonly broker: Broker;
  /** Every vhost; absent: `broker` alone, as `/`. */
  readonly vhosts?: VirtualHosts;
  readonly version: string;
  readonly startedAt: number;
  /** Every front end's connections: listings and closes reach AMQP and WebSocket clients too. */
  readonly registry: ConnectionRegistry;
  readonly connectionHandlers: Map<number, ConnectionMethodHandler>;
}

/** An admin method's handler; a promise for those that wait on the store (replies stay in order). */
type AdminHandler = (conn: Connection, method: ParsedMethod) => void | Promise<void>;

/** What a caller must be: `read` methods are also open to the `monitoring` tag. */
type Need = 'read' | 'admin';

export interface AdminOptions {
  /** `memory_high_watermark`, reported by status. */
  memoryHighWatermark?: number;
  /** Checkpoint lag of the durable store for status; absent or null without a store. */
  storeStatus?: () => StoreStatus | null;
  /** This node's part in its cluster; absent when it runs alone. */
  clusterStatus?: () => ClusterStatus;
  /** How often publish/deliver counters are sampled for rates. Default 1000 ms. */
  rateSampleMs?: number;
  /** Run-time users (`admin.put user`, `admin.list users`); absent = not offered. */
  users?: UserDirectory;
  /** Permissions (`admin.put permission`, `admin.list permissions`); absent = not offered. */
  permissions?: Permissions;
  /** Policies (`admin.put policy`, `admin.list policies`, and operator ones); absent = not offered. */
  policies?: Policies;
  /** User and vhost limits (`admin.put vhost-limits`, `admin.list user-limits`); absent = not offered. */
  limits?: Limits;
  /** Virtual hosts (`admin.put vhost`, `admin.delete vhost`, `admin.list vhosts`); absent = not offered. */
  vhosts?: VhostDirectory;
}

/** Stops the rate sampler; call it when the server stops. */
export interface AdminHandle {
  stop(): void;
}

/** Rates are averaged over this many samples (5 s at the default interval). */
const RATE_WINDOW = 5;
/** Room left in a list-ok frame for the frame header, method id, array headers and `next`. */
const LIST_FRAME_OVERHEAD = 64;

interface Sample {
  t: number;
  published: number;
  delivered: number;
}

/**
 * Keeps the last few counter samples so `status` can report rates without per-message work:
 * the broker already counts publishes and deliveries.
 */
class RateMeter {
  private readonly samples: Sample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly vhosts: VirtualHosts,
    intervalMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    this.samples.push({ t: Date.now(), ...this.totals() });
    if (this.samples.length > RATE_WINDOW + 1) this.samples.shift();
  }

  private totals(): { published: number; delivered: number } {
    let published = 0;
    let delivered = 0;
    for (const b of this.vhosts.all()) {
      published += b.publishedTotal;
      delivered += b.deliveredTotal;
    }
    return { published, delivered };
  }

  rates(): { publishRate: number; deliverRate: number } {
    const first = this.samples[0] as Sample;
    const now = { t: Date.now(), ...this.totals() };
    const seconds = (now.t - first.t) / 1000;
    if (seconds <= 0) return { publishRate: 0, deliverRate: 0 };
    const rate = (d: number): number => Math.round((d / seconds) * 10) / 10;
    return { publishRate: rate(now.published - first.published), deliverRate: rate(now.delivered - first.delivered) };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Registers the admin methods (SPEC §3.7) on a server's channel 0. Each request gets exactly
 * one reply, in order: its `-ok`, or `admin.error` for a refusal (not an admin, unknown
 * connection …), which leaves the connection open.
 */
export function registerAdminMethods(host: AdminHost, options: AdminOptions = {}): AdminHandle {
  const vhosts = host.vhosts ?? new VirtualHosts(host.broker);
  const meter = new RateMeter(vhosts, options.rateSampleMs ?? 1000);
  const users = options.users;
  const permissions = options.permissions;
  const policies = options.policies;
  const limits = options.limits;
  const directory = options.vhosts;
  /** The vhost a request names; '' = the vhost the admin connection is in. */
  const vhostOf = (conn: Connection, named: unknown): string => (typeof named === 'string' && named !== '' ? named : (conn.session?.broker.vhost ?? '/'));
  const brokerOf = (vhost: string): Broker => {
    const b = vhosts.get(vhost);
    if (b === undefined) throw new ProtocolError(ReplyCode.NOT_FOUND, `no vhost '${vhost}'`);
    return b;
  };
  const offered = (kind: string): boolean => {
    if (kind === 'users') return users !== undefined;
    if (kind === 'permissions' || kind === 'topic-permissions') return permissions !== undefined;
    if (kind === 'policies' || kind === 'operator-policies') return policies !== undefined;
    if (kind === 'vhost-limits' || kind === 'user-limits') return limits !== undefined;
    if (kind === 'vhosts') return directory !== undefined;
    return true;
  };
  const handlers: [number, Need, AdminHandler][] = [
    [
      Method.AdminStatus,
      'read',
      (conn) => {
        conn.writer.method(0, Method.AdminStatusOk, [status(vhosts, meter, options, host) as unknown as Record<string, unknown>]);
      },
    ],
    [
      Method.AdminList,
      'read',
      (conn, p) => {
        const { kind, offset, vhost: named } = argsOf(p, Method.AdminList);
        const policyKind = kind === 'policies' ? 'policy' : kind === 'operator-policies' ? 'operator-policy' : null;
        if (!isAdminListKind(kind) || !offered(kind)) {
          throw new ProtocolError(
            ReplyCode.PRECONDITION_FAILED,
            `unknown listing '${kind}' (expected exchanges, queues, bindings, connections, consumers, users, permissions, topic-permissions, policies, operator-policies, vhosts, vhost-limits or user-limits)`,
          );
        }
        // Settings list every vhost's unless one is named; objects are the named vhost's, else the connection's.
        const only = named === '' ? undefined : named;
        if (only !== undefined) brokerOf(only);
        const all: object[] =
          kind === 'permissions'
            ? (permissions?.list() ?? []).filter((r) => only === undefined || r.vhost === only)
            : kind === 'topic-permissions'
              ? (permissions?.listTopic() ?? []).filter((r) => only === undefined || r.vhost === only)
              : policyKind !== null
                ? (policies?.list(policyKind, only) ?? [])
                : kind === 'vhosts'
                  ? vhostRows(directory as VhostDirectory, vhosts, host.registry)
                  : kind === 'vhost-limits' || kind === 'user-limits'
                    ? (limits as Limits).list(kind === 'vhost-limits' ? 'vhost' : 'user').map((l) => ({ name: l.key, value: l.value }))
                    : listRows(brokerOf(vhostOf(conn, named)), host, kind, users);
        const { rows, next } = page(all, offset, conn.frameMax - LIST_FRAME_OVERHEAD);
        conn.writer.method(0, Method.AdminListOk, [rows, next]);
      },
    ],
    [
      Method.AdminCloseConnection,
      'admin',
      (conn, p) => {
        const { connection: id, reason } = argsOf(p, Method.AdminCloseConnection);
        const target = host.registry.get(id);
        if (target === undefined) throw new ProtocolError(ReplyCode.NOT_FOUND, `no connection '${id}'`);
        conn.writer.method(0, Method.AdminCloseConnectionOk, []);
        conn.log.info({ target: target.id, user: target.user, protocol: target.protocol }, 'operator closed a connection');
        target.close(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`);
      },
    ],
    [
      Method.AdminPut,
      'admin',
      async (conn, p) => {
        const [kind, name, value] = p.args as [string, string, Record<string, unknown>];
        let created: boolean;
        if (isPolicyKind(kind) && policies !== undefined) {
          const { vhost, ...rest } = value;
          created = (await putPolicy(policies, kind, name, rest, vhostOf(conn, vhost))) === 'created';
        } else if (kind === 'permission' && permissions !== undefined) {
          created = (await putPermission(permissions, name, { ...value, vhost: vhostOf(conn, value['vhost']) })) === 'created';
        } else if (kind === 'topic-permission' && permissions !== undefined) {
          created = (await putTopicPermission(permissions, name, { ...value, vhost: vhostOf(conn, value['vhost']) })) === 'created';
        } else if (kind === 'vhost' && directory !== undefined) {
          const extra = Object.keys(value).find((k) => !['description', 'tags', 'default_queue_type'].includes(k));
          if (extra !== undefined) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${extra}: unknown key (expected description, tags, default_queue_type)`);
          created = (await directory.put(name, { description: value['description'], tags: value['tags'], defaultQueueType: value['default_queue_type'] })) === 'created';
        } else if ((kind === 'vhost-limits' || kind === 'user-limits') && limits !== undefined) {
          created = await putLimits(limits, kind === 'vhost-limits' ? 'vhost' : 'user', name, value, kind === 'vhost-limits' ? brokerOf : (u) => users?.get(u));
        } else created = await putSetting(users, kind, name, value);
        conn.writer.method(0, Method.AdminPutOk, [created]);
      },
    ],
    [
      Method.AdminDelete,
      'admin',
      async (conn, p) => {
        const [kind, name, named] = p.args as [string, string, string];
        const vhost = vhostOf(conn, named);
        if (isPolicyKind(kind) && policies !== undefined) {
          if (!(await policies.clear(kind, name, vhost))) throw new ProtocolError(ReplyCode.NOT_FOUND, `no ${kind === 'policy' ? 'policy' : 'operator policy'} '${name}' in vhost '${vhost}'`);
        } else if (kind === 'permission' && permissions !== undefined) await permissions.clear(name, vhost);
        else if (kind === 'topic-permission' && permissions !== undefined) await permissions.clearTopic(name, vhost);
        else if (kind === 'vhost' && directory !== undefined) await directory.delete(name);
        else if ((kind === 'vhost-limits' || kind === 'user-limits') && limits !== undefined) {
          const scope = kind === 'vhost-limits' ? 'vhost' : 'user';
          for (const n of Object.keys(limits.get(scope, name))) await limits.set(scope, name, n, null);
        } else if (kind !== 'user' || users === undefined) throw unknownKind(kind);
        else await users.delete(name);
        conn.writer.method(0, Method.AdminDeleteOk, []);
      },
    ],
  ];
  for (const [id, need, handler] of handlers) host.connectionHandlers.set(id, guarded(need, handler));
  return {
    stop: () => {
      meter.stop();
      for (const [id] of handlers) host.connectionHandlers.delete(id);
    },
  };
}

function unknownKind(kind: string): ProtocolError {
  return new ProtocolError(
    ReplyCode.PRECONDITION_FAILED,
    `unknown kind '${kind}' (expected user, permission, topic-permission, policy, operator-policy, vhost, vhost-limits or user-limits)`,
  );
}

function isPolicyKind(kind: string): kind is PolicyKind {
  return kind === 'policy' || kind === 'operator-policy';
}

/** `admin.put policy <name> {pattern, definition, priority?, apply-to?}` (RabbitMQ's fields). */
function putPolicy(policies: Policies, kind: PolicyKind, name: string, value: Record<string, unknown>, vhost: string): Promise<'created' | 'updated'> {
  const extra = Object.keys(value).find((k) => !['pattern', 'definition', 'priority', 'apply-to'].includes(k));
  if (extra !== undefined) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${extra}: unknown key (expected pattern, definition, priority, apply-to, vhost)`);
  return policies.set(kind, name, { pattern: value['pattern'], applyTo: value['apply-to'], priority: value['priority'], definition: value['definition'] }, vhost);
}

/** `admin.put topic-permission <user> {exchange, write, read, vhost?}` (RabbitMQ's set_topic_permissions). */
function putTopicPermission(permissions: Permissions, user: string, value: Record<string, unknown>): Promise<'created' | 'updated'> {
  const { vhost, exchange, write, read, ...rest } = value;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${extra}: unknown key (expected exchange, write, read, vhost)`);
  for (const [k, v] of [['exchange', exchange], ['write', write], ['read', read]] as const) {
    if (typeof v !== 'string') throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${k}: is required and must be a string`);
  }
  return permissions.setTopic(user, vhost as string, { exchange: exchange as string, write: write as string, read: read as string });
}

/** `admin.put vhost-limits <vhost> {max-connections?, max-queues?}` (user-limits: max-connections, max-channels); a negative value clears one. */
async function putLimits(limits: Limits, scope: 'vhost' | 'user', name: string, value: Record<string, unknown>, exists: (name: string) => unknown): Promise<boolean> {
  if (exists(name) === undefined) throw new ProtocolError(ReplyCode.NOT_FOUND, `no ${scope} '${name}'`);
  const entries = Object.entries(value);
  if (entries.length === 0) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value: name at least one ${scope} limit`);
  for (const [k, v] of entries) {
    const problem = Limits.problem(scope, k, v);
    if (problem !== null) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${k}: ${problem}`);
  }
  const had = Object.keys(limits.get(scope, name)).length !== 0;
  for (const [k, v] of entries) await limits.set(scope, name, k, (v as number) < 0 ? null : (v as number));
  return !had;
}

function vhostRows(directory: VhostDirectory, vhosts: VirtualHosts, registry: ConnectionRegistry): object[] {
  return directory.list().map((v) => {
    const b = vhosts.get(v.name);
    let connections = 0;
    for (const c of registry.list()) if (c.session?.broker === b) connections++;
    return { name: v.name, description: v.description, tags: [...v.tags], exchanges: b?.exchanges.size ?? 0, queues: b?.queues.size ?? 0, connections };
  });
}

/** Policy methods are open to the `policymaker` tag too, as RabbitMQ's are. */
function isPolicyRequest(p: ParsedMethod): boolean {
  const kind = p.args[0];
  if (p.def.id === Method.AdminList) return kind === 'policies' || kind === 'operator-policies';
  return (p.def.id === Method.AdminPut || p.def.id === Method.AdminDelete) && (kind === 'policy' || kind === 'operator-policy');
}

/** `admin.put permission <user> {configure, write, read, vhost?}`. */
function putPermission(permissions: Permissions, user: string, value: Record<string, unknown>): Promise<'created' | 'updated'> {
  const { vhost = '/', configure, write, read, ...rest } = value;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${extra}: unknown key (expected configure, write, read, vhost)`);
  for (const [k, v] of [['configure', configure], ['write', write], ['read', read], ['vhost', vhost]] as const) {
    if (typeof v !== 'string') throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `value.${k}: is required and must be a string`);
  }
  return permissions.set(user, vhost as string, { configure: configure as string, write: write as string, read: read as string });
}

async function putSetting(users: UserDirectory | undefined, kind: string, name: string, value: Record<string, unknown>): Promise<boolean> {
  if (kind !== 'user' || users === undefined) throw unknownKind(kind);
  return (await putUser(users, name, value, 'value')) === 'created';
}

/** The admin replies still to come, per connection: a later request waits for an earlier async one. */
const pending = new WeakMap<Connection, Promise<void>>();

/**
 * Admin (or, for `read` methods, monitoring) users only; refusals become `admin.error` replies,
 * connection-level errors still close. Replies come in request order (§3.7.1) even when one
 * waits for the store.
 */
function guarded(need: Need, handler: AdminHandler): ConnectionMethodHandler {
  const refuse = (conn: Connection, p: ParsedMethod, err: unknown): void => {
    if (!(err instanceof ProtocolError) || err.isConnectionError) throw err;
    conn.writer.method(0, Method.AdminError, [err.replyCode, err.replyText, p.def.id]);
  };
  const run = (conn: Connection, p: ParsedMethod): void | Promise<void> => {
    const tags = conn.principal?.tags ?? [];
    const allowed = conn.principal?.admin === true || (need === 'read' && tags.includes('monitoring')) || (isPolicyRequest(p) && mayManagePolicies(conn.principal));
    if (!allowed) {
      if (isPolicyRequest(p)) throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `user '${conn.user}' is not an administrator or policymaker; ${p.def.name} of policies needs the administrator or policymaker tag`);
      throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `user '${conn.user}' is not an admin; ${p.def.name} needs an admin user`);
    }
    return handler(conn, p);
  };
  const settle = (conn: Connection, p: ParsedMethod, r: Promise<void>): void => {
    const done = r.then(
      () => undefined,
      (err: unknown) => {
        try {
          refuse(conn, p, err);
        } catch (e) {
          conn.log.error({ err: e }, 'admin request failed');
          conn.closeConnection(ReplyCode.INTERNAL_ERROR, 'INTERNAL_ERROR - the server failed handling this connection; see its log', p.def.id);
        }
      },
    );
    pending.set(conn, done);
    void done.then(() => {
      if (pending.get(conn) === done) pending.delete(conn);
    });
  };
  return (conn: Connection, p: ParsedMethod) => {
    const before = pending.get(conn);
    if (before !== undefined) return settle(conn, p, before.then(() => run(conn, p)));
    try {
      const r = run(conn, p);
      if (r instanceof Promise) settle(conn, p, r);
    } catch (err) {
      refuse(conn, p, err);
    }
  };
}

function status(vhosts: VirtualHosts, meter: RateMeter, options: AdminOptions, host: AdminHost): ServerStatus {
  const s = vhosts.stats();
  const mem = process.memoryUsage();
  return {
    version: host.version,
    node: process.version,
    pid: process.pid,
    uptimeMs: Date.now() - host.startedAt,
    connections: s.connections,
    channels: s.channels,
    consumers: s.consumers,
    exchanges: s.exchanges,
    queues: s.queues,
    messagesReady: s.messagesReady,
    messagesUnacked: s.messagesUnacked,
    published: s.published,
    delivered: s.delivered,
    unroutable: s.unroutable,
    ...meter.rates(),
    memory: {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      arrayBuffers: mem.arrayBuffers,
      queuedBytes: s.queuedBytes,
      highWatermark: options.memoryHighWatermark ?? 0,
      blocked: s.blocked,
      alarms: [...host.broker.alarmReasons],
    },
    store: options.storeStatus?.() ?? null,
    cluster: options.clusterStatus?.() ?? null,
  };
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Every row of a listing, in a stable order so that paging by offset works between requests. */
function listRows(broker: Broker, host: AdminHost, kind: AdminListKind, users: UserDirectory | undefined): object[] {
  switch (kind) {
    case 'exchanges':
      return [...broker.exchanges.values()]
        .map(
          (x): ExchangeRow => ({
            name: x.name,
            type: x.type,
            durable: x.durable,
            autoDelete: x.autoDelete,
            internal: x.internal,
            arguments: x.arguments,
            bindings: x.bindingCount,
            ...(x instanceof DelayedExchange && { messagesDelayed: x.schedule.count }),
          }),
        )
        .sort(byName);
    case 'queues':
      return [...broker.queues.values()]
        .map(
          (q): QueueRow => ({
            name: q.name,
            durable: q.durable,
            exclusive: q.exclusive,
            autoDelete: q.autoDelete,
            arguments: q.arguments,
            owner: q.owner,
            messagesReady: q.messageCount,
            messagesUnacked: q.unackedCount,
            readyBytes: q.readyBytes,
            consumers: q.consumerCount,
            published: q.publishedTotal,
            delivered: q.deliveredTotal,
            type: q.isStream ? 'stream' : 'classic',
            stream: q.isStream ? (q as Stream).info : null,
          }),
        )
        .sort(byName);
    case 'bindings':
      return [
        ...broker
          .bindings()
          .map((b): BindingRow => ({ source: b.exchange, destination: b.queue, destinationType: 'queue', routingKey: b.routingKey, arguments: b.arguments })),
        ...broker
          .exchangeBindings()
          .map((b): BindingRow => ({ source: b.source, destination: b.destination, destinationType: 'exchange', routingKey: b.routingKey, arguments: b.arguments })),
      ].sort(
        (a, b) =>
          compare(a.source, b.source) ||
          compare(a.destinationType, b.destinationType) ||
          compare(a.destination, b.destination) ||
          compare(a.routingKey, b.routingKey),
      );
    case 'connections':
      // Map order is open order, which is the order people expect here.
      return [...host.registry.list()].map(
        (c): ConnectionRow => ({
          id: c.id,
          name: c.userProvidedName ?? c.name,
          protocol: c.protocol,
          user: c.user,
          vhost: c.session?.broker.vhost ?? '/',
          peer: `${c.peerHost}:${c.peerPort}`,
          connectedAt: c.connectedAt,
          channels: c.channelCount,
          heartbeatMs: c.heartbeatMs,
          publishes: c.publishes,
          bytesIn: c.bytesIn,
          client: typeof c.clientProperties['product'] === 'string' ? (c.clientProperties['product'] as string) : '',
        }),
      );
    case 'users':
      return (users?.list() ?? []).map((u): UserRow => ({ name: u.name, tags: [...u.tags], source: u.source }));
    case 'permissions':
    case 'topic-permissions':
    case 'policies':
    case 'operator-policies':
    case 'vhosts':
    case 'vhost-limits':
    case 'user-limits':
      return []; // listed by their own directories, above
    case 'consumers': {
      const out: ConsumerRow[] = [];
      for (const s of broker.sessions.values()) {
        for (const ch of s.channels.values()) {
          for (const c of ch.consumers.values()) {
            out.push({
              queue: c.queue.name,
              tag: c.tag,
              connection: s.id,
              channel: ch.id,
              noAck: c.noAck,
              exclusive: c.exclusive,
              prefetch: c.prefetch,
              unacked: c.unacked,
            });
          }
        }
      }
      return out.sort((a, b) => compare(a.queue, b.queue) || compare(a.tag, b.tag));
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The rows from `offset` that fit in one frame; `next` is where the following page starts, 0
 * after the last page (SPEC §3.7).
 */
function page(all: object[], offset: number, budget: number): { rows: object[]; next: number } {
  const rows: object[] = [];
  let size = 0;
  let i = offset;
  for (; i < all.length; i++) {
    const n = packValue(all[i]).length;
    if (size + n > budget) {
      if (rows.length === 0) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `row ${i} does not fit in a frame of the negotiated frameMax`);
      break;
    }
    size += n;
    rows.push(all[i] as object);
  }
  return { rows, next: i < all.length ? i : 0 };
}
